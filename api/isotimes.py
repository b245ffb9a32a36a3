"""Times inside free-form event bodies, as ISO 8601 at the API edge.

The gateway's events (ventilation, alarms) are stored as published, with epoch seconds, and
the store keeps them so. A response carries them under keys whose meaning is fixed across
the event kinds (``TIME_KEYS``); those, at any depth of a body, leave the API as RFC 3339
UTC (``occmon.model.iso_utc``), like every other time the API answers. Other numbers are
left alone: a duration (``hold_time``, ``duration_s``) is not a time.
"""

from __future__ import annotations

import math
from typing import Any

from occmon.model import iso_utc

# the gateway's time fields: event time, hold end, retry time, snapshot hold end, the
# time a refused command was sent, a device state's since
TIME_KEYS = frozenset({"time", "until", "retry_at", "hold_until", "sent", "since", "received"})


def iso_times(value: Any, keys: frozenset[str] = TIME_KEYS) -> Any:
    """``value`` with each finite number under a key of ``keys`` as ISO 8601 (a copy)."""
    if isinstance(value, dict):
        return {k: (iso_utc(float(v)) if k in keys and _epoch(v) else iso_times(v, keys))
                for k, v in value.items()}
    if isinstance(value, list):
        return [iso_times(v, keys) for v in value]
    return value


def _epoch(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value < 253_402_300_800)  # before year 10000


def iso_fields(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """``row`` with its top-level ``names`` (epoch seconds, or None) as ISO 8601 (a copy):
    for the store's rows the routes answer (``closed_at``, ``signed_at``, ``time``)."""
    return {k: (iso_utc(float(v)) if k in names and _epoch(v) else v) for k, v in row.items()}
