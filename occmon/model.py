"""The canonical reading and its quality flag: the one record every component passes along.

A reading is always in the agent's canonical unit (chemicals and dusts mg/m3, sound dB,
dose uSv, dose rate uSv/h); the raw value and unit the sensor gave are kept beside it so
an inspector can see what the instrument said before normalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Quality(StrEnum):
    """OPC-style quality: a bad reading is never shown as a live value."""

    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


class Reason(StrEnum):
    """Why a reading is not good. Stable strings: they appear in payloads and the store."""

    LOOP_UNDER_RANGE = "loop-under-range"  # 4-20 mA loop below 3.8 mA: broken wire, dead sensor
    LOOP_OVER_RANGE = "loop-over-range"  # 4-20 mA loop above 20.5 mA: short, saturated sensor
    OUT_OF_RANGE = "out-of-range"  # outside the sensor's configured measuring range
    MODBUS_EXCEPTION = "modbus-exception"  # the device answered with an exception code
    DEVICE_OFFLINE = "device-offline"  # no answer (timeout, connection refused)
    STALE = "stale"  # no fresh value within the expiry window
    SENSOR_FAULT = "sensor-fault"  # the device's own status word says fault
    NOT_A_NUMBER = "not-a-number"  # NaN or infinity decoded from the wire
    CALIBRATION_OVERDUE = "calibration-overdue"  # value kept, but uncertain
    CLOCK_SKEW = "clock-skew"  # the sender's time was ahead: the receive time replaced it
    IMPLAUSIBLE = "implausible"  # outside physics (occmon.plausibility)
    BELOW_LOD = "below-lod"  # reported below the detection limit: LOD x 0.5 (thresholds.lod)
    # Instrument states (NAMUR NE 107) a device reports; the reason is "<category>:<detail>",
    # e.g. "check-function:bump-test" (gateway/modbus/states.py, gateway/modbus/README.md).
    CHECK_FUNCTION = "check-function"  # inhibit, warm-up, bump test, calibration: not the air
    MAINTENANCE_REQUIRED = "maintenance-required"  # value kept, but uncertain
    OUT_OF_SPECIFICATION = "out-of-specification"  # overload, over range: no usable value
    FAILURE = "failure"  # the instrument says it is broken (or its heartbeat stopped)
    UNKNOWN_UNIT = "unknown-unit"  # the device reports a unit code or unit that cannot be used


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one point at one instant, normalised to the agent's canonical unit."""

    point: str
    agent: str
    time: float  # seconds since the Unix epoch, UTC
    value: float | None  # None only when quality is bad and there is no usable value
    unit: str  # canonical unit of the agent
    quality: Quality = Quality.GOOD
    quantity: str = "concentration"  # see occmon.quantities
    reason: str | None = None
    sensor: str = ""
    device: str = ""
    raw_value: float | None = None
    raw_unit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"reading of point {self.point!r}: value must be finite")
        if self.quality is not Quality.GOOD and not self.reason:
            raise ValueError(f"reading of point {self.point!r}: {self.quality} needs a reason")

    @property
    def iso_time(self) -> str:
        return iso_utc(self.time)


def iso_utc(epoch: float) -> str:
    """RFC 3339 UTC with milliseconds, the only time format on the wire."""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def time_value(value: object) -> float:
    """An ISO 8601 time with offset, or finite epoch seconds, as epoch seconds.

    Raises ValueError saying what is wrong; callers wrap it in their own error with the key.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        return parse_time(value)
    raise ValueError("must be an ISO 8601 time or epoch seconds")


def parse_time(text: str) -> float:
    """Parse an ISO 8601 time with an offset (or Z) to epoch seconds; naive times are refused."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment.timestamp()
