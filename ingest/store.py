"""The embedded store: SQLite in WAL mode, one writer connection, readers on their own.

``SqliteStore`` is the write side and implements ``ingest.sink.Sink``. The read side the API
uses is ``StoreReader`` (``ingest.reader``), re-exported here so ``api`` imports only
``ingest.store``.

Each ``write_*`` call is one transaction; with ``synchronous=FULL`` (the default) a return
means the rows survive a process kill and a power cut, which is what lets the subscriber
acknowledge the MQTT messages afterwards.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time as clock
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ingest import alarm_log, dead_letters
from ingest.alarm_log import AlarmQueries, AlarmRecord, Episode, VentilationRecord
from ingest.reader import StoredDeadLetter, StoredReading, StoreReader
from ingest.records import DeadLetter, DeviceState, Event
from ingest.schema import connect, migrate
from ingest.sink import SinkError
from occmon.config.dead_letters import DeadLetterSettings
from occmon.model import Reading

__all__ = [
    "AlarmQueries",
    "AlarmRecord",
    "Episode",
    "SqliteStore",
    "StoreReader",
    "StoredDeadLetter",
    "StoredReading",
    "VentilationRecord",
    "open_store",
]

_UPSERT_READING = """
INSERT INTO readings (point, quantity, time, value, unit, quality, reason, agent, sensor,
                      device, raw_value, raw_unit, received)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (point, quantity, time) DO UPDATE SET
    value = excluded.value, unit = excluded.unit, quality = excluded.quality,
    reason = excluded.reason, agent = excluded.agent, sensor = excluded.sensor,
    device = excluded.device, raw_value = excluded.raw_value, raw_unit = excluded.raw_unit,
    received = excluded.received
"""

_INSERT_DEAD_LETTER = """
INSERT INTO dead_letters (received, site, source, topic, code, message, payload)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

_UPSERT_STATUS = """
INSERT INTO device_status (device, online, since, reason, site) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (device) DO UPDATE SET
    online = excluded.online, since = excluded.since, reason = excluded.reason,
    site = excluded.site
WHERE excluded.since >= device_status.since
"""

_ADD_COUNTER = """
INSERT INTO counters (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = value + excluded.value
"""

PRUNE_EVERY = 3_600.0  # seconds between deletions of dead letters past their age

# Errors that a retry cannot cure: the records themselves are unacceptable.
_PERMANENT = (sqlite3.IntegrityError, sqlite3.InterfaceError, ValueError, TypeError, OverflowError)


_INSERT_EVENT = "INSERT INTO events (kind, time, site, body) VALUES (?, ?, ?, ?)"


def _event_row(e: Event) -> tuple[Any, ...]:
    return (e.kind, e.time, e.site, json.dumps(e.body, ensure_ascii=False, allow_nan=False))


def _reading_row(r: Reading, received: float) -> tuple[Any, ...]:
    return (
        r.point,
        r.quantity,
        r.time,
        r.value,
        r.unit,
        r.quality.value,
        r.reason,
        r.agent,
        r.sensor,
        r.device,
        r.raw_value,
        r.raw_unit,
        received,
    )


class SqliteStore:
    """The write side of the embedded store (the ``Sink`` of ``occmon run``)."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        dead_letters: DeadLetterSettings | None = None,
    ) -> None:
        """``dead_letters``: payload size cap and retention (``store.dead_letters``)."""
        self.path = Path(path)
        self._conn = connect(self.path, synchronous=synchronous)
        migrate(self._conn)
        self.dead_letters = dead_letters or DeadLetterSettings()
        self._next_prune = 0.0
        with self._atomic() as conn:
            self._prune(conn)

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction, rolled back on any error; a permanent SQLite error
        (not a passing lock) becomes SinkError, so the caller dead-letters instead of retrying."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except _PERMANENT as exc:
            raise SinkError(str(exc)) from exc

    def _transaction(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            with self._atomic() as conn:
                conn.executemany(sql, rows)

    def write_readings(self, readings: Sequence[Reading], received: float | None = None) -> None:
        at = clock.time() if received is None else received
        self._transaction(_UPSERT_READING, [_reading_row(r, at) for r in readings])

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Append the letters (payloads cut to size), then delete what retention drops."""
        if not letters:
            return
        rows = [dead_letters.row(d, self.dead_letters) for d in letters]
        with self._atomic() as conn:
            conn.executemany(_INSERT_DEAD_LETTER, rows)
            self._prune(conn)

    def _prune(self, conn: sqlite3.Connection) -> None:
        dead_letters.delete_surplus(conn, self.dead_letters)
        if clock.monotonic() >= self._next_prune:
            dead_letters.delete_old(conn, self.dead_letters, clock.time())
            self._next_prune = clock.monotonic() + PRUNE_EVERY

    def write_device_status(self, states: Sequence[DeviceState]) -> None:
        rows = [(s.device, int(s.online), s.since, s.reason, s.site) for s in states]
        self._transaction(_UPSERT_STATUS, rows)

    def write_events(self, events: Sequence[Event]) -> None:
        if any(e.kind in alarm_log.ALARM_KINDS for e in events):
            self._write_alarm_events(events)
            return
        self._transaction(_INSERT_EVENT, [_event_row(e) for e in events])

    def _write_alarm_events(self, events: Sequence[Event]) -> None:
        """Alarm and ventilation events also go to their logs, each event id once."""
        with self._atomic() as conn:
            for e in events:
                if e.kind in alarm_log.ALARM_KINDS and not alarm_log.record(conn, e):
                    continue  # a redelivered event: already stored
                conn.execute(_INSERT_EVENT, _event_row(e))

    def write_deliveries(self, records: Sequence[Any]) -> None:
        """The alarm-push delivery log (``ingest.notify.DeliveryRecord`` rows)."""
        rows = [(r.time, r.channel, r.kind, r.target, json.dumps(list(r.alarm_ids)), r.group,
                 r.step, r.status, r.attempt, r.error, r.code) for r in records]
        self._transaction(alarm_log.INSERT_DELIVERY, rows)

    def add_counters(self, counts: Mapping[str, int]) -> None:
        self._transaction(_ADD_COUNTER, [(k, v) for k, v in counts.items() if v])

    def close(self) -> None:
        self._conn.close()


def open_store(path: Path) -> SqliteStore:
    """Open (creating or migrating) the store at ``path`` for writing."""
    return SqliteStore(path)
