"""A working week: LEX,W for noise and the weekly C_TWA with the 40-hour-week reduction factor.

Noise, GBZ 2.2-2007 cl. 11: a week that is not 5 days x 8 h is judged on
LEX,W = 10 lg((1/5) sum_d 10^(0.1 LEX,8h,d)) <= 85 dB(A), each day's LEX,8h normalised from its
own exposure time (``thresholds.noise.lex_8h``); the 1/5 spreads the week's energy over the
five 8-h days of the 40-h reference week.

Chemicals, GBZ 2.1-2019 cl. 3 (PC-TWA: an 8 h day / 40 h week) and Appendix A.7.3 (Brief &
Scala, verify wording, as DOMAIN.md gives it): for a week of more than 40 working hours the
PC-TWA is multiplied by RF = (40/h) x (168 - h)/128; 1 for 40 h or fewer (the rule lowers a
limit for longer exposure and shorter recovery; it never raises one). The weekly C_TWA is the
week's sum(C_i T_i) over 40 h, the 8-h formula's weekly counterpart: with each day's C_TWA
= sum(C_i T_i)/8 h it is sum_d C_TWA,d / 5 (an occmon reading of "40 h week"). ``h`` counts
working hours: a shift's declared breaks are not worked (the caller passes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thresholds.noise import CRITERION_DB, ShiftNoise, lex_w
from thresholds.twa import DEFAULT_MIN_COVERAGE, ShiftTWA, reduction_factor_week
from thresholds.types import Verdict

WEEK_REFERENCE_DAYS = 5.0


def _check_days(n: int, hours: Sequence[float]) -> float:
    if not 0 < n <= 7:
        raise ValueError(f"a week has 1 to 7 working days, got {n}")
    if len(hours) != n:
        raise ValueError(f"{n} days but {len(hours)} working-hour figures")
    h = np.asarray(hours, dtype=np.float64)
    if np.any(~np.isfinite(h)) or np.any(h <= 0) or np.any(h > 24):
        raise ValueError("each day's working hours must be in (0, 24]")
    return float(np.sum(h))


@dataclass(frozen=True)
class WeekNoise:
    """LEX,W of a week; ``lex_w_lower`` takes each day's unmonitored time as quiet."""

    lex_w: float
    lex_w_lower: float
    days: int
    working_hours: float
    coverage: float
    verdict: Verdict


def week_noise(days: Sequence[ShiftNoise], working_hours: Sequence[float],
               min_coverage: float = DEFAULT_MIN_COVERAGE,
               limit_db: float = CRITERION_DB) -> WeekNoise:
    """LEX,W from each worked day's ``shift_noise`` (GBZ 2.2-2007 cl. 11). Fail on proof
    (the days' quiet-gap lower bounds already exceed the limit); a pass needs every day to
    have a figure and the week's mean coverage ``min_coverage``."""
    total = _check_days(len(days), working_hours)
    lexes = [d.lex_8h for d in days]
    energies = [d.lex_8h_lower for d in days if np.isfinite(d.lex_8h_lower)]
    lower = lex_w(energies) if energies else -np.inf   # a day with no data adds no energy
    cover = float(np.mean([d.coverage for d in days]))
    value = lex_w(lexes) if all(np.isfinite(x) for x in lexes) else float("nan")
    verdict: Verdict
    if lower > limit_db:
        verdict = "fail"
    elif np.isnan(value) or cover < min_coverage:
        verdict = "insufficient"
    else:
        verdict = "pass" if value <= limit_db else "fail"
    return WeekNoise(value, lower, len(days), total, cover, verdict)


@dataclass(frozen=True)
class WeekTWA:
    """The week's C_TWA (sum(C_i T_i) / 40 h) against PC-TWA x RF(weekly working hours)."""

    c_twa: float
    c_twa_lower: float
    days: int
    working_hours: float
    reduction_factor: float
    limit: float
    coverage: float
    verdict: Verdict


def week_twa(days: Sequence[ShiftTWA], working_hours: Sequence[float], pc_twa: float,
             min_coverage: float = DEFAULT_MIN_COVERAGE) -> WeekTWA:
    """Weekly C_TWA = sum_d C_TWA,d / 5 from each worked day's ``shift_twa`` (GBZ 2.1-2019
    cl. 3, 40 h week), judged against PC-TWA x ``reduction_factor_week(sum working_hours)``
    (A.7.3). Fail on proof (lower bounds), pass only with ``min_coverage`` (monitored time
    over the shifts' time)."""
    total = _check_days(len(days), working_hours)
    rf = float(reduction_factor_week(total))
    limit = pc_twa * rf
    twas = [d.c_twa for d in days]
    value = float(np.sum(twas)) / WEEK_REFERENCE_DAYS if all(np.isfinite(twas)) else float("nan")
    lower = float(np.sum([d.c_twa_lower for d in days])) / WEEK_REFERENCE_DAYS
    shift_s = sum(d.shift_s for d in days)
    cover = sum(d.coverage * d.shift_s for d in days) / shift_s if shift_s > 0 else 0.0
    verdict: Verdict
    if lower > limit:
        verdict = "fail"
    elif np.isnan(value) or cover < min_coverage:
        verdict = "insufficient"
    else:
        verdict = "pass" if value <= limit else "fail"
    return WeekTWA(value, lower, len(days), total, rf, limit, cover, verdict)
