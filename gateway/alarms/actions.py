"""What the alarm engine emits: one frozen dataclass per kind of alarm event.

Every event carries the alarm id, the point, the level, the value and set-point that caused
it, the time, the state the alarm is in after it, and a cause text a person can read. The
gateway puts them on its never-dropped queue; ``to_dict`` is their JSON body.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar

from gateway.alarms.levels import Level


class AlarmKind(StrEnum):
    PROCESS = "process"  # a gas / dust value over a set-point
    FAULT = "fault"  # the sensor cannot be trusted (stale, loop, range, bad quality)
    EXTERNAL = "external"  # raised by another core, e.g. ventilation failure
    SYSTEM = "system"  # occmon itself failing: queue cannot write, disk full, ingest lost
    WARNING = "warning"  # not an alarm: calibration overdue


class AlarmState(StrEnum):
    """ISA-18.2 alarm states."""

    NORMAL = "normal"
    ACTIVE_UNACK = "active-unacknowledged"
    ACTIVE_ACK = "active-acknowledged"
    CLEARED_UNACK = "cleared-unacknowledged"
    SHELVED = "shelved"
    OUT_OF_SERVICE = "out-of-service"


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """The names ``dataclasses.asdict`` would give (ClassVars left out), once per class."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


@dataclass(frozen=True, kw_only=True)
class AlarmEvent:
    """Fields common to every alarm event."""

    name: ClassVar[str] = "alarm"
    alarm_id: str
    point: str
    kind: AlarmKind
    level: Level | None
    value: float | None
    setpoint: float | None
    unit: str
    time: float
    state: AlarmState
    occurrence: int
    cause: str

    def to_dict(self) -> dict[str, Any]:
        # the fields are str, numbers, None or enums: a shallow copy is ``asdict`` without
        # its recursion and deep copies
        body = {name: getattr(self, name) for name in field_names(type(self))}
        body["event"] = self.name
        for key, item in body.items():
            if isinstance(item, StrEnum):
                body[key] = str(item)
        return body


@dataclass(frozen=True, kw_only=True)
class Raised(AlarmEvent):
    name: ClassVar[str] = "raised"


@dataclass(frozen=True, kw_only=True)
class Escalated(AlarmEvent):
    """The level rose while active; an acknowledged alarm needs acknowledging again."""

    name: ClassVar[str] = "escalated"
    previous_level: Level | None


@dataclass(frozen=True, kw_only=True)
class Deescalated(AlarmEvent):
    """The level fell but the alarm is still active."""

    name: ClassVar[str] = "deescalated"
    previous_level: Level | None


@dataclass(frozen=True, kw_only=True)
class Cleared(AlarmEvent):
    """The condition is gone; unless acknowledged the alarm stays latched."""

    name: ClassVar[str] = "cleared"


@dataclass(frozen=True, kw_only=True)
class Acknowledged(AlarmEvent):
    name: ClassVar[str] = "acknowledged"
    user: str
    comment: str


@dataclass(frozen=True, kw_only=True)
class Returned(AlarmEvent):
    """Back to normal: cleared and acknowledged."""

    name: ClassVar[str] = "returned"


@dataclass(frozen=True, kw_only=True)
class Shelved(AlarmEvent):
    name: ClassVar[str] = "shelved"
    user: str
    until: float
    reason: str


@dataclass(frozen=True, kw_only=True)
class Unshelved(AlarmEvent):
    """Back from shelve, by a user or by expiry (``user`` is None then)."""

    name: ClassVar[str] = "unshelved"
    user: str | None


@dataclass(frozen=True, kw_only=True)
class RemovedFromService(AlarmEvent):
    name: ClassVar[str] = "out-of-service"
    user: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReturnedToService(AlarmEvent):
    name: ClassVar[str] = "in-service"
    user: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Resolved(AlarmEvent):
    name: ClassVar[str] = "resolved"
    user: str
    reason_code: str
    comment: str


@dataclass(frozen=True, kw_only=True)
class FaultRaised(AlarmEvent):
    """The sensor is in fault; ``reason`` is the stable code (``stale``, ``loop-under-range``)."""

    name: ClassVar[str] = "fault-raised"
    reason: str


@dataclass(frozen=True, kw_only=True)
class FaultCleared(AlarmEvent):
    name: ClassVar[str] = "fault-cleared"


@dataclass(frozen=True, kw_only=True)
class WarningRaised(AlarmEvent):
    """Not an alarm: the value is still used but needs attention (calibration overdue).

    Not called ``Warning`` so it never shadows the builtin in a caller's namespace.
    """

    name: ClassVar[str] = "warning"
    reason: str


@dataclass(frozen=True, kw_only=True)
class WarningCleared(AlarmEvent):
    """The end of a warning: the point is calibrated again (a calibration the gateway saw
    moved its due date, or the instrument stopped reporting calibration overdue). Without it
    a board would keep a warning that no longer holds until the next alarm on the point."""

    name: ClassVar[str] = "warning-cleared"
    reason: str


Action = AlarmEvent
