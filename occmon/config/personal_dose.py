"""``personal_dose:`` in the site file: the site's rules for the personal dose file
(docs/workers.md, "Personal dose file"). Defaults are occmon's (thresholds.personal_dose)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from thresholds.personal_dose import DoseRules


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

    def rules(self) -> DoseRules:
        return DoseRules(self.mdl_factor, self.recording_level_msv_per_year,
                         self.alert_fraction, self.pregnancy_msv)
