"""The gateway's sink with observers: the alarm engine sees every accepted reading.

Readings are handed to the queue first (their own commit path) and then, synchronously on
the event loop, to each observer. The alarm engine therefore judges the very readings the
gateway accepts, whatever the broker, the store or the API are doing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from gateway.committer import Committer
from gateway.sink import QueueSink
from occmon.model import Reading

log = logging.getLogger(__name__)

Observer = Callable[[Sequence[Reading]], None]


class ObservedSink(QueueSink):
    """A ``QueueSink`` that also hands each batch of readings to its observers."""

    def __init__(self, committer: Committer, site: str) -> None:
        super().__init__(committer, site)
        self.observers: list[Observer] = []
        self.observer_errors = 0

    def readings(self, batch: Sequence[Reading]) -> None:
        super().readings(batch)
        for observer in self.observers:
            try:
                observer(batch)
            except Exception:  # an observer bug must never cost a reading
                self.observer_errors += 1
                log.exception("reading observer failed")
