"""One sink that writes every batch to several, in order: the embedded store, then others.

The subscriber acks a batch only after ``write_*`` returned, so a batch is acked only once
every sink holds it. A sink that raises stops the batch; the redelivered batch is written
again to all of them, which the sink contract makes harmless (readings upsert on their key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ingest.records import DeadLetter, DeviceState, Event
from ingest.sink import Sink
from occmon.model import Reading


class TeeSink:
    def __init__(self, *sinks: Sink) -> None:
        if not sinks:
            raise ValueError("TeeSink needs at least one sink")
        self.sinks = sinks

    def write_readings(self, readings: Sequence[Reading], received: float | None = None) -> None:
        for sink in self.sinks:
            sink.write_readings(readings, received)

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        for sink in self.sinks:
            sink.write_dead_letters(letters)

    def write_device_status(self, states: Sequence[DeviceState]) -> None:
        for sink in self.sinks:
            sink.write_device_status(states)

    def write_events(self, events: Sequence[Event]) -> None:
        for sink in self.sinks:
            sink.write_events(events)

    def add_counters(self, counts: Mapping[str, int]) -> None:
        for sink in self.sinks:
            sink.add_counters(counts)

    def close(self) -> None:
        for sink in reversed(self.sinks):
            sink.close()

