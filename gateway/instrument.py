"""Instrument events: state changes, bump tests and calibrations, on ``events/instrument``.

A gas detector's bump test or calibration is part of its record (who tested it, when, and
what followed), not a reading: the Modbus devices report each change of NE 107 state and
each test interval when it ends (``gateway.modbus.device``), and this module commits them
to the gateway's queue in the same transaction as the readings of that loop turn, so
ingest stores them as events (kind ``instrument``) beside the readings they explain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from gateway.queue import Entry
from gateway.safety import wire

INSTRUMENT = "instrument"  # events/instrument

log = logging.getLogger(__name__)


class _Committer(Protocol):
    def add(self, entries: list[Entry]) -> None: ...


class _Emitter(Protocol):
    on_event: Any


class InstrumentEvents:
    """Turns an event body into an ``events/instrument`` queue entry with a sortable id."""

    def __init__(self, committer: _Committer, site: str, boot_ms: int | None = None) -> None:
        self.committer = committer
        self.site = site
        self.ids = wire.EventIds() if boot_ms is None else wire.EventIds(boot_ms)
        self.sent = 0
        # parts of the gateway that act on what the instruments report (gateway.calibrations):
        # each gets the body with its id, after it was queued
        self.observers: list[Callable[[dict[str, Any]], None]] = []
        self.observer_errors = 0

    def __call__(self, body: dict[str, Any]) -> None:
        self.sent += 1
        ident = self.ids.next()
        self.committer.add([wire.event_entry(self.site, INSTRUMENT, body, ident)])
        for observer in self.observers:
            try:
                observer({**body, "id": ident})
            except Exception:  # an observer's bug must not lose the event nor the readings
                self.observer_errors += 1
                log.exception("instrument event observer failed")


def attach(drivers: Iterable[object], committer: _Committer, site: str,
           boot_ms: int | None = None) -> InstrumentEvents:
    """Give every driver that reports instrument events (``on_event``) the queue;
    ``boot_ms``: the run number of the event ids (``Queue.next_boot``)."""
    events = InstrumentEvents(committer, site, boot_ms)
    for driver in drivers:
        if hasattr(driver, "on_event"):
            driver.on_event = events
    return events
