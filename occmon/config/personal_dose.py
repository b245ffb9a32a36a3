"""``personal_dose:`` in the site file: the site's rules for the personal dose file
(docs/workers.md, "Personal dose file"). Defaults are occmon's (thresholds.personal_dose)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from thresholds.personal_dose import ALERT_FRACTIONS, DoseRules


class PersonalDoseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mdl_factor: float = Field(
        default=0.5, gt=0, le=1,
        description="a result below the minimum detectable level enters as MDL x this "
                    "(GBZ 128-2019: MDL/2, verify clause)")
    recording_level_msv_per_year: float = Field(
        default=1.0, gt=0, le=20,
        description="recording level, mSv a year over the periods of a year; a result below "
                    "it is marked, still counted")
    alert_fraction: float = Field(
        default=0.75, gt=0, le=1,
        description="an alert when a dose reaches this fraction of its limit")
    pregnancy_msv: float = Field(
        default=1.0, gt=0, le=20,
        description="Hp(10) from a declared pregnancy on (GB 18871-2002: public level, 1 mSv)")

    alert_fractions: tuple[float, ...] = Field(
        default=ALERT_FRACTIONS, max_length=5,
        description="a dose alert is raised once (stored, ledgered, pushed) when a dose "
                    "reaches each of these fractions of its limit; above the limit and a "
                    "period above its investigation level always raise one (docs/workers.md)")
    push: Literal["minimal", "employee", "full"] = Field(
        default="employee",
        description="what a pushed dose alert says: 'minimal' (no worker, no dose), "
                    "'employee' (employee number, quantity, threshold; a pregnancy or "
                    "under-18 limit only as 'special limit'), 'full' (also the doses and "
                    "the limit's scope). Never the name or the national ID")
    push_group: str | None = Field(
        default=None,
        description="the notify contact group told of dose alerts (default: the group of "
                    "the first escalation step)")

    @field_validator("alert_fractions")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("each alert fraction is in (0, 1): above the limit always "
                             "raises an 'exceeded' alert; e.g. [0.3, 0.6, 0.9]")
        if len(set(value)) != len(value):
            raise ValueError("alert fractions must differ, e.g. [0.3, 0.6, 0.9]")
        return tuple(sorted(value))

    def rules(self) -> DoseRules:
        return DoseRules(self.mdl_factor, self.recording_level_msv_per_year,
                         self.alert_fraction, self.pregnancy_msv, self.alert_fractions)
