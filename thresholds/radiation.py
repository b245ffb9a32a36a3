"""Personal dose: per period, per year, 5-year average, investigation level, verdicts.

GB 18871-2002 annex B1.1.1: effective dose 20 mSv a year averaged over 5 consecutive years
(so at most 100 mSv in any 5 consecutive years) and 50 mSv in any single year; lens 150 mSv,
skin and extremities 500 mSv a year. GBZ 128-2019 (edition verify): monitoring period usually
1 month, at most 3; investigation level 5 mSv a year, i.e. 5 / periods-per-year per period.
Hp(10) may be taken as effective dose below 20 mSv a year.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from thresholds.catalogue import RadiationLimits, catalogue

if TYPE_CHECKING:  # numpy on first use: the limits are read by site-config checks too
    from thresholds.types import ArrayLike, FloatArray, Verdict


def radiation_limits(limits: RadiationLimits | None = None) -> RadiationLimits:
    """``limits``, or the catalogue's (GB 18871-2002 annex B1.1.1, GBZ 128-2019)."""
    if limits is not None:
        return limits
    row = catalogue().get("ionising-radiation").radiation
    assert row is not None  # the catalogue validates kind radiation has a radiation block
    return row


def cumulative_dose(readings: ArrayLike) -> float | None:
    """The dose a cumulative Hp(10) log (an electronic dosimeter's running total) shows over
    its readings: the sum of its rises between consecutive valid readings (NaN skipped).

    A fall is a reset of the counter: it adds nothing and counting starts again from the
    reading after it (the dose between the last reading before a reset and the reset is not
    seen, so the figure is a lower bound then). One rule for the daily record and ``occmon
    assess``. ``None`` with fewer than two valid readings (no rise can be seen).
    """
    import numpy as np

    v = np.asarray(readings, dtype=np.float64)
    good = v[np.isfinite(v)]
    if good.size < 2:
        return None
    return float(np.clip(np.diff(good), 0.0, None).sum())


@dataclass(frozen=True)
class DoseAssessment:
    """Dose record of one worker. Years are consecutive blocks of ``periods_per_year`` periods
    from the first one; the last year may be partial."""

    period_msv: FloatArray
    periods_per_year: int
    investigation_level_msv: float
    investigate: tuple[int, ...]
    annual_msv: FloatArray
    max_5y_sum_msv: float
    five_year_average_msv: float
    coverage: float
    broken: tuple[str, ...]
    verdict: Verdict


def investigation_level(periods_per_year: int, limits: RadiationLimits | None = None) -> float:
    """GBZ 128: 5 mSv/y shared equally among the monitoring periods of a year."""
    if not 1 <= periods_per_year <= 366:
        raise ValueError(f"periods per year must be in 1..366, got {periods_per_year}")
    return radiation_limits(limits).investigation_msv_per_year / periods_per_year


def dose_assessment(period_msv: ArrayLike, *, periods_per_year: int = 12,
                    lens_msv: float | None = None, skin_msv: float | None = None,
                    extremities_msv: float | None = None,
                    limits: RadiationLimits | None = None) -> DoseAssessment:
    """Assess consecutive monitoring-period doses (mSv; NaN = period not monitored).

    Fail on proof (a year over 50, any 5 consecutive years over 100, an organ limit over);
    otherwise ``insufficient`` if any period is unmonitored (the target is 100 % monitoring),
    else pass. ``lens_msv`` etc. are annual organ doses for the latest year, if measured.
    """
    import numpy as np

    lim = radiation_limits(limits)
    d = np.asarray(period_msv, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError("period doses must be 1-D")
    if np.any(d[np.isfinite(d)] < 0):
        raise ValueError("doses must be >= 0 mSv")
    level = investigation_level(periods_per_year, lim)
    known = np.where(np.isfinite(d), d, 0.0)
    n_years = -(-d.size // periods_per_year)
    padded = np.zeros(n_years * periods_per_year)
    padded[: d.size] = known
    annual = padded.reshape(n_years, periods_per_year).sum(axis=1)
    csum = np.concatenate(([0.0], np.cumsum(annual)))
    window = min(5, n_years)
    sums_5y = csum[window:] - csum[:-window] if n_years else np.zeros(1)
    max_5y = float(sums_5y.max())
    broken = []
    if np.any(annual > lim.effective_single_year_msv):
        broken.append("single_year_50")
    if max_5y > 5 * lim.effective_5y_avg_msv:
        broken.append("five_year_average_20")
    for name, value, limit in (("lens_150", lens_msv, lim.lens_msv),
                               ("skin_500", skin_msv, lim.skin_msv),
                               ("extremities_500", extremities_msv, lim.extremities_msv)):
        if value is not None and value > limit:
            broken.append(name)
    coverage = float(np.mean(np.isfinite(d))) if d.size else 0.0
    verdict: Verdict = "fail" if broken else ("pass" if coverage == 1.0 else "insufficient")
    return DoseAssessment(
        period_msv=d, periods_per_year=periods_per_year, investigation_level_msv=level,
        investigate=tuple(int(i) for i in np.flatnonzero(known > level)),
        annual_msv=annual, max_5y_sum_msv=max_5y,
        five_year_average_msv=float(annual[-5:].mean()) if n_years else 0.0,
        coverage=coverage, broken=tuple(broken), verdict=verdict)
