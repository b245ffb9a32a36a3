"""occmon's pure domain library: exposure limits, units and exposure metrics.

No I/O (apart from reading its own packaged ``catalogue.yaml`` once), no clock, no network, and
no import of any other occmon package: everything else imports it. See README.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# numpy-free and what nearly every user needs (lookup, set-points, units): imported now
from thresholds.catalogue import (
    Agent,
    Catalogue,
    Limits,
    NoiseLimits,
    RadiationLimits,
    Source,
    catalogue,
    lookup,
    parse_catalogue,
)
from thresholds.errors import CatalogueError, ThresholdsError, UnitError, UnknownAgent
from thresholds.setpoints import PROFILES, SetPoints, setpoints
from thresholds.types import Verdict
from thresholds.units import (
    STANDARD_REFERENCE,
    ReferenceConditions,
    canonical_unit,
    db_mean,
    db_sum,
    mgm3_to_ppm,
    msv_to_usv,
    normalise_unit,
    ppm_to_mgm3,
    to_canonical,
    usv_to_msv,
)

if TYPE_CHECKING:  # the numpy-backed metrics: for type checkers; at run time on first use
    from thresholds.dosefile import (
        DoseFile,
        FiveYears,
        PeriodCheck,
        PeriodResult,
        YearDose,
        dose_file,
        period_investigation_level,
    )
    from thresholds.en689 import En689Result, en689_preliminary, en689_utl_test, u_threshold
    from thresholds.impulse import (
        DEFAULT_IMPULSE_THRESHOLD_DB,
        STRICTEST_PEAK_DB,
        ImpulseShift,
        impulse_shift,
        impulse_shift_series,
    )
    from thresholds.lod import Reported, is_below_lod, parse_result
    from thresholds.mixture import MixtureResult, MixtureTerm, mixture_assessment
    from thresholds.noise import (
        ImpulseResult,
        ShiftNoise,
        impulse_assessment,
        impulse_peak_limit,
        laeq,
        laeq_of_periods,
        lex_8h,
        lex_w,
        noise_dose_percent,
        noise_grade,
        noise_projected_dose,
        shift_noise,
    )
    from thresholds.point import PointMetrics, assess_point
    from thresholds.radiation import (
        DoseAssessment,
        cumulative_dose,
        dose_assessment,
        investigation_level,
        radiation_limits,
    )
    from thresholds.series import StepSeries
    from thresholds.shortterm import (
        PE_RULES,
        Excursion,
        Interval,
        MacResult,
        PeakResult,
        evidence_verdict,
        mac_exceedances,
        mac_exceedances_series,
        peak_excursions,
        peak_excursions_per_shift,
        peak_excursions_series,
    )
    from thresholds.stel import StelResult, rolling_twa, stel_max, stel_max_series
    from thresholds.twa import (
        DEFAULT_MIN_COVERAGE,
        ShiftTWA,
        job_twa,
        mixture_index,
        reduction_factor_day,
        reduction_factor_week,
        shift_twa,
        shift_twa_series,
        twa_verdict,
    )
    from thresholds.week import WeekNoise, WeekTWA, week_noise, week_twa

# where each lazily imported public name lives: ``thresholds.X`` imports its module on first use
_MODULES: dict[str, tuple[str, ...]] = {
    "dosefile": (
        "DoseFile", "FiveYears", "PeriodCheck", "PeriodResult", "YearDose", "dose_file",
        "period_investigation_level",
    ),
    "en689": ("En689Result", "en689_preliminary", "en689_utl_test", "u_threshold"),
    "impulse": (
        "DEFAULT_IMPULSE_THRESHOLD_DB", "STRICTEST_PEAK_DB", "ImpulseShift",
        "impulse_shift", "impulse_shift_series",
    ),
    "lod": ("Reported", "is_below_lod", "parse_result"),
    "mixture": ("MixtureResult", "MixtureTerm", "mixture_assessment"),
    "noise": (
        "ImpulseResult", "ShiftNoise", "impulse_assessment", "impulse_peak_limit", "laeq",
        "laeq_of_periods", "lex_8h", "lex_w", "noise_dose_percent", "noise_grade",
        "noise_projected_dose", "shift_noise",
    ),
    "point": ("PointMetrics", "assess_point"),
    "radiation": (
        "DoseAssessment", "cumulative_dose", "dose_assessment", "investigation_level",
        "radiation_limits",
    ),
    "series": ("StepSeries",),
    "shortterm": (
        "PE_RULES", "Excursion", "Interval", "MacResult", "PeakResult", "evidence_verdict",
        "mac_exceedances", "mac_exceedances_series", "peak_excursions",
        "peak_excursions_per_shift", "peak_excursions_series",
    ),
    "stel": ("StelResult", "rolling_twa", "stel_max", "stel_max_series"),
    "twa": (
        "DEFAULT_MIN_COVERAGE", "ShiftTWA", "job_twa", "mixture_index",
        "reduction_factor_day", "reduction_factor_week", "shift_twa", "shift_twa_series",
        "twa_verdict",
    ),
    "week": ("WeekNoise", "WeekTWA", "week_noise", "week_twa"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "DEFAULT_IMPULSE_THRESHOLD_DB", "DEFAULT_MIN_COVERAGE", "PE_RULES", "PROFILES",
    "STANDARD_REFERENCE", "STRICTEST_PEAK_DB",
    "Agent", "Catalogue", "CatalogueError", "DoseAssessment", "DoseFile", "En689Result",
    "Excursion", "FiveYears",
    "ImpulseResult", "ImpulseShift",
    "Interval", "Limits", "MacResult", "MixtureResult", "MixtureTerm", "NoiseLimits",
    "PeakResult", "PeriodCheck",
    "PeriodResult", "PointMetrics", "RadiationLimits",
    "ReferenceConditions", "Reported", "SetPoints", "ShiftNoise", "ShiftTWA", "Source",
    "StelResult",
    "StepSeries", "ThresholdsError", "UnitError", "UnknownAgent", "Verdict", "WeekNoise",
    "WeekTWA", "YearDose",
    "assess_point", "canonical_unit", "catalogue", "cumulative_dose", "db_mean", "db_sum",
    "dose_assessment", "dose_file",
    "en689_preliminary", "en689_utl_test", "evidence_verdict", "impulse_assessment",
    "impulse_peak_limit", "impulse_shift", "impulse_shift_series", "investigation_level",
    "is_below_lod", "job_twa", "laeq", "laeq_of_periods",
    "lex_8h", "lex_w", "lookup", "mac_exceedances", "mac_exceedances_series",
    "mgm3_to_ppm", "mixture_assessment", "mixture_index",
    "msv_to_usv", "noise_dose_percent", "noise_grade", "noise_projected_dose",
    "normalise_unit", "parse_catalogue", "parse_result", "peak_excursions",
    "peak_excursions_per_shift",
    "peak_excursions_series", "period_investigation_level",
    "ppm_to_mgm3", "radiation_limits",
    "reduction_factor_day", "reduction_factor_week", "rolling_twa", "setpoints",
    "shift_noise", "shift_twa", "shift_twa_series", "stel_max", "stel_max_series",
    "to_canonical", "twa_verdict", "u_threshold",
    "usv_to_msv", "week_noise", "week_twa",
]


def __getattr__(name: str) -> Any:
    """A public name, or a submodule (``thresholds.noise``), imported on first use.

    Importing every module up front loaded numpy (0.2 s of CPU) into processes that only
    look agents up and convert units, ``occmon config check`` among them."""
    module = _WHERE.get(name)
    if module is None:
        if name.startswith("_"):  # dunders asked by tools (``__wrapped__``), private names
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
