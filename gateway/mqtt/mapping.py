"""Vendor JSON -> field values, by a device's mapping. Pure: bytes in, values or errors out.

A message-level problem (not JSON, not an object, no usable time) rejects the whole
message, because nothing in it can be trusted with a time. A field-level problem (missing,
wrong type, NaN) rejects only that field: the other fields of the same message still become
readings. Every problem carries a stable code, the counter key and the dead-letter reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from occmon.config.schema import MqttMapping
from occmon.model import parse_time
from thresholds.lod import is_below_lod

# Codes, stable: they are counter keys and dead-letter reasons.
MALFORMED_JSON = "malformed-json"
NOT_AN_OBJECT = "not-an-object"
MISSING_FIELD = "missing-field"
WRONG_TYPE = "wrong-type"
NOT_A_NUMBER = "not-a-number"
BAD_TIME = "bad-time"

# A time outside these bounds is a unit mistake (epoch_ms sent as seconds) or a clock reset.
EARLIEST = 946_684_800.0  # 2000-01-01T00:00:00Z
LATEST = 4_102_444_800.0  # 2100-01-01T00:00:00Z

MISSING = object()


class MappingError(ValueError):
    """The whole message is unusable; ``code`` is one of the codes above."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Sample:
    """What one message says: a time, the good field values, the bad fields."""

    time: float
    values: dict[str, float]
    problems: list[FieldProblem] = field(default_factory=list)
    # field -> a below-detection result as reported ("<0.05", "ND"): thresholds.lod
    below_lod: dict[str, str] = field(default_factory=dict)


def lookup(doc: Any, path: str) -> Any:
    """Follow a dotted path (``gas.h2s``, ``items.0.value``); ``MISSING`` when absent."""
    node = doc
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    return node


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_sample_time(value: Any, time_format: str, path: str) -> float:
    if time_format == "iso8601":
        if not isinstance(value, str):
            raise MappingError(BAD_TIME, f"time at {path!r} must be an ISO 8601 string")
        try:
            moment = parse_time(value)
        except ValueError as exc:
            raise MappingError(BAD_TIME, f"time at {path!r}: {exc}") from None
    else:
        if not _number(value) or not math.isfinite(value):
            raise MappingError(BAD_TIME, f"time at {path!r} must be a number ({time_format})")
        moment = float(value) / (1000.0 if time_format == "epoch_ms" else 1.0)
    if not EARLIEST <= moment < LATEST:
        raise MappingError(
            BAD_TIME, f"time at {path!r} = {value!r} is outside 2000-2100 (is it {time_format}?)"
        )
    return moment


def extract(payload: bytes, mapping: MqttMapping, arrival: float) -> Sample:
    """Read every mapped field; raise MappingError when the message as a whole is bad."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MappingError(MALFORMED_JSON, f"payload is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MappingError(
            NOT_AN_OBJECT, f"payload must be a JSON object, got {type(doc).__name__}"
        )
    moment = arrival
    if mapping.time is not None:
        raw_time = lookup(doc, mapping.time)
        if raw_time is MISSING:
            raise MappingError(MISSING_FIELD, f"time field {mapping.time!r} is missing")
        moment = parse_sample_time(raw_time, mapping.time_format, mapping.time)
    values: dict[str, float] = {}
    below_lod: dict[str, str] = {}
    problems: list[FieldProblem] = []
    for name, path in mapping.fields.items():
        value = lookup(doc, path)
        if value is MISSING:
            problems.append(FieldProblem(name, MISSING_FIELD, f"field {name!r} ({path}) missing"))
        elif isinstance(value, str) and is_below_lod(value):
            below_lod[name] = value
        elif not _number(value):
            problems.append(
                FieldProblem(
                    name,
                    WRONG_TYPE,
                    f"field {name!r} ({path}) must be a number, got {type(value).__name__}",
                )
            )
        elif not math.isfinite(value):
            problems.append(FieldProblem(name, NOT_A_NUMBER, f"field {name!r} ({path}) is {value}"))
        else:
            values[name] = float(value)
    return Sample(moment, values, problems, below_lod)
