"""Read-only views of the engine: per alarm, per point, and the condition the interlock uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gateway.alarms.actions import AlarmKind, AlarmState, field_names
from gateway.alarms.levels import Level


def _flat(obj: Any) -> dict[str, Any]:
    """``asdict(obj)`` with enums as str, for a dataclass of str, numbers, None and enums:
    no recursion and no deep copy (a burst of alarm events builds thousands of these)."""
    body = {name: getattr(obj, name) for name in field_names(type(obj))}
    for key, item in body.items():
        if isinstance(item, StrEnum):
            body[key] = str(item)
    return body


@dataclass(frozen=True, slots=True)
class AlarmSnapshot:
    alarm_id: str
    point: str
    kind: AlarmKind
    state: AlarmState
    active: bool  # the condition is present now (whatever the annunciation state)
    level: Level | None
    value: float | None
    setpoint: float | None
    unit: str
    occurrence: int
    raised_at: float | None
    acknowledged_by: str | None
    shelved_until: float | None
    cause: str

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class PointCondition:
    """What the ventilation interlock needs of a point: its level and whether it is faulted.

    ``level`` is the condition, not the annunciation: a shelved or out-of-service alarm still
    reports its level here, so shelving never stops accident ventilation.
    """

    point: str
    level: Level | None
    faulted: bool
    time: float | None
    fault_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PointSnapshot:
    """The retained state of a point. ``value`` is None while the sensor is in fault."""

    point: str
    unit: str
    value: float | None
    time: float | None
    level: Level | None
    faulted: bool
    fault_reason: str | None
    calibration_overdue: bool
    alarms: list[AlarmSnapshot]

    def to_dict(self) -> dict[str, Any]:
        body = _flat(self)
        body["alarms"] = [alarm.to_dict() for alarm in self.alarms]
        return body
