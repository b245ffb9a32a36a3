"""The ``records:`` section: shifts, jobs (岗位) with time-activity profiles, day closing,
signers and where signed days are pushed (``SiteConfig.records``).

Without ``shifts`` the day is taken as three 8-h shifts from 00:00 (continuous operation)
and a day's C_TWA is its highest shift C_TWA: a fixed point has no single worker's shift.
"""

from __future__ import annotations

import datetime as dt
import re
from itertools import pairwise
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import thresholds

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
DEFAULT_CLOSE_GRACE_MIN = 15.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _minutes(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    return int(hh) * 60 + int(mm)


class ShiftBreak(_Strict):
    """A break inside a shift (meal, rest): not working time, so not counted in the working
    hours the long-shift reduction factor (GBZ 2.1-2019 A.7.3) is computed from."""

    start: str = Field(description="HH:MM local time, inside the shift")
    minutes: float = Field(gt=0, le=720)

    @field_validator("start")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"break start must be HH:MM (00:00-23:59), got {value!r}")
        return value


class Shift(_Strict):
    """A work shift in site local time; it may run past midnight (it belongs to its start day)."""

    name: str = Field(min_length=1, description="e.g. 白班")
    start: str = Field(description="HH:MM local time")
    hours: float = Field(gt=0, le=24)
    breaks: list[ShiftBreak] = Field(
        default_factory=list, description="breaks inside the shift (start HH:MM, minutes): "
        "the reduction factor uses the working hours, hours minus the breaks")

    @field_validator("start")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"start must be HH:MM (00:00-23:59), got {value!r}")
        return value

    @model_validator(mode="after")
    def _breaks_inside(self) -> Shift:
        begin, length = _minutes(self.start), self.hours * 60.0
        spans = []
        for i, brk in enumerate(self.breaks):
            offset = (_minutes(brk.start) - begin) % 1440   # minutes into the shift
            if offset + brk.minutes > length:
                raise ValueError(
                    f"breaks[{i}] ({brk.start}, {brk.minutes:g} min) does not fit inside the "
                    f"shift {self.start} + {self.hours:g} h: move it or shorten it")
            spans.append((offset, offset + brk.minutes))
        if sum(b.minutes for b in self.breaks) >= length:
            raise ValueError("breaks take the whole shift: a shift needs working time")
        spans.sort()
        for (_, end), (start, _) in pairwise(spans):
            if start < end:
                raise ValueError("breaks overlap: give each break its own time")
        return self

    @property
    def working_hours(self) -> float:
        """Hours worked: the shift less its breaks."""
        return self.hours - sum(b.minutes for b in self.breaks) / 60.0

    def start_time(self) -> dt.time:
        hh, mm = self.start.split(":")
        return dt.time(int(hh), int(mm))


class ProfileStep(_Strict):
    """Time spent at one point during the shift (GBZ 159 time-activity profile)."""

    point: Slug
    hours: float = Field(gt=0, le=24)


class Job(_Strict):
    """A job (岗位) whose daily TWA is built from the points its workers visit."""

    id: Slug
    name: str = Field(min_length=1, description="岗位 name, e.g. 巡检工")
    profile: list[ProfileStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _within_a_day(self) -> Job:
        total = sum(step.hours for step in self.profile)
        if total > 24:
            raise ValueError(f"profile totals {total:g} h, more than a day")
        return self


class Push(_Strict):
    """Where each signed day goes: an HTTP endpoint (POST JSON) and/or a folder."""

    url: str | None = Field(default=None, pattern=r"^https?://")
    folder: Path | None = None
    retries: int = Field(default=3, ge=0, le=20)
    backoff_s: float = Field(default=1.0, ge=0, le=600)
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class MixtureGroup(_Strict):
    """Agents with the same health effect (target organ), judged together on each shift:
    sum(C_TWA_i / PC-TWA_i) <= 1 (GBZ 2.1-2019 appendix A). Which agents share an effect is
    the site's (its hygienist's) call, so occmon takes no group by default."""

    id: Slug
    name: str = Field(min_length=1, description="e.g. 苯系物 (苯、甲苯、二甲苯)")
    effect: str = Field(min_length=1, description="the shared health effect, e.g. 中枢神经抑制")
    agents: list[str] = Field(min_length=2, description="catalogue ids, names or CAS; each "
                              "with a PC-TWA (or a dust PC-TWA)")
    points: list[Slug] = Field(
        default_factory=list, description="the points measuring them at one place; empty: "
        "each area is one place, with its points whose agent is in the group")

    @field_validator("agents")
    @classmethod
    def _known_agents(cls, value: list[str]) -> list[str]:
        ids = []
        for name in value:
            try:
                agent = thresholds.lookup(name)
            except thresholds.UnknownAgent as exc:
                raise ValueError(f"agents: {exc}") from None
            lim = agent.limits()
            if lim.pc_twa is None and lim.pc_twa_total is None:
                raise ValueError(f"agents: {agent.id!r} has no PC-TWA; a mixture is judged "
                                 "on C_TWA / PC-TWA (MAC-only agents are judged alone)")
            ids.append(agent.id)
        if len(set(ids)) != len(ids):
            raise ValueError(f"agents: an agent is listed twice ({ids})")
        return ids


class RecordsConfig(_Strict):
    shifts: list[Shift] = Field(default_factory=list)
    jobs: list[Job] = Field(default_factory=list)
    close_after: str = Field(default="00:30", description="HH:MM local: when the day closer "
                             "closes yesterday (never before close_grace_min allows)")
    close_grace_min: float = Field(
        default=DEFAULT_CLOSE_GRACE_MIN, ge=0, le=1440,
        description="minutes after a day ends (site time) before it may be closed or signed: "
                    "room for late data; the one rule of the CLI, the API and the day closer")
    min_coverage: float = Field(default=0.75, gt=0, le=1)
    signers: list[str] = Field(default_factory=list, description="who may sign a day")
    push: Push | None = None
    mixtures: list[MixtureGroup] = Field(
        default_factory=list, description="agents with the same health effect, judged "
        "together: sum(C_i / L_i) <= 1 per shift (GBZ 2.1-2019 appendix A)")

    @field_validator("close_after")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"close_after must be HH:MM, got {value!r}")
        return value
