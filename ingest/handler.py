"""The pure core of ingest: one MQTT message in, the records to store out. No I/O.

Every message yields something to store: readings, a device state, an event, or a dead
letter with a stable code and the raw payload. Nothing is dropped silently; the only
messages stored as nothing are empty retained payloads (a retained-message delete) and
annunciator pushes (ingest's own output), and those are counted.

Readings of a batch are judged one by one (``ingest.validate``): the good ones are stored,
and the bad ones become dead letters by code (up to ``LETTER_READINGS`` readings each)
naming each rejected reading's index. A letter's payload is what was not stored: a v1 batch
of just those readings as they were sent, or the message verbatim when it is small and none
of it was stored, for one reason. Either can be fixed and republished as it is.

Readings come as payload v1 (JSON) or v2 (binary, first byte NUL; ``occmon.payload_v2``),
whose series ``series/<id>`` messages announce; both decode to the same readings, which
then go through the same checks.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.records import GATEWAY, INGEST_POINT, DeadLetter, DeviceState, Event
from ingest.validate import Validator
from occmon import payload_v2, topics
from occmon.model import Reading, time_value
from occmon.payload import PayloadError, decode_items, json_object

DETAILS = 5  # rejected readings named in a dead letter's message; the rest are counted
# Rejected readings per dead letter: ~8 KB of ordinary readings, so the store's payload cap
# (store.dead_letters.max_payload_bytes, 16 KiB by default) keeps every letter whole.
LETTER_READINGS = 20


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


def _time(check: Validator, doc: dict[str, Any], key: str, received: float) -> float:
    """The time in ``doc[key]`` (arrival when absent), inside the trusted time window."""
    value = doc.get(key)
    if value is None:
        return received
    try:
        moment = time_value(value)
    except (ValueError, OverflowError) as exc:
        raise PayloadError("bad-time", f"field {key!r}: {exc}") from None
    check.time(moment, received)
    return moment


def _rejections(
    topic: str, payload: bytes, received: float, site: str, docs: Sequence[Any],
    rejected: dict[str, list[tuple[int, str]]], whole: bool,
) -> Outcome:
    """One dead letter per code for the rejected readings of one message; ``whole``: it
    holds the message verbatim, else a batch of the readings rejected for that code."""
    out = Outcome()
    for code, entries in rejected.items():
        out.counts[f"rejected-readings:{code}"] += len(entries)
        for start in range(0, len(entries), LETTER_READINGS):
            chunk = entries[start : start + LETTER_READINGS]
            why = [text for _, text in chunk]
            named = "; ".join(why[:DETAILS]) + (f"; and {len(why) - DETAILS} more"
                                                if len(why) > DETAILS else "")
            text = f"{len(why)} of {len(docs)} readings rejected ({code}): {named}"
            body = payload if whole else json.dumps(
                {"v": 1, "site": site, "readings": [docs[i] for i, _ in chunk]},
                separators=(",", ":"),
            ).encode()
            out.merge(dead(topic, code, text, body, received, site))
    return out


def _readings(
    check: Validator, topic: str, point: str | None, payload: bytes, received: float
) -> Outcome:
    """A batch from the site topic (any points) or from a point's topic (that point only);
    each reading is judged alone, so a bad one costs only itself."""
    site = check.site
    docs: Sequence[Any]
    if payload_v2.is_v2(payload):
        payload_site, docs, items = payload_v2.decode_items(payload, check.series)
    else:
        payload_site, docs, items = decode_items(payload)
    if payload_site != site:
        raise PayloadError(
            "site-mismatch", f"payload site {payload_site!r} is not the topic's site {site!r}"
        )
    good: list[Reading] = []
    rejected: dict[str, list[tuple[int, str]]] = {}
    for i, item in enumerate(items):
        if isinstance(item, PayloadError):  # its message already says readings[i]
            rejected.setdefault(item.code, []).append((i, str(item)))
            continue
        try:
            if point is not None and item.point != point:
                raise PayloadError(
                    "point-mismatch",
                    f"reading of point {item.point!r} published on the topic of point {point!r}",
                )
            stored = check.reading(item, received)
        except PayloadError as exc:
            rejected.setdefault(exc.code, []).append((i, f"readings[{i}] ({item.point}): {exc}"))
            continue
        good.append(stored)
    out = Outcome(readings=good, counts=Counter({"readings": len(good)}))
    if rejected:
        whole = not good and len(rejected) == 1 and len(items) <= LETTER_READINGS
        out.merge(_rejections(topic, payload, received, site, docs, rejected, whole))
    return out


def _status(check: Validator, device: str, payload: bytes, received: float) -> Outcome:
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
    since = _time(check, doc, "since" if "since" in doc else "time", received)  # heartbeats
    state = DeviceState(device, online, since, reason, check.site)
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


def _event(
    check: Validator, kind: str, payload: bytes, received: float, extra: dict[str, Any]
) -> Outcome:
    doc = {**json_object(payload), **extra}
    event = Event(kind, _time(check, doc, "time", received), doc, check.site)
    return Outcome(events=[event], counts=Counter({f"event:{kind}": 1}))


def handle(check: Validator, topic: str, payload: bytes, received: float) -> Outcome:
    """Turn one MQTT message of ``check.site`` into records; what is bad becomes a dead
    letter. ``received`` is the arrival time the time window is judged against."""
    site = check.site
    try:
        parsed = topics.parse(topic)
    except topics.UnknownTopic as exc:
        return dead(topic, "unknown-topic", str(exc), payload, received, site)
    if parsed.site != site:
        message = f"topic site {parsed.site!r} is not this ingest's site {site!r}"
        return dead(topic, "site-mismatch", message, payload, received, site)
    try:
        if parsed.kind == "readings":
            point = parsed.rest[0] if parsed.rest else None
            return _readings(check, topic, point, payload, received)
        if not payload and parsed.kind in ("status", "state", "series"):
            return Outcome(counts=Counter({"ignored:empty-retained": 1}))
        if parsed.kind == "series":  # payload v2: learnt, not stored
            check.series.learn(parsed.rest[0], payload)
            return Outcome(counts=Counter({"series": 1}))
        if parsed.kind == "status":
            if parsed.rest[0] in ("ingest", "api"):  # heartbeats: the API reads them live
                return Outcome(counts=Counter({f"heartbeat:{parsed.rest[0]}": 1}))
            device = GATEWAY if parsed.rest == ("gateway",) else parsed.rest[1]
            return _status(check, device, payload, received)
        if parsed.kind == "events" and parsed.rest[0] == "dead-letter":
            return _forwarded_dead_letter(site, payload, received)
        if parsed.kind == "events":
            return _event(check, parsed.rest[0], payload, received, {})
        if parsed.kind == "state":
            if parsed.rest[0] == INGEST_POINT:  # only this ingest states its own alarms
                return dead(topic, "reserved-point", f"state/{INGEST_POINT} is ingest's own "
                            "system-alarm state, written by ingest at start, never taken "
                            "from the broker", payload, received, site)
            # "by" is ours to set: a snapshot from the broker is the gateway's
            return _event(check, "state", payload, received,
                          {"point": parsed.rest[0], "by": "gateway"})
        return Outcome(counts=Counter({f"ignored:{parsed.kind}": 1}))
    except PayloadError as exc:
        return dead(topic, exc.code, str(exc), payload, received, site)
