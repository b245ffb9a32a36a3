"""The non-reading records ingest stores: dead letters, device states and events.

Frozen dataclasses, no I/O: the subscriber builds them from MQTT messages and every sink
(SQLite today, InfluxDB and PostgreSQL later) writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be accepted, kept verbatim with the reason.

    ``code`` is a stable counter key (a ``PayloadError.code``, ``unknown-topic``,
    ``site-mismatch`` ...); ``source`` says who rejected it (``ingest`` or the gateway's
    intake that forwarded it on ``events/dead-letter``).
    """

    received: float  # epoch seconds
    topic: str
    code: str
    message: str
    payload: bytes
    site: str = ""
    source: str = "ingest"


@dataclass(frozen=True, slots=True)
class DeviceState:
    """online / offline of a field device (or ``@gateway`` for the gateway itself)."""

    device: str
    online: bool
    since: float  # epoch seconds of the change
    reason: str | None = None
    site: str = ""


GATEWAY = "@gateway"  # device key of the gateway's own status; never a valid device slug
INGEST_POINT = "ingest"  # the point of ingest's own system alarms (system:ingest:*)
INGEST_ALARMS = f"system:{INGEST_POINT}:"  # their ids: in ingest, not the gateway's engine


@dataclass(frozen=True, slots=True)
class Event:
    """A generic event: alarms, faults, interlock actions. ``body`` is JSON-serialisable."""

    kind: str
    time: float  # epoch seconds
    body: dict[str, Any] = field(default_factory=dict)
    site: str = ""
