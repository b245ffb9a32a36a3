"""The gateway's Sink: what drivers hand over becomes queue rows, committed in small batches.

A reading is *accepted* when its row is committed to the queue. Drivers call ``readings()``
from the event loop; rows are collected for at most ``max_delay`` seconds or ``max_items``
entries and written in one transaction, because one SQLite commit per reading would cap the
gateway at a few thousand readings a second. ``after_commit`` lets the MQTT intake hold its
PUBACK to the sensor until the reading is on disk.

Each reading row holds one reading's JSON object (``occmon.payload.reading_to_dict``); the
publisher joins the rows of one point into one payload-v1 batch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.driver import DeviceStatus
from gateway.queue import Entry, Queue
from occmon import topics
from occmon.model import Reading, iso_utc
from occmon.payload import reading_to_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected input, kept with the reason so an integrator can fix the sender."""

    source: str  # device id; "gateway" when no device maps the topic
    topic: str
    reason: str  # stable code: malformed-json, wrong-type, not-a-number, ...
    message: str
    payload: bytes
    time: float


def reading_entry(site: str, reading: Reading) -> Entry:
    body = json.dumps(
        reading_to_dict(reading), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return Entry(topics.readings(site), body.encode(), "reading")


def status_entry(site: str, status: DeviceStatus) -> Entry:
    doc: dict[str, Any] = {
        "v": 1,
        "site": site,
        "device": status.device,
        "online": status.online,
        "state": "online" if status.online else "offline",
        "time": iso_utc(status.time),
    }
    if status.reason:
        doc["reason"] = status.reason
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return Entry(topics.device_status(site, status.device), body.encode(), "status")


def dead_letter_entry(site: str, letter: DeadLetter) -> Entry:
    doc = {
        "v": 1,
        "site": site,
        "source": letter.source,
        "topic": letter.topic,
        "reason": letter.reason,
        "message": letter.message,
        "payload_b64": base64.b64encode(letter.payload).decode("ascii"),
        "time": iso_utc(letter.time),
    }
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return Entry(topics.events(site, "dead-letter"), body.encode(), "event")


class QueueSink:
    """Sink backed by the queue. Event-loop only (the queue is single-threaded)."""

    def __init__(
        self,
        queue: Queue,
        site: str,
        *,
        on_commit: Callable[[], None] | None = None,
        max_delay: float = 0.05,
        max_items: int = 500,
    ) -> None:
        self.queue = queue
        self.site = site
        self._on_commit = on_commit
        self._max_delay = max_delay
        self._max_items = max_items
        self._buffer: list[Entry] = []
        self._waiting: list[Callable[[], None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self.failed_commits = 0

    def readings(self, batch: Sequence[Reading]) -> None:
        self._add([reading_entry(self.site, r) for r in batch])

    def status(self, status: DeviceStatus) -> None:
        self._add([status_entry(self.site, status)])

    def dead_letter(self, letter: DeadLetter) -> None:
        self._add([dead_letter_entry(self.site, letter)])

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything handed over so far is committed."""
        if not self._buffer:
            callback()
        else:
            self._waiting.append(callback)

    def _add(self, entries: list[Entry]) -> None:
        self._buffer.extend(entries)
        if len(self._buffer) >= self._max_items:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._max_delay, self.flush)

    def flush(self) -> None:
        """Commit the buffer now. On a disk error the rows stay buffered and are retried."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        try:
            self.queue.append_many(self._buffer)
        except Exception:
            self.failed_commits += 1
            log.exception("queue commit failed; %d entries kept in memory", len(self._buffer))
            self._timer = asyncio.get_running_loop().call_later(1.0, self.flush)
            return
        self._buffer = []
        waiting, self._waiting = self._waiting, []
        for callback in waiting:
            callback()
        if self._on_commit is not None:
            self._on_commit()

    @property
    def buffered(self) -> int:
        return len(self._buffer)
