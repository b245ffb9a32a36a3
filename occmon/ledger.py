"""The tamper-evident ledger: an append-only hash chain over canonical JSON.

Every daily record, exceedance, rectification step, day closure, signature and correction is
one entry. An entry carries the SHA-256 of its content and of the previous entry, and its
own hash covers both plus its header (seq, kind, ref, site, point, day, time). Changing,
inserting or deleting any entry breaks the chain at that entry, which ``verify`` names.
A correction never edits: it is a new entry whose ``ref`` is the seq it corrects.

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

Kind = Literal[
    "daily-record", "job-record", "exceedance", "action", "recheck", "close", "day-close",
    "signature", "correction",
]
KINDS: tuple[str, ...] = (
    "daily-record", "job-record", "exceedance", "action", "recheck", "close", "day-close",
    "signature", "correction",
)
GENESIS = "0" * 64

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


def append(conn: sqlite3.Connection, *, kind: str, site: str, content: Mapping[str, Any],
           time: float, point: str = "", day: str = "", ref: int | None = None) -> Entry:
    """Append one entry; the caller holds the write transaction (BEGIN IMMEDIATE)."""
    if kind not in KINDS:
        raise ValueError(f"unknown ledger kind {kind!r}; one of {KINDS}")
    last_seq, prev = head(conn)
    text = canonical(dict(content))
    digest = sha256_text(text)
    seq = last_seq + 1
    entry = Entry(seq, kind, ref, site, point, day, float(time), text, digest, prev,
                  entry_hash(seq, kind, ref, site, point, day, float(time), digest, prev))
    conn.execute(
        f"INSERT INTO ledger ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (entry.seq, entry.kind, entry.ref, entry.site, entry.point, entry.day, entry.time,
         entry.content, entry.content_sha256, entry.prev_sha256, entry.entry_sha256),
    )
    return entry


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


def check(rows: Iterable[Entry]) -> Verification:
    """Walk the chain in seq order; stop at the first entry that does not hold."""
    prev, expected, count = GENESIS, 1, 0
    for e in rows:
        problem = None
        if e.seq != expected:
            problem = f"seq {expected} is missing (found {e.seq}): an entry was deleted"
        elif sha256_text(e.content) != e.content_sha256:
            problem = "content does not match its content_sha256: the content was changed"
        elif e.prev_sha256 != prev:
            problem = "prev_sha256 does not match the previous entry's hash"
        elif e.entry_sha256 != entry_hash(e.seq, e.kind, e.ref, e.site, e.point, e.day,
                                          e.time, e.content_sha256, e.prev_sha256):
            problem = "entry_sha256 does not match its header: the entry was changed"
        if problem is not None:
            return Verification(False, count, prev, Broken(e.seq, e.kind, e.point, e.day, problem))
        prev, expected, count = e.entry_sha256, expected + 1, count + 1
    return Verification(True, count, prev, None)


def verify(conn: sqlite3.Connection) -> Verification:
    return check(entries(conn))
