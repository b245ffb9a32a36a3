"""One OPC UA data change -> quality, value and time. Pure: no session, no clock.

A DataValue carries a status code whose two top bits are its severity (Part 4, 7.39):
Good, Uncertain or Bad. Good values are good; Uncertain ones keep their value but are
``uncertain`` with the code's name as reason (``opcua-uncertain:UncertainLastUsableValue``);
Bad ones are ``bad`` and their value is never shown (``opcua-bad:BadSensorFailure``), so a
detector the panel reports failed is a fault on the point, never a live zero.

The time is the source timestamp (when the detector's value was taken), else the server's
timestamp, else the arrival time; the caller judges it (``occmon.plausibility.check_time``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from asyncua.ua import status_codes

from occmon.model import Quality

# Codes, stable: they are counter keys and dead-letter reasons.
WRONG_TYPE = "wrong-type"
NODE_REJECTED = "node-rejected"
TOO_OLD = "too-old"

_SEVERITY = 0xC000_0000
_UNCERTAIN = 0x4000_0000
_BAD = 0x8000_0000


class WireValueError(ValueError):
    """A value the gateway cannot read as a number; ``code`` is a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Judged:
    """What a status code says about the value it comes with."""

    quality: Quality
    reason: str | None  # None for good


def status_name(code: int) -> str:
    """The code's symbolic name (``BadSensorFailure``); info bits (limits, overflow) ignored."""
    name, _ = status_codes.get_name_and_doc(code & 0xFFFF_0000)
    return name


def judge_status(code: int) -> Judged:
    """Good -> good; Uncertain* -> uncertain with reason; Bad* -> bad with reason."""
    severity = code & _SEVERITY
    if severity == 0:
        return Judged(Quality.GOOD, None)
    if severity == _UNCERTAIN:
        return Judged(Quality.UNCERTAIN, f"opcua-uncertain:{status_name(code)}")
    return Judged(Quality.BAD, f"opcua-bad:{status_name(code)}")


def number(value: Any) -> float | None:
    """The value as a float (NaN and infinity pass: normalisation makes them BAD ``not-a-number``);
    None for an empty value (a Bad status usually comes without one). Raises WireValueError
    ``wrong-type`` for text, booleans, arrays: no detector's concentration is one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireValueError(WRONG_TYPE,
                          f"value must be a number, got {type(value).__name__} {value!r:.40}")
    return float(value)


def epoch(moment: dt.datetime) -> float:
    """A timestamp from the wire as epoch seconds; a naive one is UTC (OPC UA's DateTime)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def sample_time(source: dt.datetime | None, server: dt.datetime | None, arrival: float) -> float:
    """Source timestamp, else server timestamp, else the arrival time."""
    for moment in (source, server):
        if moment is not None and moment.year > 1601:  # 1601-01-01 is OPC UA's "no time"
            return epoch(moment)
    return arrival
