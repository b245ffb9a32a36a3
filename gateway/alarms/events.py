"""What the alarm engine is fed: samples, the clock, and operator commands.

Frozen dataclasses; ``time`` is always an argument (epoch seconds), never read from a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.alarms.levels import Level
from occmon.model import Quality, Reading


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of a point, in the canonical unit (``Reading`` without the bookkeeping)."""

    point: str
    time: float
    value: float | None
    quality: Quality = Quality.GOOD
    reason: str | None = None
    quantity: str = "concentration"  # samples of another quantity than the point's are ignored

    @classmethod
    def from_reading(cls, reading: Reading) -> Sample:
        return cls(reading.point, reading.time, reading.value, reading.quality, reading.reason,
                   reading.quantity)


@dataclass(frozen=True, slots=True)
class Tick:
    """The passage of time: evaluates staleness, delays and shelve expiry."""

    time: float


@dataclass(frozen=True, slots=True)
class Acknowledge:
    alarm_id: str
    user: str
    comment: str
    time: float


@dataclass(frozen=True, slots=True)
class Shelve:
    """Suppress annunciation until ``until`` (required: a shelve never lasts for ever)."""

    alarm_id: str
    user: str
    until: float | None
    reason: str
    time: float


@dataclass(frozen=True, slots=True)
class Unshelve:
    alarm_id: str
    user: str
    time: float


@dataclass(frozen=True, slots=True)
class SetOutOfService:
    """Take an alarm out of service (``out_of_service=True``) or return it to service."""

    alarm_id: str
    user: str
    reason: str
    time: float
    out_of_service: bool = True


class ResolveReason(StrEnum):
    """Why an alarm occurrence is closed; stable codes for the record."""

    REAL_RELEASE = "real-release"
    FALSE_ALARM = "false-alarm"
    SENSOR_FAULT = "sensor-fault"
    TEST_OR_CALIBRATION = "test-or-calibration"
    MAINTENANCE = "maintenance"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Resolve:
    """Close the last occurrence with a reason code (acknowledges a latched alarm too)."""

    alarm_id: str
    user: str
    reason_code: str
    time: float
    comment: str = ""


@dataclass(frozen=True, slots=True)
class ExternalAlarm:
    """A condition raised by another core (e.g. ventilation failure from the interlock).

    It gets the same ISA-18.2 life cycle as a gas alarm: latched until acknowledged.
    """

    alarm_id: str
    source: str  # the ventilation unit (or other origin); shown as the alarm's point
    active: bool
    time: float
    cause: str
    level: Level = Level.HIGH_ALARM
    system: bool = False  # kind "system" (gateway/health.py), not "external"


Event = (
    Sample | Tick | Acknowledge | Shelve | Unshelve | SetOutOfService | Resolve | ExternalAlarm
)
