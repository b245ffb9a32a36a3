"""The read side of the embedded store: the queries the API answers from.

A ``StoreReader`` owns one read-only connection; open one per thread (or per request). WAL
lets it read while the ingest writer commits. Pages of readings follow the primary key
``(point, quantity, time)``, so a page is an index seek, however large the table grows.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.alarm_log import AlarmQueries
from ingest.records import DeviceState, Event
from ingest.schema import connect, migrate
from ingest.where import where
from occmon.model import Quality, Reading


class StoreUnavailable(RuntimeError):
    """The store file cannot be opened or read."""


@dataclass(frozen=True, slots=True)
class StoredReading:
    reading: Reading
    received: float


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    received: float
    site: str
    source: str
    topic: str
    code: str
    message: str
    payload: bytes


Cursor = tuple[str, float]  # (quantity, time) of the last row of the previous page

_COLUMNS = (
    "point, quantity, time, value, unit, quality, reason, agent, sensor, device, "
    "raw_value, raw_unit, received"
)


def _stored(row: tuple[Any, ...]) -> StoredReading:
    point, quantity, at, value, unit, quality, reason, agent, sensor, device, rv, ru, rcv = row
    reading = Reading(
        point=point,
        agent=agent,
        time=at,
        value=value,
        unit=unit,
        quality=Quality(quality),
        quantity=quantity,
        reason=reason,
        sensor=sensor,
        device=device,
        raw_value=rv,
        raw_unit=ru,
    )
    return StoredReading(reading, rcv)


class StoreReader:
    """Read-only queries; ``ensure_schema`` lets the API start before ingest has written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise StoreUnavailable(f"store {self.path} does not exist")
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10.0)
            self._conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"store {self.path}: {exc}") from exc

    @staticmethod
    def ensure_schema(path: Path) -> None:
        """Create or migrate the store file (idempotent; safe beside a running writer)."""
        conn = connect(Path(path))
        try:
            migrate(conn)
        finally:
            conn.close()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"store {self.path}: {exc}") from exc

    def latest(self, point: str, quantity: str) -> StoredReading | None:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM readings WHERE point = ? AND quantity = ? "
            "ORDER BY time DESC LIMIT 1",
            (point, quantity),
        )
        return _stored(rows[0]) if rows else None

    def latest_heard(self, point: str, quantity: str,
                     silent: tuple[str, ...]) -> StoredReading | None:
        """The latest reading that is not a mark of silence (a BAD reading whose reason is
        in ``silent``): what the sensor last said, for the age of a silent point."""
        marks = ", ".join("?" for _ in silent) or "NULL"
        rows = self._all(
            f"SELECT {_COLUMNS} FROM readings WHERE point = ? AND quantity = ? "
            f"AND NOT (quality = 'bad' AND reason IN ({marks})) ORDER BY time DESC LIMIT 1",
            (point, quantity, *silent),
        )
        return _stored(rows[0]) if rows else None

    def readings(
        self,
        point: str,
        start: float,
        end: float,
        *,
        quantity: str | None = None,
        limit: int = 1000,
        after: Cursor | None = None,
    ) -> tuple[list[StoredReading], Cursor | None]:
        """Readings with ``start <= time < end``, ordered by (quantity, time).

        Returns the page and the cursor of the next page (None on the last page).
        """
        clause, args = where(("point = ?", point), ("time >= ?", start), ("time < ?", end),
                             ("quantity = ?", quantity), ("(quantity, time) > (?, ?)", after))
        sql = f"SELECT {_COLUMNS} FROM readings WHERE {clause} ORDER BY quantity, time LIMIT ?"
        rows = self._all(sql, (*args, limit + 1))
        page = [_stored(row) for row in rows[:limit]]
        more = len(rows) > limit
        last = page[-1].reading if page else None
        return page, ((last.quantity, last.time) if more and last else None)

    def device_states(self) -> list[DeviceState]:
        rows = self._all("SELECT device, online, since, reason, site FROM device_status")
        return [DeviceState(d, bool(o), s, r, site) for d, o, s, r, site in rows]

    def dead_letters(self, *, limit: int = 100, code: str | None = None) -> list[StoredDeadLetter]:
        """The most recent dead letters first."""
        cols = "id, received, site, source, topic, code, message, payload"
        if code is None:
            rows = self._all(f"SELECT {cols} FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._all(
                f"SELECT {cols} FROM dead_letters WHERE code = ? ORDER BY id DESC LIMIT ?",
                (code, limit),
            )
        return [StoredDeadLetter(*row) for row in rows]

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self._all("SELECT code, COUNT(*) FROM dead_letters GROUP BY code ORDER BY code")
        return {code: int(n) for code, n in rows}

    def counters(self) -> dict[str, int]:
        return {name: int(v) for name, v in self._all("SELECT name, value FROM counters")}

    def events(self, kind: str, *, limit: int = 100) -> list[Event]:
        rows = self._all(
            "SELECT kind, time, body, site FROM events WHERE kind = ? ORDER BY time DESC LIMIT ?",
            (kind, limit),
        )
        return [Event(k, t, json.loads(body), site) for k, t, body, site in rows]

    def alarms(self) -> AlarmQueries:
        """Alarm history, ventilation log and deliveries (``ingest.alarm_log``)."""
        return AlarmQueries(self._conn)

    def schema_version(self) -> int:
        return int(self._all("SELECT version FROM schema_version")[0][0])

    def count_readings(self) -> int:
        """Total rows (a full index scan: for tests and benchmarks, not for hot paths)."""
        return int(self._all("SELECT COUNT(*) FROM readings")[0][0])
