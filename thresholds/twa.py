"""Shift C_TWA, long-shift reduction factors, job (岗位) TWA and additive mixtures.

GBZ 2.1-2019 appendix A / GBZ 159: C_TWA = sum(C_i T_i) / 8 h. Unmonitored time counts as
zero only where the caller says no exposure occurs then (``unmonitored="zero"``); otherwise it
is missing data, lowers ``coverage`` and, below ``min_coverage``, the verdict is
``insufficient``.

Minimum coverage is an occmon policy, not a figure of the standard: 0.75 (6 of 8 h monitored).
Below it a TWA extrapolated from the monitored part is no basis for a pass, though the lower
bound (missing time as zero) can still prove a fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from thresholds.series import StepSeries
from thresholds.types import ArrayLike, FloatArray, Verdict

EIGHT_HOURS_S = 8 * 3600.0
DEFAULT_MIN_COVERAGE = 0.75
Unmonitored = Literal["missing", "zero"]


@dataclass(frozen=True)
class ShiftTWA:
    """C_TWA of one shift with how much of it was monitored.

    ``c_twa`` extrapolates the monitored mean over the unmonitored time ("missing") or takes
    that time as zero ("zero"); ``c_twa_lower`` always takes it as zero, so it is a lower
    bound for non-negative concentrations.
    """

    c_twa: float
    c_twa_lower: float
    coverage: float
    monitored_fraction: float
    monitored_s: float
    shift_s: float
    unmonitored: Unmonitored
    min_coverage: float

    @property
    def sufficient(self) -> bool:
        return self.coverage >= self.min_coverage


def shift_twa(times: ArrayLike, values: ArrayLike, *, start: float, hours: float = 8.0,
              max_gap: float, unmonitored: Unmonitored = "missing",
              min_coverage: float = DEFAULT_MIN_COVERAGE) -> ShiftTWA:
    """C_TWA over the shift [start, start + hours) (GBZ 2.1-2019 appendix A, GBZ 159).

    The divisor is 8 h whatever the shift length, as the formula states; a shift under 8 h
    thus counts the rest of the 8 h as zero, one over 8 h is compared with PC-TWA x RF
    (``reduction_factor_day``).
    """
    if not hours > 0:
        raise ValueError(f"shift hours must be > 0, got {hours}")
    shift_s = hours * 3600.0
    series = StepSeries.build(times, values, max_gap=max_gap, start=start, end=start + shift_s)
    return _shift_twa(series, shift_s, unmonitored, min_coverage)


def shift_twa_series(series: StepSeries, *, unmonitored: Unmonitored = "missing",
                     min_coverage: float = DEFAULT_MIN_COVERAGE) -> ShiftTWA:
    """``shift_twa`` of a series already clipped to its shift: [series.start, series.end)."""
    if not series.span > 0:
        raise ValueError(f"the shift must last > 0 s, got {series.span}")
    return _shift_twa(series, series.span, unmonitored, min_coverage)


def _shift_twa(series: StepSeries, shift_s: float, unmonitored: Unmonitored,
               min_coverage: float) -> ShiftTWA:
    monitored = series.monitored()
    integral = series.integral()
    lower = integral / EIGHT_HOURS_S
    if unmonitored == "zero":
        c_twa, coverage = lower, 1.0
    elif unmonitored == "missing":
        c_twa = integral / monitored * shift_s / EIGHT_HOURS_S if monitored > 0 else float("nan")
        coverage = monitored / shift_s
    else:
        raise ValueError(f"unmonitored must be 'missing' or 'zero', got {unmonitored!r}")
    return ShiftTWA(c_twa, lower, coverage, monitored / shift_s, monitored, shift_s,
                    unmonitored, min_coverage)


def twa_verdict(twa: ShiftTWA, pc_twa: float, rf: float = 1.0) -> Verdict:
    """C_TWA against PC-TWA x RF: fail on proof (even the lower bound is over), else pass only
    with enough coverage. "Not exceeding" passes: the limit is a maximum (GBZ 2.1 cl. 3)."""
    limit = pc_twa * rf
    if twa.c_twa_lower > limit:
        return "fail"
    if not twa.sufficient or np.isnan(twa.c_twa):
        return "insufficient"
    return "pass" if twa.c_twa <= limit else "fail"


@overload
def reduction_factor_day(hours: float) -> float: ...
@overload
def reduction_factor_day(hours: FloatArray) -> FloatArray: ...
def reduction_factor_day(hours: float | FloatArray) -> float | FloatArray:
    """Brief & Scala, GBZ 2.1-2019 A.7.3 (verify wording): RF = (8/h) (24 - h)/16 for h > 8.

    Applies to PC-TWA only (never to STEL, MAC or PE); 1 for days of 8 h or less.
    """
    h = np.asarray(hours, dtype=np.float64)
    if np.any((h <= 0) | (h > 24)):
        raise ValueError("daily hours must be in (0, 24]")
    rf = np.where(h > 8, (8.0 / h) * (24.0 - h) / 16.0, 1.0)
    return float(rf) if rf.ndim == 0 else rf


@overload
def reduction_factor_week(hours: float) -> float: ...
@overload
def reduction_factor_week(hours: FloatArray) -> FloatArray: ...
def reduction_factor_week(hours: float | FloatArray) -> float | FloatArray:
    """Brief & Scala, GBZ 2.1-2019 A.7.3 (verify wording): RF = (40/h)(168 - h)/128 for h > 40."""
    h = np.asarray(hours, dtype=np.float64)
    if np.any((h <= 0) | (h > 168)):
        raise ValueError("weekly hours must be in (0, 168]")
    rf = np.where(h > 40, (40.0 / h) * (168.0 - h) / 128.0, 1.0)
    return float(rf) if rf.ndim == 0 else rf


def job_twa(profile: Sequence[tuple[str, float]], point_values: Mapping[str, float]) -> float:
    """Job (岗位) C_TWA from a time-activity profile (GBZ 159 定点采样, GBZ 2.1 appendix A).

    ``profile`` is [(point_id, hours), ...] for one shift, ``point_values`` the TWA or mean
    concentration at each point over the time spent there. C_TWA = sum(C_j h_j) / 8; hours not
    in the profile count as no exposure, so the profile must describe the whole shift.
    """
    if not profile:
        raise ValueError("time-activity profile is empty")
    missing = [p for p, _ in profile if p not in point_values]
    if missing:
        raise ValueError(f"no concentration for point(s) {missing}")
    hours = np.array([h for _, h in profile], dtype=np.float64)
    if np.any(hours < 0) or not np.all(np.isfinite(hours)):
        raise ValueError("profile hours must be finite and >= 0")
    if hours.sum() > 24:
        raise ValueError(f"profile totals {hours.sum():g} h, more than a day")
    conc = np.array([point_values[p] for p, _ in profile], dtype=np.float64)
    return float(np.dot(conc, hours) / 8.0)


def mixture_index(concentrations: ArrayLike, limits: ArrayLike) -> FloatArray | float:
    """Additive mixture index sum(C_i / L_i) over the last axis; <= 1 complies (GBZ 2.1-2019
    appendix A, agents with the same target organ). Vectorised: shape (..., n_agents)."""
    c = np.asarray(concentrations, dtype=np.float64)
    lim = np.asarray(limits, dtype=np.float64)
    if np.any(lim <= 0):
        raise ValueError("mixture limits must be > 0")
    out = np.sum(c / lim, axis=-1)
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=np.float64)
