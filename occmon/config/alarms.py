"""The ``alarms:`` section of the site configuration (``SiteConfig.alarms``).

Defaults, and why:

* ``deadband_pct`` 5 % of each set-point: an alarm clears only below set-point minus the
  deadband. For H2S (MAC 10 mg/m3) that is 0.5 mg/m3 (~0.35 ppm), above the 0.1 ppm
  resolution of common electrochemical detectors, so sensor noise cannot toggle it.
* ``on_delay`` 2 s for pre-alarm and alarm: one noisy sample does not raise an alarm, and
  2 s is small against the 30 s response time detectors are accepted with (GBZ/T 223).
  The timer is reset only when the value leaves the deadband below the set-point, so a value
  oscillating around the set-point still raises (once) instead of never.
* ``high_alarm_on_delay`` 0 s: the high alarm starts the emergency plan and sits at twice the
  alarm level or more, far from noise; it is never delayed. Reaching it raises the lower
  levels with it.
* ``off_delay`` 5 s: the value must stay below set-point minus deadband this long before the
  level drops, so an alarm cannot chatter on a plume that comes and goes.
* ``stale_after_polls`` 3: a point with no good reading for 3 poll intervals is a fault.
* ``fault_off_delay`` 5 s: a sensor must give good readings this long before its fault clears.
* ``max_shelve`` 8 h: a shelved alarm comes back by itself within one shift.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from occmon.config.lookup import first_by

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Seconds = Annotated[float, Field(ge=0, le=3600)]
Profile = Literal["GBZ/T 223", "GB/T 50493"]

DEADBAND_PCT = 5.0
ON_DELAY_S = 2.0
HIGH_ALARM_ON_DELAY_S = 0.0
OFF_DELAY_S = 5.0
STALE_AFTER_POLLS = 3
FAULT_OFF_DELAY_S = 5.0
MAX_SHELVE_S = 8 * 3600.0


class Level(StrEnum):
    """预报 pre-alarm < 警报 alarm < 高报 high alarm. Stable strings: they go on the wire."""

    PRE_ALARM = "pre_alarm"
    ALARM = "alarm"
    HIGH_ALARM = "high_alarm"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.PRE_ALARM: 1, Level.ALARM: 2, Level.HIGH_ALARM: 3}
LEVELS: tuple[Level, ...] = (Level.PRE_ALARM, Level.ALARM, Level.HIGH_ALARM)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PointAlarm(_Strict):
    """Per-point overrides; anything left out takes the section's default."""

    point: Slug
    enabled: bool = True
    profile: Profile | None = None
    pre_alarm: float | None = Field(default=None, gt=0, description="canonical unit")
    alarm: float | None = Field(default=None, gt=0, description="canonical unit")
    high_alarm: float | None = Field(default=None, gt=0, description="canonical unit")
    deadband_pct: float | None = Field(default=None, ge=0, le=50)
    deadband: float | None = Field(default=None, ge=0, description="absolute, canonical unit")
    on_delay: Seconds | None = None
    high_alarm_on_delay: Seconds | None = None
    off_delay: Seconds | None = None
    stale_after_polls: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _rising(self) -> PointAlarm:
        given = [v for v in (self.pre_alarm, self.alarm, self.high_alarm) if v is not None]
        if given != sorted(given):
            raise ValueError(
                f"point {self.point!r}: set-points must rise pre_alarm <= alarm <= high_alarm"
            )
        if self.deadband is not None and self.deadband_pct is not None:
            raise ValueError(f"point {self.point!r}: give deadband or deadband_pct, not both")
        return self

    def overrides(self) -> dict[str, float]:
        """The set-point overrides in the shape ``thresholds.setpoints(overrides=...)`` takes."""
        pairs = (("pre_alarm", self.pre_alarm), ("alarm", self.alarm),
                 ("high_alarm", self.high_alarm))
        return {k: v for k, v in pairs if v is not None}


class AlarmsConfig(_Strict):
    profile: Profile = "GBZ/T 223"
    deadband_pct: float = Field(default=DEADBAND_PCT, ge=0, le=50)
    on_delay: Seconds = ON_DELAY_S
    high_alarm_on_delay: Seconds = HIGH_ALARM_ON_DELAY_S
    off_delay: Seconds = OFF_DELAY_S
    stale_after_polls: int = Field(default=STALE_AFTER_POLLS, ge=1, le=100)
    fault_off_delay: Seconds = FAULT_OFF_DELAY_S
    max_shelve: float = Field(default=MAX_SHELVE_S, gt=0, le=7 * 86400)
    points: list[PointAlarm] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> AlarmsConfig:
        seen: set[str] = set()
        for entry in self.points:
            if entry.point in seen:
                raise ValueError(f"point {entry.point!r} appears twice under alarms.points")
            seen.add(entry.point)
        return self

    def for_point(self, point: str) -> PointAlarm:
        entry = first_by(self.points, "point", _point).get(point)  # indexed once (lookup.py)
        return entry if entry is not None else PointAlarm(point=point)


def _point(entry: PointAlarm) -> str:
    return entry.point
