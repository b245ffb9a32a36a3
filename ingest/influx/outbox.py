"""A durable, bounded outbox of line-protocol lines: SQLite in WAL mode.

Why not influxdb-client's batching write API: its retry buffer lives in memory and gives a
batch up after its maximum retry time (about three minutes by default), so an InfluxDB
outage longer than that, or a process kill, loses readings. Here ``append`` commits the
lines to disk (``synchronous=FULL``) before returning, and the forwarder deletes rows only
after the server confirmed the write.

The outbox is bounded, with an explicit overflow policy:

* **telemetry** (readings) beyond ``max_telemetry`` rows: the *oldest* telemetry rows are
  evicted, and the persistent counter ``dropped_telemetry`` says how many;
* **events** (alarms, exceedances, interlock actions, device status, dead letters,
  counters) are never evicted; beyond ``max_events`` rows ``append`` raises ``OutboxFull``
  and stores nothing, so the caller does not acknowledge and the broker keeps the message.

Lines rejected by the server as malformed (HTTP 400) are moved to the ``rejected`` table
with the server's message, never silently dropped. One writer thread appends and one
forwarder thread reads and deletes; each uses its own connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["telemetry", "event"]
_KIND_CODE: dict[Kind, int] = {"telemetry": 0, "event": 1}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind INTEGER NOT NULL,          -- 0 telemetry, 1 event
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, id);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    line TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxFull(Exception):
    """The event part of the outbox is at its bound: nothing was stored; retry later."""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    kind: Kind
    line: str


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class Outbox:
    def __init__(
        self, path: str | Path, max_telemetry: int = 1_000_000, max_events: int = 200_000
    ) -> None:
        if max_telemetry < 1 or max_events < 1:
            raise ValueError("outbox bounds must be >= 1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_telemetry = max_telemetry
        self.max_events = max_events
        self._lock = threading.Lock()
        self._writer = _connect(self.path)
        self._writer.executescript(_SCHEMA)
        self._reader = _connect(self.path)
        counts = dict(self._writer.execute("SELECT kind, count(*) FROM outbox GROUP BY kind"))
        self._counts = [int(counts.get(0, 0)), int(counts.get(1, 0))]

    # -- writer side ----------------------------------------------------------------------
    def append(self, lines: Sequence[str], kind: Kind) -> int:
        """Store ``lines`` durably in one transaction; return telemetry rows evicted."""
        if not lines:
            return 0
        code = _KIND_CODE[kind]
        with self._lock:
            if code == 1 and self._counts[1] + len(lines) > self.max_events:
                raise OutboxFull(
                    f"outbox {self.path}: {self._counts[1]} events pending, bound "
                    f"{self.max_events}; InfluxDB has not confirmed writes for a long time"
                )
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO outbox (kind, line) VALUES (?, ?)", ((code, ln) for ln in lines)
                )
                evict = 0
                if code == 0:
                    evict = max(0, self._counts[0] + len(lines) - self.max_telemetry)
                    if evict:
                        conn.execute(
                            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                            "WHERE kind = 0 ORDER BY id LIMIT ?)",
                            (evict,),
                        )
                        _bump(conn, "dropped_telemetry", evict)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._counts[code] += len(lines) - evict
            return evict

    # -- forwarder side -------------------------------------------------------------------
    def peek(self, limit: int) -> list[Row]:
        """The oldest ``limit`` rows, events and telemetry in arrival order."""
        with self._lock:
            rows = self._reader.execute(
                "SELECT id, kind, line FROM outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [Row(i, "event" if k else "telemetry", ln) for i, k, ln in rows]

    def delete(self, rows: Iterable[Row], counter: str = "written") -> None:
        """Remove rows the server confirmed (or that were moved to ``rejected``)."""
        rows = list(rows)
        if not rows:
            return
        with self._lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                gone = [0, 0]
                for kind, code in _KIND_CODE.items():
                    ids = [(row.id,) for row in rows if row.kind == kind]
                    if ids:
                        cur = conn.executemany("DELETE FROM outbox WHERE id = ?", ids)
                        gone[code] = cur.rowcount
                _bump(conn, counter, sum(gone))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._counts[0] -= gone[0]
            self._counts[1] -= gone[1]

    def reject(self, row: Row, error: str) -> None:
        """Move a line the server refused as malformed out of the way, keeping it."""
        with self._lock:
            self._writer.execute(
                "INSERT OR REPLACE INTO rejected (id, kind, line, error) VALUES (?, ?, ?, ?)",
                (row.id, _KIND_CODE[row.kind], row.line, error[:2000]),
            )
        self.delete([row], counter="rejected")

    # -- inspection -----------------------------------------------------------------------
    def pending(self) -> dict[Kind, int]:
        with self._lock:
            return {"telemetry": self._counts[0], "event": self._counts[1]}

    def counters(self) -> dict[str, int]:
        with self._lock:
            rows = self._reader.execute("SELECT name, value FROM counters").fetchall()
        return {str(name): int(value) for name, value in rows}

    def rejected(self) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._reader.execute(
                "SELECT line, error FROM rejected ORDER BY id"
            ).fetchall()
        return [(str(ln), str(err)) for ln, err in rows]

    def close(self) -> None:
        with self._lock:
            self._writer.close()
            self._reader.close()


def _bump(conn: sqlite3.Connection, name: str, by: int) -> None:
    if by:
        conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )
