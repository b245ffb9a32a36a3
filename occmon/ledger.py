"""The tamper-evident ledger: an append-only hash chain over canonical JSON.

Every daily record, exceedance, rectification step, day closure, signature and correction is
one entry. An entry carries the SHA-256 of its content and of the previous entry, and its
own hash covers both plus its header (seq, kind, ref, site, point, day, time). Changing,
inserting or deleting any entry breaks the chain at that entry, which ``verify`` names.
A correction never edits: it is a new entry whose ``ref`` is the seq it corrects.

Day closes and signatures are also *sealed*: ``append(..., seal=key)`` signs the entry's
header (seq, kind, ref, site, point, day, time, prev_sha256 and the SHA-256 of the content
without the seal) with the site's Ed25519 ledger key and stores ``{"key", "signature"}`` as
the content's ``seal`` member. A seal covers ``prev_sha256``, so it vouches for the whole
chain before it: a ledger rebuilt from edited readings has other hashes and cannot carry
the old seals, and without the private key no new ones can be made (``check_seal``).

The chain lives in the ``ledger`` table of the site store (SQLite here, PostgreSQL on the
scale path); the hashing and the walk are pure functions of the rows.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from occmon import signing

Kind = Literal[
    "daily-record", "job-record", "exceedance", "action", "recheck", "close", "day-close",
    "signature", "correction", "quarter-summary", "registry", "instrument-note",
]
KINDS: tuple[str, ...] = (
    "daily-record", "job-record", "exceedance", "action", "recheck", "close", "day-close",
    "signature", "correction", "quarter-summary", "registry",
    "instrument-note",  # an officer's who / result of a bump test or calibration
)
GENESIS = "0" * 64
SEALED_KINDS: tuple[str, ...] = ("day-close", "signature", "quarter-summary")
SEAL = "seal"  # the content member that carries an entry's seal; not part of what is sealed

DDL = (
    """CREATE TABLE IF NOT EXISTS ledger (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        ref INTEGER,
        site TEXT NOT NULL,
        point TEXT NOT NULL DEFAULT '',
        day TEXT NOT NULL DEFAULT '',
        time REAL NOT NULL,
        content TEXT NOT NULL,
        content_sha256 TEXT NOT NULL,
        prev_sha256 TEXT NOT NULL,
        entry_sha256 TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS ledger_by_day ON ledger (day, kind)",
)


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text, no NaN (it has no JSON form)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    kind: str
    ref: int | None
    site: str
    point: str
    day: str
    time: float
    content: str  # canonical JSON, as hashed
    content_sha256: str
    prev_sha256: str
    entry_sha256: str

    def body(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.content)
        return loaded

    def label(self) -> str:
        where = "/".join(p for p in (self.point, self.day) if p)
        return f"entry {self.seq} ({self.kind}{' ' + where if where else ''})"


def entry_hash(seq: int, kind: str, ref: int | None, site: str, point: str, day: str,
               time: float, content_sha256: str, prev_sha256: str) -> str:
    header = {"seq": seq, "kind": kind, "ref": ref, "site": site, "point": point, "day": day,
              "time": time, "content_sha256": content_sha256, "prev_sha256": prev_sha256}
    return sha256_text(canonical(header))


_COLUMNS = ("seq, kind, ref, site, point, day, time, content, content_sha256, prev_sha256, "
            "entry_sha256")


def ensure(conn: sqlite3.Connection) -> None:
    for statement in DDL:
        conn.execute(statement)


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(seq, entry hash) of the last entry; (0, GENESIS) for an empty ledger."""
    row = conn.execute("SELECT seq, entry_sha256 FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def sealed_doc(seq: int, kind: str, ref: int | None, site: str, point: str, day: str,
               time: float, unsealed_sha256: str, prev_sha256: str) -> dict[str, Any]:
    """What a seal signs: the entry's header, with the hash of its content before sealing."""
    return {"v": 1, "what": "occmon-ledger-entry", "seq": seq, "kind": kind, "ref": ref,
            "site": site, "point": point, "day": day, "time": time,
            "content_sha256": unsealed_sha256, "prev_sha256": prev_sha256}


def append(conn: sqlite3.Connection, *, kind: str, site: str, content: Mapping[str, Any],
           time: float, point: str = "", day: str = "", ref: int | None = None,
           seal: Ed25519PrivateKey | None = None) -> Entry:
    """Append one entry; the caller holds the write transaction (BEGIN IMMEDIATE).

    ``seal``: the site's ledger key; the entry's content then carries its seal."""
    if kind not in KINDS:
        raise ValueError(f"unknown ledger kind {kind!r}; one of {KINDS}")
    last_seq, prev = head(conn)
    seq = last_seq + 1
    body = {k: v for k, v in content.items() if k != SEAL}
    if seal is not None:
        doc = sealed_doc(seq, kind, ref, site, point, day, float(time),
                         sha256_text(canonical(body)), prev)
        signed = signing.sign(doc, seal)
        body[SEAL] = {"key": signing.fingerprint(seal.public_key()),
                      "signature": signed[signing.SIGNATURE]}
    text = canonical(body)
    digest = sha256_text(text)
    entry = Entry(seq, kind, ref, site, point, day, float(time), text, digest, prev,
                  entry_hash(seq, kind, ref, site, point, day, float(time), digest, prev))
    conn.execute(
        f"INSERT INTO ledger ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (entry.seq, entry.kind, entry.ref, entry.site, entry.point, entry.day, entry.time,
         entry.content, entry.content_sha256, entry.prev_sha256, entry.entry_sha256),
    )
    return entry


def append_many(conn: sqlite3.Connection, *, kind: str, site: str, time: float,
                items: Iterable[tuple[Mapping[str, Any], int | None]]) -> list[Entry]:
    """Append one unsealed entry per (content, ref) of ``items``, chained exactly as
    ``append`` chains them, in one ``executemany`` (a bulk import: 100,000 entries in a
    second, not one statement pair each); the caller holds the write transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown ledger kind {kind!r}; one of {KINDS}")
    seq, prev = head(conn)
    out: list[Entry] = []
    for content, ref in items:
        seq += 1
        text = canonical({k: v for k, v in content.items() if k != SEAL})
        digest = sha256_text(text)
        entry = Entry(seq, kind, ref, site, "", "", float(time), text, digest, prev,
                      entry_hash(seq, kind, ref, site, "", "", float(time), digest, prev))
        out.append(entry)
        prev = entry.entry_sha256
    conn.executemany(
        f"INSERT INTO ledger ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(e.seq, e.kind, e.ref, e.site, e.point, e.day, e.time, e.content, e.content_sha256,
          e.prev_sha256, e.entry_sha256) for e in out])
    return out


def check_seal(e: Entry, key: Ed25519PublicKey | None) -> tuple[str, str] | None:
    """None if ``e`` carries a good seal by ``key``; else (code, why). Codes: ``unsigned``
    (no seal), ``bad-signature`` (a seal that does not verify, or by another key),
    ``unchecked`` (sealed, but no key to check it with). Never raises."""
    try:
        body = e.body()
    except ValueError:
        return "bad-signature", "content is not JSON"
    seal = body.pop(SEAL, None) if isinstance(body, dict) else None
    if seal is None:
        return "unsigned", "no seal: not signed with the site's ledger key"
    if not isinstance(seal, dict) or not isinstance(seal.get("signature"), str):
        return "bad-signature", "the seal is malformed"
    if key is None:
        return "unchecked", "sealed, but no ledger verify key to check it with"
    want = signing.fingerprint(key)
    if seal.get("key") != want:
        return "bad-signature", (f"sealed by key {seal.get('key')}, not the site's ledger key "
                                 f"{want}")
    try:
        unsealed = sha256_text(canonical(body))
    except ValueError:
        return "bad-signature", "content cannot be made canonical"
    doc = {**sealed_doc(e.seq, e.kind, e.ref, e.site, e.point, e.day, e.time, unsealed,
                        e.prev_sha256), signing.SIGNATURE: seal["signature"]}
    if not signing.verify(doc, key):
        return "bad-signature", ("the seal does not verify: the entry or the chain before it "
                                 "is not what the site signed")
    return None


def _entry(row: tuple[Any, ...]) -> Entry:
    seq, kind, ref, site, point, day, at, content, c_sha, prev, e_sha = row
    return Entry(int(seq), str(kind), None if ref is None else int(ref), str(site), str(point),
                 str(day), float(at), str(content), str(c_sha), str(prev), str(e_sha))


def entries(conn: sqlite3.Connection, *, after: int = 0, batch: int = 5000) -> Iterable[Entry]:
    """Every entry in seq order, read in batches (the ledger may hold millions)."""
    while True:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?", (after, batch)
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        after = int(rows[-1][0])


def get(conn: sqlite3.Connection, seq: int) -> Entry | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM ledger WHERE seq = ?", (seq,)).fetchone()
    return _entry(row) if row else None


@dataclass(frozen=True, slots=True)
class Broken:
    """The first entry where the chain does not hold, and why."""

    seq: int
    kind: str
    point: str
    day: str
    problem: str

    def message(self) -> str:
        where = "/".join(p for p in (self.point, self.day) if p)
        return f"entry {self.seq} ({self.kind}{' ' + where if where else ''}): {self.problem}"


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    entries: int
    head_sha256: str
    broken: Broken | None


class Chain:
    """The walk, one entry at a time (a verifier that also replays the projections feeds
    the same pass): ``feed`` returns the first problem, then ignores the rest."""

    def __init__(self) -> None:
        self.prev, self.expected, self.count = GENESIS, 1, 0
        self.broken: Broken | None = None

    def feed(self, e: Entry) -> Broken | None:
        if self.broken is not None:
            return None
        problem = None
        if e.seq != self.expected:
            problem = f"seq {self.expected} is missing (found {e.seq}): an entry was deleted"
        elif sha256_text(e.content) != e.content_sha256:
            problem = "content does not match its content_sha256: the content was changed"
        elif e.prev_sha256 != self.prev:
            problem = "prev_sha256 does not match the previous entry's hash"
        elif e.entry_sha256 != entry_hash(e.seq, e.kind, e.ref, e.site, e.point, e.day,
                                          e.time, e.content_sha256, e.prev_sha256):
            problem = "entry_sha256 does not match its header: the entry was changed"
        if problem is not None:
            self.broken = Broken(e.seq, e.kind, e.point, e.day, problem)
            return self.broken
        self.prev, self.expected, self.count = e.entry_sha256, self.expected + 1, self.count + 1
        return None

    def result(self) -> Verification:
        return Verification(self.broken is None, self.count, self.prev, self.broken)


def check(rows: Iterable[Entry]) -> Verification:
    """Walk the chain in seq order; stop at the first entry that does not hold."""
    chain = Chain()
    for e in rows:
        if chain.feed(e) is not None:
            break
    return chain.result()


def verify(conn: sqlite3.Connection) -> Verification:
    return check(entries(conn))
