"""Readings and events as InfluxDB line protocol: pure functions, no I/O.

The schema is documented in ``docs/influxdb.md``. Two rules make a replay harmless:
every line's series (measurement + tag set) and timestamp are derived from the record
alone, never from when it was written, so writing the same record twice overwrites the
same point; and timestamps have millisecond precision, the precision of ``Reading.time``
on the wire (``occmon.payload``).

Escaping follows the line-protocol spec: measurement names escape commas and spaces; tag
keys, tag values and field keys escape commas, equals signs and spaces; string field
values escape double quotes and backslashes. Line breaks cannot be escaped in names or tag
values, so a record carrying one is refused (``LineProtocolError``); in string fields they
are written as the two characters ``\\n``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ingest.records import DeadLetter, DeviceState, Event
from occmon.model import Quality, Reading

READING = "reading"
EVENT = "event"
DEVICE_STATUS = "device_status"
DEAD_LETTER = "dead_letter"
COUNTER = "ingest_counter"

QUALITY_CODES: dict[Quality, int] = {Quality.GOOD: 0, Quality.UNCERTAIN: 1, Quality.BAD: 2}

# Numeric codes for the state an event reports (body "level" or "state"), so Grafana's
# state-timeline panels can plot them. Alarm levels follow GBZ/T 223-2009; ventilation
# states the interlock's fan feedback. Hyphens and underscores are equivalent.
STATE_CODES: dict[str, int] = {
    "normal": 0, "clear": 0, "cleared": 0, "off": 0, "stopped": 0,
    "pre_alarm": 1, "starting": 1,
    "alarm": 2, "running": 2, "on": 2,
    "high_alarm": 3,
    "fault": 4, "failed": 4,
}


class LineProtocolError(ValueError):
    """A record that cannot be written as line protocol (a line break in a tag value...)."""


def _no_newline(text: str, what: str) -> str:
    if "\n" in text or "\r" in text:
        raise LineProtocolError(f"{what} {text!r} contains a line break")
    return text


def escape_measurement(name: str) -> str:
    return _no_newline(name, "measurement").replace(",", r"\,").replace(" ", r"\ ")


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    text = _no_newline(text, "tag or field")
    if text.endswith("\\"):
        raise LineProtocolError(f"tag or field {text!r} ends in a backslash")
    return text.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def escape_string(text: str) -> str:
    """A string field value, quotes included."""
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + body.replace("\r", "").replace("\n", "\\n") + '"'


def timestamp_ms(epoch: float) -> int:
    return round(epoch * 1000)


def _field(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"field value {value!r} is not finite")
        return repr(value)
    return escape_string(str(value))


def line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, object], time_ms: int
) -> str:
    """One line; empty tag values are left out (line protocol has no empty tags)."""
    if not fields:
        raise LineProtocolError(f"{measurement}: a line needs at least one field")
    tag_part = "".join(
        f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v
    )
    field_part = ",".join(f"{escape_key(k)}={_field(v)}" for k, v in fields.items())
    return f"{escape_measurement(measurement)}{tag_part} {field_part} {time_ms}"


def reading_line(reading: Reading, site: str, area: str = "") -> str:
    """``reading,agent=..,area=..,point=..,quality=..,quantity=..,site=..,unit=.. value=..``.

    ``status`` (0 good, 1 uncertain, 2 bad) is always written, so a bad reading without a
    value still leaves a point in the series and sensor-health panels can count it.
    """
    fields: dict[str, object] = {}
    if reading.value is not None:
        fields["value"] = float(reading.value)
    fields["status"] = QUALITY_CODES[reading.quality]
    if reading.raw_value is not None and math.isfinite(reading.raw_value):
        fields["raw_value"] = float(reading.raw_value)
    if reading.raw_unit:
        fields["raw_unit"] = reading.raw_unit
    if reading.reason:
        fields["reason"] = reading.reason
    if reading.sensor:
        fields["sensor"] = reading.sensor
    if reading.device:
        fields["device"] = reading.device
    tags = {
        "site": site, "area": area, "point": reading.point, "agent": reading.agent,
        "quantity": reading.quantity, "unit": reading.unit, "quality": str(reading.quality),
    }
    return line(READING, tags, fields, timestamp_ms(reading.time))


# Fan codes for the interlock's ventilation events (gateway/interlock/events.py), by event
# name: the unit's own ``state`` is its demand (idle/active/hold...), not what the fan does.
VENTILATION_CODES: dict[str, int] = {
    "started": 1, "standby-started": 1, "feedback-lost": 1,
    "confirmed": 2,
    "ventilation-failure": 4,
    "stopped": 0,
}


# Alarm events (gateway/alarms/actions.py) that end a condition, by event name: a cleared
# alarm keeps its level in the body (it stays latched until acknowledged), but the board
# shows what the air is doing now. A sensor fault is drawn as "fault".
ALARM_CODES: dict[str, int] = {"cleared": 0, "returned": 0, "fault-raised": 4, "fault-cleared": 0}


def state_code(body: Mapping[str, Any], kind: str = "") -> int | None:
    name = body.get("event")
    if kind == "ventilation":
        if name == "ventilation-failure" and body.get("active") is False:
            return None  # the failure alarm clearing says nothing new about the fan
        if name == "unit-state":  # the state as the gateway starts: what the fan does now
            snapshot = body.get("snapshot")
            if isinstance(snapshot, Mapping) and isinstance(snapshot.get("ventilating"), bool):
                return 2 if snapshot["ventilating"] else 0
            return None
        if name == "restored":  # a ventilating state taken up again: its run command
            return 1 if body.get("restored") is True else None
        if name == "uncommanded-run":  # a fan the interlock did not start runs, or stops
            running = body.get("running")
            return (2 if running else 0) if isinstance(running, bool) else None
        return VENTILATION_CODES.get(name) if isinstance(name, str) else None
    if kind == "alarm" and isinstance(name, str) and name in ALARM_CODES:
        return ALARM_CODES[name]
    for key in ("level", "state"):
        value = body.get(key)
        if isinstance(value, str):
            code = STATE_CODES.get(value.strip().lower().replace("-", "_"))
            if code is not None:
                return code
    return None


def _text(body: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def event_line(event: Event) -> str:
    """``event,kind=..,point=..,device=..,level=..,site=.. message="..",body="{json}",n=1i``.

    ``state`` carries the numeric level (``STATE_CODES``) and ``value`` the measured value
    when the body has them; ``n`` is always 1, so a store that keeps numbers only
    (VictoriaMetrics) still keeps the event.
    """
    body = event.body
    tags = {
        "site": event.site or _text(body, "site"),
        "kind": event.kind,
        "point": _text(body, "point"),
        "device": _text(body, "device", "fan"),
        # a ventilation unit's id; alarm bodies carry the measurement unit under this key
        "unit": _text(body, "unit") if event.kind == "ventilation" else "",
        "level": _text(body, "level", "state"),
    }
    fields: dict[str, object] = {
        "message": _text(body, "message", "text", "cause") or event.kind,
        "body": json.dumps(body, sort_keys=True, ensure_ascii=False, default=str),
        "n": 1,
    }
    code = state_code(body, event.kind)
    if code is not None:
        fields["state"] = code
    value = body.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        fields["value"] = float(value)
    return line(EVENT, tags, fields, timestamp_ms(event.time))


def device_line(state: DeviceState) -> str:
    fields: dict[str, object] = {"online": 1 if state.online else 0}
    if state.reason:
        fields["reason"] = state.reason
    tags = {"site": state.site, "device": state.device}
    return line(DEVICE_STATUS, tags, fields, timestamp_ms(state.since))


def dead_letter_line(letter: DeadLetter) -> str:
    fields: dict[str, object] = {
        "n": 1, "topic": letter.topic, "message": letter.message,
        "payload": letter.payload[:4096].decode("utf-8", "replace"),
    }
    tags = {"site": letter.site, "code": letter.code, "source": letter.source}
    return line(DEAD_LETTER, tags, fields, timestamp_ms(letter.received))


def counter_line(site: str, code: str, count: int, time_ms: int) -> str:
    """An increment of an ingest counter; sum ``count`` over time to get the total."""
    return line(COUNTER, {"site": site, "code": code}, {"count": int(count)}, time_ms)
