"""Shared helpers for the alarm tests: literal set-points and a one-point engine."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.alarms.actions import AlarmEvent
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.events import Sample, Tick
from gateway.alarms.spec import PointSpec


@dataclass(frozen=True)
class SP:
    """H2S by GBZ/T 223: 1/2 MAC, MAC, 2 x MAC (mg/m3)."""

    pre_alarm: float | None = 5.0
    alarm: float | None = 10.0
    high_alarm: float | None = 20.0
    unit: str = "mg/m3"
    profile: str = "GBZ/T 223"


POINT = "desulf-h2s-1"
PROCESS = f"{POINT}:process"
FAULT = f"{POINT}:fault"


def engine(**spec: object) -> AlarmEngine:
    options: dict[str, object] = {"setpoints": SP(), "poll_interval": 1.0}
    options.update(spec)
    return AlarmEngine([PointSpec(POINT, "mg/m3", **options)])  # type: ignore[arg-type]


def feed(eng: AlarmEngine, values: Iterable[float], start: float = 0.0,
         step: float = 1.0) -> list[AlarmEvent]:
    out: list[AlarmEvent] = []
    t = start
    for value in values:
        out += eng.handle(Sample(POINT, t, value))
        t += step
    return out


def names(events: Sequence[AlarmEvent]) -> list[str]:
    return [e.name for e in events]


def ticks(eng: AlarmEngine, start: float, stop: float, step: float = 0.5) -> list[AlarmEvent]:
    out: list[AlarmEvent] = []
    t = start
    while t <= stop:
        out += eng.handle(Tick(t))
        t += step
    return out
