"""The pure core of ingest: one MQTT message in, the records to store out. No I/O.

Every message yields something to store: readings, a device state, an event, or a dead
letter with a stable code and the raw payload. Nothing is dropped silently; the only
messages stored as nothing are empty retained payloads (a retained-message delete) and
annunciator pushes (ingest's own output), and those are counted.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ingest.records import GATEWAY, DeadLetter, DeviceState, Event
from occmon import topics
from occmon.model import Reading, time_value
from occmon.payload import PayloadError, decode_batch, json_object


@dataclass(slots=True)
class Outcome:
    """What a group of messages yields; ``merge`` folds one message's outcome into a batch."""

    readings: list[Reading] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    states: list[DeviceState] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Outcome) -> None:
        self.readings.extend(other.readings)
        self.dead_letters.extend(other.dead_letters)
        self.states.extend(other.states)
        self.events.extend(other.events)
        self.counts.update(other.counts)


def dead(
    topic: str, code: str, message: str, payload: bytes, received: float, site: str
) -> Outcome:
    """One dead letter, counted under ``dead-letter:{code}``."""
    letter = DeadLetter(received, topic, code, message, bytes(payload), site=site)
    return Outcome(dead_letters=[letter], counts=Counter({f"dead-letter:{code}": 1}))


def _time(doc: dict[str, Any], key: str, default: float) -> float:
    value = doc.get(key)
    if value is None:
        return default
    try:
        return time_value(value)
    except ValueError as exc:
        raise PayloadError("bad-time", f"field {key!r}: {exc}") from None


def _readings(site: str, point: str | None, payload: bytes) -> Outcome:
    """A batch from the site topic (any points) or from a point's topic (that point only)."""
    payload_site, readings = decode_batch(payload)
    if payload_site != site:
        raise PayloadError(
            "site-mismatch", f"payload site {payload_site!r} is not the topic's site {site!r}"
        )
    for reading in readings:
        if point is not None and reading.point != point:
            raise PayloadError(
                "point-mismatch",
                f"reading of point {reading.point!r} published on the topic of point {point!r}",
            )
    return Outcome(readings=readings, counts=Counter({"readings": len(readings)}))


def _status(site: str, device: str, payload: bytes, received: float) -> Outcome:
    """Device/gateway status: JSON ``{"online": bool, "time": ..., "reason": ...}``.

    ``{"state": "online"|"offline"}`` and a bare ``online``/``offline`` are accepted too.
    """
    text = payload.strip().decode("utf-8", errors="replace")
    if text in ("online", "offline"):
        doc: dict[str, Any] = {"online": text == "online"}
    else:
        doc = json_object(payload)
    online = doc.get("online")
    if online is None and doc.get("state") in ("online", "offline"):
        online = doc["state"] == "online"
    if not isinstance(online, bool):
        raise PayloadError("bad-status", "status needs 'online': true/false or 'state'")
    reason = doc.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise PayloadError("wrong-type", "status field 'reason' must be str")
    since = _time(doc, "since" if "since" in doc else "time", received)  # heartbeats: since
    state = DeviceState(device, online, since, reason, site)
    return Outcome(states=[state], counts=Counter({"status": 1}))


def _forwarded_dead_letter(site: str, payload: bytes, received: float) -> Outcome:
    """A payload the gateway rejected, forwarded as ``{v, source, topic, reason, ...}``."""
    doc = json_object(payload)
    try:
        raw = base64.b64decode(str(doc.get("payload_b64", "")), validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("bad-dead-letter", "dead letter 'payload_b64' is not base64") from None
    code, topic = doc.get("reason"), doc.get("topic")
    if not isinstance(code, str) or not code or not isinstance(topic, str):
        raise PayloadError("bad-dead-letter", "dead letter needs 'reason' and 'topic' strings")
    letter = DeadLetter(
        received=received,
        topic=topic,
        code=code,
        message=str(doc.get("message", "")),
        payload=raw,
        site=str(doc.get("site", site)),
        source=str(doc.get("source", "gateway")),
    )
    return Outcome(dead_letters=[letter], counts=Counter({f"forwarded:{code}": 1}))


def _event(site: str, kind: str, payload: bytes, received: float, extra: dict[str, Any]) -> Outcome:
    doc = {**json_object(payload), **extra}
    event = Event(kind, _time(doc, "time", received), doc, site)
    return Outcome(events=[event], counts=Counter({f"event:{kind}": 1}))


def handle(site: str, topic: str, payload: bytes, received: float) -> Outcome:
    """Turn one MQTT message of ``site`` into records; a bad message becomes a dead letter."""
    try:
        parsed = topics.parse(topic)
    except topics.UnknownTopic as exc:
        return dead(topic, "unknown-topic", str(exc), payload, received, site)
    if parsed.site != site:
        message = f"topic site {parsed.site!r} is not this ingest's site {site!r}"
        return dead(topic, "site-mismatch", message, payload, received, site)
    try:
        if parsed.kind == "readings":
            return _readings(site, parsed.rest[0] if parsed.rest else None, payload)
        if not payload and parsed.kind in ("status", "state"):
            return Outcome(counts=Counter({"ignored:empty-retained": 1}))
        if parsed.kind == "status":
            if parsed.rest[0] in ("ingest", "api"):  # heartbeats: the API reads them live
                return Outcome(counts=Counter({f"heartbeat:{parsed.rest[0]}": 1}))
            device = GATEWAY if parsed.rest == ("gateway",) else parsed.rest[1]
            return _status(site, device, payload, received)
        if parsed.kind == "events" and parsed.rest[0] == "dead-letter":
            return _forwarded_dead_letter(site, payload, received)
        if parsed.kind == "events":
            return _event(site, parsed.rest[0], payload, received, {})
        if parsed.kind == "state":
            return _event(site, "state", payload, received, {"point": parsed.rest[0]})
        return Outcome(counts=Counter({f"ignored:{parsed.kind}": 1}))
    except PayloadError as exc:
        return dead(topic, exc.code, str(exc), payload, received, site)
