"""The ``ventilation:`` section: which points start which accident-ventilation unit.

GBZ 1-2010 cl. 6.1.5-6.1.6 asks for accident ventilation interlocked with the leak alarm
where a large toxic release can occur indoors. Defaults, and why:

* ``trigger_level`` alarm (警报, = MAC or PC-STEL): the level at which the air is no longer
  acceptable; pre-alarm only warns.
* ``reset_level`` pre_alarm: the unit may stop only once every bound point is below the
  pre-alarm (no alarm at all) ...
* ``hold_time`` 900 s: ... and has stayed there for 15 min, so a plume that drifts back is
  still extracted.
* ``feedback_timeout`` 10 s: a contactor reports running within a second or two; 10 s leaves
  room for star-delta starters.
* ``fault_policy`` start: a sensor in fault cannot prove the air is clean (fail-safe).
* ``reset`` auto: sites that want a person to confirm the room is safe choose ``operator``.
* coil writes that fail are retried after 2 s, doubling to at most 60 s, for ever.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from occmon.config.alarms import Level

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

FEEDBACK_TIMEOUT_S = 10.0
HOLD_TIME_S = 900.0
RETRY_INITIAL_S = 2.0
RETRY_MAX_S = 60.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fan(_Strict):
    """A fan behind a ``ventilation-fan`` profile device: register names from that profile."""

    device: Slug
    run_command: str = Field(default="run_command", description="coil: 1 = run")
    running: str = Field(default="running", description="discrete input: 1 = running")
    fault: str | None = Field(default="fault", description="discrete input: 1 = starter fault")


class Annunciator(_Strict):
    """Horn / beacon coil switched on while the zone is in alarm or ventilation failed."""

    device: Slug
    coil: str = Field(min_length=1)


class UnitNames(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class VentilationUnitConfig(_Strict):
    id: Slug
    name: UnitNames | None = None
    fan: Fan
    standby: Fan | None = None
    annunciator: Annunciator | None = None
    points: list[Slug] = Field(default_factory=list, description="bound gas points")
    areas: list[Slug] = Field(default_factory=list, description="bind every point of a zone")
    trigger_level: Level = Level.ALARM
    reset_level: Level = Level.PRE_ALARM
    feedback_timeout: float = Field(default=FEEDBACK_TIMEOUT_S, gt=0, le=600)
    hold_time: float = Field(default=HOLD_TIME_S, ge=0, le=86400)
    reset: Literal["auto", "operator"] = "auto"
    fault_policy: Literal["start", "hold", "ignore"] = "start"
    retry_initial: float = Field(default=RETRY_INITIAL_S, gt=0, le=600)
    retry_max: float = Field(default=RETRY_MAX_S, gt=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> VentilationUnitConfig:
        if not self.points and not self.areas:
            raise ValueError(f"ventilation unit {self.id!r}: bind at least one point or area")
        if self.reset_level.rank > self.trigger_level.rank:
            raise ValueError(f"ventilation unit {self.id!r}: reset_level {self.reset_level} is "
                             f"above trigger_level {self.trigger_level}")
        if self.standby is not None and self.standby.device == self.fan.device:
            raise ValueError(f"ventilation unit {self.id!r}: standby fan must be another device")
        if self.retry_max < self.retry_initial:
            raise ValueError(f"ventilation unit {self.id!r}: retry_max < retry_initial")
        return self


class VentilationConfig(_Strict):
    units: list[VentilationUnitConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> VentilationConfig:
        ids = [u.id for u in self.units]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"ventilation units given twice: {dupes}")
        return self


def bound_points(unit: VentilationUnitConfig,
                 point_areas: dict[str, str]) -> frozenset[str]:
    """The unit's points: those named plus every point of its areas (``point -> area``).

    Raises ValueError naming an unknown point or an area without points.
    """
    points = set()
    for point in unit.points:
        if point not in point_areas:
            raise ValueError(f"ventilation unit {unit.id!r}: unknown point {point!r}")
        points.add(point)
    for area in unit.areas:
        members = {p for p, a in point_areas.items() if a == area}
        if not members:
            raise ValueError(f"ventilation unit {unit.id!r}: area {area!r} has no points")
        points |= members
    return frozenset(points)
