"""The sink interface: where ingest puts what it accepted.

SQLite (``ingest.store.SqliteStore``) is the embedded default; an InfluxDB sink for readings
and a PostgreSQL sink for records will implement the same protocol beside it.

The contract every sink keeps, because the subscriber acknowledges MQTT messages only after
a write returned:

* A write returns only once its records are durable. On any failure it **raises** and has
  written nothing it would not write again identically: the caller then does not ack and
  retries (or the broker redelivers after a crash).
* ``write_readings`` is idempotent on ``(point, quantity, time)``: replaying a batch
  overwrites the same rows (the last write wins), it never duplicates them.
* ``write_dead_letters``, ``write_events`` and ``add_counters`` append; the caller calls
  each once per batch and does not repeat a call that returned. After a crash between the
  write and the ack the broker redelivers, so dead letters and events are at-least-once.
* ``write_device_status`` is an upsert keyed by device: the newest ``since`` wins.
* A sink is used from one writer thread; readers use their own connections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from ingest.records import DeadLetter, DeviceState, Event
from occmon.model import Reading


class SinkError(Exception):
    """A record the sink can never accept (not a transient outage): dead-letter, don't retry."""


@runtime_checkable
class Sink(Protocol):
    def write_readings(self, readings: Sequence[Reading], received: float | None = None) -> None:
        """Upsert readings on (point, quantity, time) in one transaction.

        ``received`` is when ingest took the batch (epoch seconds; default: now).
        """
        ...

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...

    def write_device_status(self, states: Sequence[DeviceState]) -> None: ...

    def write_events(self, events: Sequence[Event]) -> None: ...

    def add_counters(self, counts: Mapping[str, int]) -> None:
        """Add to persistent counters (accepted readings, dead letters by code ...)."""
        ...

    def close(self) -> None: ...
