"""Helpers for the interlock tests: a unit bound to one H2S point, and condition builders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.alarms.levels import Level
from gateway.alarms.snapshot import PointCondition
from gateway.interlock import (
    Annunciator,
    Fan,
    VentilationUnit,
    VentilationUnitConfig,
    WriteCoil,
    ZoneAlarm,
)
from gateway.interlock.events import Output

POINT = "desulf-h2s-1"


def unit(**options: Any) -> VentilationUnit:
    base: dict[str, Any] = dict(
        id="desulf-exhaust", fan=Fan(device="fan-1"), standby=Fan(device="fan-2"),
        annunciator=Annunciator(device="panel-1", coil="horn"), points=[POINT])
    base.update(options)
    return VentilationUnit(VentilationUnitConfig(**base), frozenset(base["points"]))


def zone(time: float, level: Level | None = None, faulted: bool = False,
         point: str = POINT) -> ZoneAlarm:
    reason = "stale" if faulted else None
    return ZoneAlarm(time, (PointCondition(point, level, faulted, time, reason),))


def names(outputs: Sequence[Output]) -> list[str]:
    return [o.name if not isinstance(o, WriteCoil) else
            f"write {o.device}.{o.coil}={int(o.value)}" for o in outputs]
