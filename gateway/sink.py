"""The gateway's Sink: what drivers hand over becomes queue rows, committed once per loop turn.

A reading is *accepted* when its row is committed to the queue. Drivers call ``readings()``
from the event loop; the rows go to a ``gateway.committer.Committer``, which commits what
arrived in one loop turn in one transaction. ``after_commit`` lets the MQTT intake hold its PUBACK
to the sensor until the reading is on disk.

Payload v2 (the default): a batch of readings handed over together (a poll's readings)
becomes one ``batch`` entry, a compact group (``occmon.payload_v2``) that the queue appends
to its reading log; the publisher joins groups into v2 messages. Payload v1
(``payload_version=1``, for a site whose ingest predates v2): each reading is a queue row
holding its JSON object (``occmon.payload.encode_reading``), joined into v1 batches.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.committer import Committer
from gateway.driver import DeviceStatus
from gateway.queue import Entry
from occmon import topics
from occmon.model import Reading, iso_utc
from occmon.payload import encode_reading
from occmon.payload_v2 import MAX_GROUP

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
    return Entry(topics.readings(site), encode_reading(reading), "reading")


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
    """Sink backed by the queue: entries go to a ``Committer`` (one commit per loop turn)."""

    def __init__(self, committer: Committer, site: str, *, payload_version: int = 2) -> None:
        if payload_version not in (1, 2):
            raise ValueError(f"payload_version must be 1 or 2, not {payload_version!r}")
        self.committer = committer
        self.site = site
        self.payload_version = payload_version

    def readings(self, batch: Sequence[Reading]) -> None:
        if not batch:
            return
        if self.payload_version == 1:
            self.committer.add([reading_entry(self.site, r) for r in batch])
            return
        encoder = self.committer.queue.encoder
        topic = topics.readings(self.site)
        if len(batch) <= MAX_GROUP:  # a poll's readings (a GoodBatch as it is: columns)
            self.committer.add([Entry(topic, encoder.group(batch), "batch")])
            return
        self.committer.add([Entry(topic, encoder.group(batch[i : i + MAX_GROUP]), "batch")
                            for i in range(0, len(batch), MAX_GROUP)])

    def status(self, status: DeviceStatus) -> None:
        self.committer.add([status_entry(self.site, status)])

    def dead_letter(self, letter: DeadLetter) -> None:
        self.committer.add([dead_letter_entry(self.site, letter)])

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything handed over so far is committed."""
        self.committer.after_commit(callback)

    def flush(self) -> bool:
        """Commit what is buffered now; False if the disk refused it."""
        return self.committer.flush()

    @property
    def buffered(self) -> int:
        return self.committer.buffered

    @property
    def failed_commits(self) -> int:
        return self.committer.failed_commits
