"""Encode and decode reading batches (payload schema v1, docs/topics.md).

Decoding is strict and says exactly what is wrong, because a rejected message goes to the
dead-letter table with that reason and an integrator has to fix the sender from it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from occmon.model import Quality, Reading, Reason, iso_utc, parse_time
from occmon.quantities import QUANTITIES
from thresholds.lod import Reported, is_below_lod, parse_result

VERSION = 1
_isfinite = math.isfinite

# What any JSON payload may be before it is parsed (docs/topics.md, "Limits"). The size fits
# the largest gateway batch (gateway.publish_batch <= 10,000 readings, ~2.2 MiB); the
# depth is four times what any payload of ours needs (a batch is 4 deep: object, readings,
# reading, raw), far below the ~1,000 levels at which json.loads raises RecursionError.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 16


class PayloadError(ValueError):
    """A payload that cannot be accepted; ``code`` is a stable counter key."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def reading_to_dict(reading: Reading) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "point": reading.point,
        "agent": reading.agent,
        "time": iso_utc(reading.time),
        "value": reading.value,
        "unit": reading.unit,
        "quality": reading.quality.value,
        "quantity": reading.quantity,
    }
    if reading.reason:
        doc["reason"] = reading.reason
    if reading.sensor:
        doc["sensor"] = reading.sensor
    if reading.device:
        doc["device"] = reading.device
    if reading.raw_value is not None:
        doc["raw"] = {"value": reading.raw_value, "unit": reading.raw_unit}
    return doc


_text = json.JSONEncoder(ensure_ascii=False).encode  # one JSON string literal
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_last_time: tuple[float, str] = (math.nan, "")


@functools.lru_cache(maxsize=16_384)
def _frame(point: str, agent: str, unit: str, quality: str, quantity: str, reason: str | None,
           sensor: str | None, device: str | None) -> tuple[str, str]:
    """The fields a sensor repeats in every reading, as JSON text before and after time/value."""
    head = f'{{"point":{_text(point)},"agent":{_text(agent)},"time":"'
    tail = f',"unit":{_text(unit)},"quality":{_text(quality)},"quantity":{_text(quantity)}'
    for key, value in (("reason", reason), ("sensor", sensor), ("device", device)):
        if value:
            tail += f',"{key}":{_text(value)}'
    return head, tail


def encode_reading(reading: Reading) -> bytes:
    """``reading_to_dict`` as compact JSON, byte for byte, about five times faster.

    The gateway encodes every reading it accepts (a queue row each), and on a 500-device
    poll burst ``json.dumps`` of a fresh dict was most of the event loop's time. A sensor's
    fixed fields are encoded once and cached; a poll's readings share one time text.
    """
    global _last_time
    value = reading.value
    if isinstance(value, float) and math.isfinite(value):
        number = float.__repr__(value)
    elif value is None:
        number = "null"
    else:  # ints, NaN (an error, as in json.dumps), anything unusual: the general path
        return _compact(reading_to_dict(reading)).encode()
    when, text = _last_time
    if when != reading.time:
        text = iso_utc(reading.time)
        _last_time = (reading.time, text)
    head, tail = _frame(reading.point, reading.agent, reading.unit, reading.quality.value,
                        reading.quantity, reading.reason, reading.sensor, reading.device)
    if reading.raw_value is not None:
        tail += ',"raw":' + _compact({"value": reading.raw_value, "unit": reading.raw_unit})
    return f'{head}{text}","value":{number}{tail}}}'.encode()


def encode_batch(site: str, readings: Iterable[Reading]) -> bytes:
    """One MQTT message: ``{"v": 1, "site": ..., "readings": [...]}``, oldest first."""
    doc = {"v": VERSION, "site": site, "readings": [reading_to_dict(r) for r in readings]}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _reject_constant(name: str) -> float:
    raise PayloadError("not-a-number", f"{name} is not allowed in a payload")


def _field(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise PayloadError("missing-field", f"{where}: field {key!r} is missing")
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise PayloadError(
            "wrong-type", f"{where}: field {key!r} must be {names}, got {type(value).__name__}"
        )
    return value


def _finite(number: float, what: str) -> float:
    """``number`` as a finite float; an integer too large for a float is not a number."""
    try:
        value = float(number)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise PayloadError("not-a-number", f"{what} is not finite")
    return value


def _reading(doc: Any, where: str) -> Reading:
    if not isinstance(doc, dict):
        raise PayloadError("wrong-type", f"{where}: must be an object")
    point = _field(doc, "point", str, where)
    agent = _field(doc, "agent", str, where)
    time_text = _field(doc, "time", str, where)
    unit = _field(doc, "unit", str, where)
    quality_text = _field(doc, "quality", str, where)
    quantity = doc.get("quantity", "concentration")
    if not isinstance(quantity, str) or quantity not in QUANTITIES:
        raise PayloadError("bad-quantity", f"{where}: quantity {quantity!r} is not known")
    value = doc.get("value")
    below: Reported | None = None
    if value is not None and not (type(value) is float and _isfinite(value)):  # fast path
        if type(value) is str:  # "<0.05", "ND": a result below the detection limit
            below = _below_lod(value, doc.get("raw"), where)
            value = below.value
        else:
            value = _finite(_field(doc, "value", (int, float), where), f"{where}: value")
    try:
        moment = parse_time(time_text)
    except (ValueError, OverflowError) as exc:
        raise PayloadError("bad-time", f"{where}: time {time_text!r}: {exc}") from None
    try:
        quality = Quality(quality_text)
    except ValueError:
        raise PayloadError(
            "bad-quality", f"{where}: quality {quality_text!r} is not good/uncertain/bad"
        ) from None
    reason = doc.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise PayloadError("wrong-type", f"{where}: field 'reason' must be str")
    sensor = doc.get("sensor", "")
    device = doc.get("device", "")
    if type(sensor) is not str or type(device) is not str:
        _field(doc, "sensor" if type(sensor) is not str else "device", str, where)  # raises
    raw = doc.get("raw")
    raw_value: Any = None
    raw_unit: Any = None
    if type(raw) is dict:
        raw_value, raw_unit = raw.get("value"), raw.get("unit")
        if not (type(raw_value) is float and _isfinite(raw_value)):  # not the common case
            if isinstance(raw_value, int | float) and not isinstance(raw_value, bool):
                raw_value = _finite(raw_value, f"{where}: raw.value")
            else:
                raw_value = None  # raw is what the instrument said: informative only
        if type(raw_unit) is not str:
            raw_unit = None
    if below is not None:  # recorded as below-LOD: uncertain, the limit kept as raw
        if quality is Quality.GOOD:
            quality, reason = Quality.UNCERTAIN, Reason.BELOW_LOD.value
        raw_value, raw_unit = below.lod, unit
    try:
        # Positional: a keyword call to the frozen Reading's __init__ costs ~25 % more.
        return Reading(point, agent, moment, value, unit, quality, quantity, reason,
                       sensor, device, raw_value, raw_unit)
    except ValueError as exc:
        raise PayloadError("invalid-reading", f"{where}: {exc}") from None


# One JSON string, escapes included. The closing quote is optional so that an unterminated
# string matches to the end instead of failing: a failed match would be retried from every
# later quote, quadratic on a payload of backslash-quotes.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')
_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_SYNTAX = bytes(b for b in range(256) if b not in b'[]{}"\\')


def _brackets(payload: bytes) -> bytes:
    """The payload's brackets outside strings, as ``(`` and ``)``.

    Fast path: keep only brackets, quotes and backslashes, and drop every ``""`` (a string
    with no bracket in it). With no escape, no quote is left exactly when no string held a
    bracket. Otherwise a regex removes the strings from the whole payload.
    """
    syntax = payload.translate(None, _NOT_SYNTAX)
    if b"\\" not in syntax:
        bare = syntax.replace(b'""', b"")
        if b'"' not in bare:
            return bare.translate(_PARENS)
    return _STRING.sub(b"", payload).translate(_PARENS, _NOT_BRACKETS)


def nesting_depth_over(payload: bytes, limit: int) -> bool:
    """True if the JSON text nests arrays/objects more than ``limit`` deep. Linear, no
    recursion: brackets inside strings are dropped, then innermost ``()`` pairs are removed
    once per level; a text still holding an opener after ``limit`` rounds is deeper."""
    brackets = _brackets(payload)
    for level in range(limit):
        if b"(" not in brackets:
            return False
        inner = brackets.replace(b"()", b"")
        if len(inner) == len(brackets):  # unbalanced: ")))(((" - each opener may nest
            return level + inner.count(b"(") > limit
        brackets = inner
    return b"(" in brackets


def check_shape(payload: bytes) -> None:
    """Refuse a payload too large (``too-large``) or too deeply nested (``too-deep``)
    before ``json.loads`` gets it: its recursion on deep nesting raises RecursionError."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError("too-large", f"payload is {len(payload)} bytes, more than the "
                                        f"{MAX_PAYLOAD_BYTES} bytes allowed")
    if nesting_depth_over(payload, MAX_DEPTH):
        raise PayloadError("too-deep", f"payload nests arrays/objects more than {MAX_DEPTH} "
                                       f"levels deep")


def _below_lod(text: str, raw: Any, where: str) -> Reported:
    """A below-detection ``value`` (``thresholds.lod``): ``"<0.05"`` carries its limit;
    ``"ND"`` / ``"<LOD"`` take it from ``raw.value``. Enters the figures as LOD x 0.5."""
    limit = raw.get("value") if type(raw) is dict else None
    lod_given = float(limit) if isinstance(limit, int | float) and not isinstance(
        limit, bool) else None
    if not is_below_lod(text):
        raise PayloadError("wrong-type", f"{where}: field 'value' must be a number or a "
                                         f"below-detection result like '<0.05', got {text!r}")
    try:
        return parse_result(text, lod_given)
    except ValueError as exc:
        raise PayloadError("lod-unknown", f"{where}: {exc} (send raw.value as the limit)"
                           ) from None


def json_object(payload: bytes) -> dict[str, Any]:
    """Parse a payload that must be one JSON object; NaN and Infinity are refused, and so
    is a payload too large or too deep (``check_shape``)."""
    check_shape(payload)
    try:
        doc = json.loads(payload, parse_constant=_reject_constant)
    except PayloadError:
        raise
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also a 5,000-digit number
        raise PayloadError("malformed-json", f"payload is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PayloadError("wrong-type", "payload must be a JSON object")
    return doc


def decode_items(payload: bytes) -> tuple[str, list[Any], list[Reading | PayloadError]]:
    """Return (site, the reading objects as parsed, one Reading or PayloadError for each):
    a batch-level problem raises, a bad item is judged alone so the good readings beside
    it are kept."""
    doc = json_object(payload)
    version = doc.get("v")
    if version != VERSION:
        raise PayloadError("bad-version", f"payload version {version!r} is not {VERSION}")
    site = _field(doc, "site", str, "payload")
    items = _field(doc, "readings", list, "payload")
    if not items:
        raise PayloadError("empty-batch", "payload: 'readings' is empty")
    out: list[Reading | PayloadError] = []
    for i, item in enumerate(items):
        try:
            out.append(_reading(item, f"readings[{i}]"))
        except PayloadError as exc:
            out.append(exc)
    return site, items, out


def decode_batch(payload: bytes) -> tuple[str, list[Reading]]:
    """Return (site, readings) or raise PayloadError naming the first problem."""
    site, _, items = decode_items(payload)
    for item in items:
        if isinstance(item, PayloadError):
            raise item
    return site, [item for item in items if isinstance(item, Reading)]


def batches(readings: Sequence[Reading], size: int) -> Iterable[Sequence[Reading]]:
    for start in range(0, len(readings), size):
        yield readings[start : start + size]
