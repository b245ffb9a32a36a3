"""Daily records, exceedances, closures and signatures: the ledger and its projections.

The ledger (``occmon.ledger``) is the truth; ``daily_records`` and ``exceedances`` are
projections kept in the same transaction, indexed for the inspectors' filters. Each
projection row names its ledger entry (``seq``) and carries the exact content hashed there,
so ``verify`` (``ingest.daily.verification``) also catches a projection row deleted, added
or edited behind the ledger's back. Day closes and signatures are sealed with the site's
ledger key when the caller passes it (``seal``).

Tables are created by this module (``CREATE TABLE IF NOT EXISTS``), beside ingest's own
schema in the same SQLite file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ingest.daily import anchors, rectify, verification
from ingest.schema import connect, migrate
from occmon import ledger
from occmon.ledger import canonical, sha256_text

DDL = (
    *ledger.DDL,
    """CREATE TABLE IF NOT EXISTS daily_records (
        key TEXT PRIMARY KEY, kind TEXT NOT NULL, site TEXT NOT NULL, area TEXT NOT NULL,
        point TEXT NOT NULL, agent TEXT NOT NULL, day TEXT NOT NULL, shift TEXT NOT NULL,
        verdict TEXT NOT NULL, seq INTEGER NOT NULL, content TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS daily_records_by_day ON daily_records (day, point)",
    """CREATE TABLE IF NOT EXISTS exceedances (
        id TEXT PRIMARY KEY, site TEXT NOT NULL, area TEXT NOT NULL, point TEXT NOT NULL,
        agent TEXT NOT NULL, type TEXT NOT NULL, day TEXT NOT NULL, start REAL NOT NULL,
        end REAL NOT NULL, peak REAL, limit_value REAL, ratio REAL, status TEXT NOT NULL,
        seq INTEGER NOT NULL, status_seq INTEGER, content TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS exceedances_by_start ON exceedances (start)",
    "CREATE INDEX IF NOT EXISTS exceedances_by_point ON exceedances (point, start)",
    "CREATE INDEX IF NOT EXISTS exceedances_by_status ON exceedances (status, start)",
    "CREATE INDEX IF NOT EXISTS exceedances_by_type ON exceedances (type, start)",
    "CREATE INDEX IF NOT EXISTS exceedances_by_agent ON exceedances (agent, start)",
    "CREATE INDEX IF NOT EXISTS exceedances_by_area ON exceedances (area, start)",
    "CREATE INDEX IF NOT EXISTS exceedances_by_status_area ON exceedances (status, area, start)",
    """CREATE TABLE IF NOT EXISTS day_closures (
        day TEXT PRIMARY KEY, site TEXT NOT NULL, closed_at REAL NOT NULL,
        close_seq INTEGER NOT NULL, close_sha256 TEXT NOT NULL, records INTEGER NOT NULL,
        exceedances INTEGER NOT NULL, signed_by TEXT, signed_at REAL, signature_seq INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS day_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT, day TEXT NOT NULL, target TEXT NOT NULL,
        attempt INTEGER NOT NULL, time REAL NOT NULL, ok INTEGER NOT NULL,
        status TEXT NOT NULL, message TEXT NOT NULL, sha256 TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS access_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, key TEXT NOT NULL,
        role TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL,
        client TEXT NOT NULL, decision TEXT NOT NULL
    )""",
)


class NotFound(KeyError):
    pass


class Conflict(RuntimeError):
    """The request is valid but the state does not allow it (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A record as computed: its projection key and columns, and the content to hash."""

    key: str
    kind: str  # daily-record | job-record
    area: str
    point: str
    agent: str
    shift: str
    content: dict[str, Any]


@dataclass
class DayResult:
    day: str
    new: int = 0
    corrected: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    close_seq: int | None = None
    entries: list[int] = field(default_factory=list)
    sealed: bool | None = None  # the day-close written now was sealed; None: none written

    @property
    def changed(self) -> bool:
        return bool(self.new or self.corrected or self.withdrawn)


def _strip(content: str) -> str:
    body = json.loads(content)
    body.pop("corrects", None)
    return canonical(body)


class RecordsStore:
    """Write side (and reads) of the records; one connection, one transaction per call."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10.0)
            self.conn.execute("PRAGMA busy_timeout=10000")
        else:
            self.conn = connect(self.path)
            migrate(self.conn)
            self.conn.execute("BEGIN IMMEDIATE")
            for statement in DDL:
                self.conn.execute(statement)
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> RecordsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # ----- closing a day (idempotent) -----

    def apply_day(self, site: str, day: str, drafts: Sequence[Draft],
                  events: Sequence[dict[str, Any]], now: float,
                  reclose_before: float | None = None,
                  seal: Ed25519PrivateKey | None = None) -> DayResult:
        """Write what changed since the last close of ``day``; nothing if nothing did.

        A closure made before ``reclose_before`` (the time the day became closable: a day
        closed before it had ended, by an occmon without the closing rule) is replaced by a
        new day-close even when nothing changed, so it no longer stands for the day (and a
        signature over it is dropped: the day is signed again over the new close).
        ``seal``: the site's ledger key; the day-close is sealed with it."""
        result = DayResult(day)
        with self.transaction() as conn:
            for d in drafts:
                self._put_record(conn, site, day, d, now, result)
            seen = set()
            for ev in events:
                seen.add(ev["id"])
                self._put_event(conn, site, day, ev, now, result)
            rows = conn.execute(
                "SELECT id, seq, content FROM exceedances WHERE day = ? AND status != 'withdrawn'",
                (day,),
            ).fetchall()
            for ex_id, seq, content in rows:
                if ex_id in seen:
                    continue
                body = {**json.loads(content), "corrects": seq, "withdrawn": True}
                e = ledger.append(conn, kind="correction", site=site, point=body["point"],
                                  day=day, ref=seq, content=body, time=now)
                conn.execute("UPDATE exceedances SET status='withdrawn', seq=?, content=? "
                             "WHERE id=?", (e.seq, e.content, ex_id))
                result.withdrawn += 1
                result.entries.append(e.seq)
            closed = conn.execute("SELECT close_seq, closed_at FROM day_closures WHERE day = ?",
                                  (day,)).fetchone()
            premature = (closed is not None and reclose_before is not None
                         and float(closed[1]) < reclose_before)
            if result.changed or closed is None or premature:
                self._close(conn, site, day, now, None if closed is None else int(closed[0]),
                            result, seal)
            else:
                result.close_seq = int(closed[0])
        return result

    def _put_record(self, conn: sqlite3.Connection, site: str, day: str, d: Draft, now: float,
                    result: DayResult) -> None:
        text = canonical(d.content)
        row = conn.execute("SELECT seq, content FROM daily_records WHERE key = ?",
                           (d.key,)).fetchone()
        if row is not None and _strip(row[1]) == text:
            result.unchanged += 1
            return
        if row is None:
            e = ledger.append(conn, kind=d.kind, site=site, point=d.point, day=day,
                              content=d.content, time=now)
            result.new += 1
        else:
            e = ledger.append(conn, kind="correction", site=site, point=d.point, day=day,
                              ref=int(row[0]), content={**d.content, "corrects": int(row[0])},
                              time=now)
            result.corrected += 1
        result.entries.append(e.seq)
        conn.execute(
            "INSERT INTO daily_records (key, kind, site, area, point, agent, day, shift, "
            "verdict, seq, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET verdict=excluded.verdict, seq=excluded.seq, "
            "content=excluded.content",
            (d.key, d.kind, site, d.area, d.point, d.agent, day, d.shift,
             d.content["verdict_en"], e.seq, e.content),
        )

    def _put_event(self, conn: sqlite3.Connection, site: str, day: str, ev: dict[str, Any],
                   now: float, result: DayResult) -> None:
        text = canonical(ev)
        row = conn.execute("SELECT seq, content, status, status_seq FROM exceedances "
                           "WHERE id = ?", (ev["id"],)).fetchone()
        if row is not None and row[2] != "withdrawn" and _strip(row[1]) == text:
            result.unchanged += 1
            return
        if row is None:
            e = ledger.append(conn, kind="exceedance", site=site, point=ev["point"], day=day,
                              content=ev, time=now)
            result.new += 1
        else:
            e = ledger.append(conn, kind="correction", site=site, point=ev["point"], day=day,
                              ref=int(row[0]), content={**ev, "corrects": int(row[0])},
                              time=now)
            result.corrected += 1
        result.entries.append(e.seq)
        reopened = row is None or row[2] == "withdrawn"
        status, status_seq = ("open", None) if reopened else (row[2], row[3])
        conn.execute(
            "INSERT INTO exceedances (id, site, area, point, agent, type, day, start, end, "
            "peak, limit_value, ratio, status, seq, status_seq, content) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) "
            "ON CONFLICT (id) DO UPDATE SET start=excluded.start, end=excluded.end, "
            "peak=excluded.peak, limit_value=excluded.limit_value, ratio=excluded.ratio, "
            "status=?, status_seq=?, seq=excluded.seq, content=excluded.content",
            (ev["id"], site, ev["area"], ev["point"], ev["agent"]["id"], ev["type"], day,
             ev["start"], ev["end"], ev["peak"], ev["limit"], ev["ratio"], "open", e.seq,
             e.content, status, status_seq),
        )

    def _close(self, conn: sqlite3.Connection, site: str, day: str, now: float,
               previous: int | None, result: DayResult,
               seal: Ed25519PrivateKey | None) -> None:
        parts = conn.execute(
            "SELECT 'r', key, seq, content FROM daily_records WHERE day = ? UNION ALL "
            "SELECT 'e', id, seq, content FROM exceedances WHERE day = ? ORDER BY 1, 2",
            (day, day),
        ).fetchall()
        manifest = [[kind, key, seq, sha256_text(content)] for kind, key, seq, content in parts]
        n_records = sum(1 for p in parts if p[0] == "r")
        content = {"day": day, "site": site, "records": n_records,
                   "exceedances": len(parts) - n_records,
                   "manifest_sha256": sha256_text(canonical(manifest)),
                   "recloses": previous}
        e = ledger.append(conn, kind="day-close", site=site, day=day, ref=previous,
                          content=content, time=now, seal=seal)
        conn.execute(
            "INSERT INTO day_closures (day, site, closed_at, close_seq, close_sha256, records, "
            "exceedances) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET "
            "closed_at=excluded.closed_at, close_seq=excluded.close_seq, "
            "close_sha256=excluded.close_sha256, records=excluded.records, "
            "exceedances=excluded.exceedances, signed_by=NULL, signed_at=NULL, "
            "signature_seq=NULL",
            (day, site, now, e.seq, e.entry_sha256, n_records, len(parts) - n_records),
        )
        result.close_seq = e.seq
        result.sealed = seal is not None
        result.entries.append(e.seq)

    # ----- signatures and the rectification loop -----

    def sign(self, day: str, signer: str, now: float,
             closable_from: float | None = None,
             seal: Ed25519PrivateKey | None = None) -> ledger.Entry:
        """Sign the day's close; refused (``Conflict``) when the day is not closed, already
        signed, or was closed before ``closable_from`` (before it had ended). ``seal``: the
        site's ledger key; the signature entry is sealed with it."""
        with self.transaction() as conn:
            row = conn.execute("SELECT site, close_seq, close_sha256, signed_by, closed_at "
                               "FROM day_closures WHERE day = ?", (day,)).fetchone()
            if row is None:
                raise Conflict(f"day {day} is not closed yet: close it before signing")
            site, close_seq, close_sha, signed_by, closed_at = row
            if closable_from is not None and float(closed_at) < closable_from:
                raise Conflict(f"day {day} was closed before it had ended: close it again "
                               "(occmon records close) before signing")
            if signed_by is not None:
                raise Conflict(f"day {day} is already signed by {signed_by}")
            content = {"day": day, "signer": signer, "signed_at": now,
                       "close_seq": close_seq, "close_sha256": close_sha}
            e = ledger.append(conn, kind="signature", site=site, day=day, ref=close_seq,
                              content=content, time=now, seal=seal)
            conn.execute("UPDATE day_closures SET signed_by=?, signed_at=?, signature_seq=? "
                         "WHERE day=?", (signer, now, e.seq, day))
            return e

    def step(self, exceedance_id: str, step: str, content: dict[str, Any],
             now: float) -> tuple[ledger.Entry, str]:
        """One step of the rectification loop; raises NotFound, rectify.IllegalStep, Conflict."""
        with self.transaction() as conn:
            row = conn.execute("SELECT site, point, day, status, seq FROM exceedances "
                               "WHERE id = ?", (exceedance_id,)).fetchone()
            if row is None:
                raise NotFound(exceedance_id)
            site, point, day, status, seq = row
            to = rectify.next_status(status, step)
            body = {**content, "exceedance": exceedance_id, "from": status, "to": to}
            if step == "recheck":
                found = conn.execute(
                    "SELECT key, seq, day FROM daily_records WHERE point = ? AND kind = "
                    "'daily-record' AND verdict = 'pass' AND day > ? ORDER BY day LIMIT 1",
                    (point, day),
                ).fetchone()
                if found is None:
                    raise Conflict(f"no compliant daily record of point {point} after {day} "
                                   "yet: re-check needs a later compliant period")
                body["evidence"] = {"record": found[0], "seq": found[1], "day": found[2]}
            e = ledger.append(conn, kind=step, site=site, point=point, day=day, ref=seq,
                              content=body, time=now)
            conn.execute("UPDATE exceedances SET status=?, status_seq=? WHERE id=?",
                         (to, e.seq, exceedance_id))
            return e, to

    # ----- deliveries and the access log -----

    def log_delivery(self, day: str, target: str, attempt: int, now: float, ok: bool,
                     status: str, message: str, digest: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO day_deliveries (day, target, attempt, time, ok, status, "
                         "message, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (day, target, attempt, now, int(ok), status, message, digest))

    def log_access(self, now: float, key: str, role: str, method: str, path: str,
                   query: str, client: str, decision: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO access_log (time, key, role, method, path, query, client, "
                         "decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (now, key, role, method, path, query, client, decision))

    # ----- verification -----

    def verify(self, key: Ed25519PublicKey | None = None, *,
               anchor_files: Sequence[tuple[str, dict[str, Any]]] = (),
               require_signed: bool = False) -> verification.Report:
        """The chain, the seals (checked with ``key``), every projection row against the
        ledger, then the ledger against each (source, anchor file) of ``anchor_files``."""
        report = verification.run(self.conn, key, require_signed=require_signed)
        for source, doc in anchor_files:
            report.add(anchors.check(self.conn, doc, key, source))
        return report
