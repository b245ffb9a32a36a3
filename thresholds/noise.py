"""Noise: LAeq,T, LEX,8h, LEX,W, dose, hazard grade and impulse peaks.

GBZ 2.2-2007 section 11: LEX,8h <= 85 dB(A) (5 d x 8 h; other day lengths are normalised to
8 h), LEX,W <= 85 dB(A) for weeks that are not 5 days; impulse peak limits by impulses a day
(Table 10). Equal-energy rule, 3 dB exchange rate:
LAeq,T = 10 lg((1/T) sum t_i 10^(0.1 L_i)); LEX,8h = LAeq,Te + 10 lg(Te / 8 h);
dose % = 100 x 10^(0.1 (LEX,8h - 85)). A 3 dB step multiplies the dose by 10^0.3 = 1.995,
which the "3 dB doubles the dose" rule rounds to 2.
Hazard grades: GBZ/T 229.4-2012 (bands marked verify in the catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thresholds.catalogue import NoiseLimits, catalogue
from thresholds.series import held_and_integral
from thresholds.twa import DEFAULT_MIN_COVERAGE, Unmonitored
from thresholds.types import ArrayLike, FloatArray, Verdict

CRITERION_DB = 85.0
_LN10_10 = float(np.log(10.0) / 10.0)  # 10^(0.1 L) = exp(L ln10 / 10), faster


def _energy(levels: ArrayLike) -> FloatArray:
    """10^(0.1 L) of each level: the sound energy the equal-energy rule sums."""
    level = np.asarray(levels, dtype=np.float64)
    energy = np.multiply(level, _LN10_10, out=np.empty_like(level))
    return np.exp(energy, out=energy)


def _noise_limits(limits: NoiseLimits | None) -> NoiseLimits:
    if limits is not None:
        return limits
    row = catalogue().get("noise").noise
    assert row is not None  # the catalogue validates kind noise has a noise block
    return row


def laeq(times: ArrayLike, levels: ArrayLike, *, max_gap: float, start: float | None = None,
         end: float | None = None) -> float:
    """LAeq over the monitored part of [start, end): energy mean of the held levels (dB)."""
    held, energy = held_and_integral(times, _energy(levels), max_gap=max_gap, start=start,
                                     end=end)
    return float(10.0 * np.log10(energy / held)) if held > 0 else float("nan")


def laeq_of_periods(levels: ArrayLike, hours: ArrayLike) -> float:
    """LAeq of periods of known level and duration (DOMAIN.md worked example)."""
    lv = np.asarray(levels, dtype=np.float64)
    h = np.asarray(hours, dtype=np.float64)
    return float(10.0 * np.log10(np.sum(h * np.power(10.0, 0.1 * lv)) / np.sum(h)))


def lex_8h(laeq_db: float, te_hours: float) -> float:
    """LEX,8h = LAeq,Te + 10 lg(Te / 8 h) (GBZ 2.2-2007 cl. 11)."""
    if not te_hours > 0:
        raise ValueError(f"exposure duration must be > 0 h, got {te_hours}")
    return float(laeq_db + 10.0 * np.log10(te_hours / 8.0))


def lex_w(daily_lex_8h: ArrayLike) -> float:
    """LEX,W = 10 lg((1/5) sum 10^(0.1 LEX,8h,i)) over the days worked in the week
    (GBZ 2.2-2007 cl. 11 for weeks that are not 5 x 8 h)."""
    d = np.asarray(daily_lex_8h, dtype=np.float64)
    if d.ndim != 1 or not 0 < d.size <= 7:
        raise ValueError("LEX,W needs the LEX,8h of 1 to 7 days")
    return float(10.0 * np.log10(np.sum(np.power(10.0, 0.1 * d)) / 5.0))


def noise_dose_percent(lex_db: float | FloatArray) -> float | FloatArray:
    """Dose % = 100 x 10^(0.1 (LEX,8h - 85)); 100 % at the limit."""
    out = 100.0 * np.power(10.0, 0.1 * (np.asarray(lex_db, dtype=np.float64) - CRITERION_DB))
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=np.float64)


def noise_projected_dose(laeq_so_far_db: float, shift_hours: float = 8.0) -> float:
    """Dose % the shift will reach if the LAeq measured so far continues to its end."""
    return float(noise_dose_percent(lex_8h(laeq_so_far_db, shift_hours)))


def noise_grade(lex_db: float, limits: NoiseLimits | None = None) -> str:
    """Hazard grade by LEX,8h (GBZ/T 229.4-2012, bands verify): '0' below 85, else I-IV."""
    grade = "0"
    for band in sorted(_noise_limits(limits).grade_bands, key=lambda b: b.lower_db):
        if lex_db >= band.lower_db:
            grade = band.grade
    return grade


def impulse_peak_limit(impulses_per_day: int, limits: NoiseLimits | None = None
                       ) -> float | None:
    """Peak limit dB for a daily impulse count (GBZ 2.2-2007 Table 10): n <= 100: 140,
    <= 1000: 130, <= 10000: 120. None above 10000: the table does not cover it."""
    if impulses_per_day < 0:
        raise ValueError("impulse count must be >= 0")
    for band in sorted(_noise_limits(limits).impulse_peak, key=lambda b: b.max_impulses):
        if impulses_per_day <= band.max_impulses:
            return band.peak_db
    return None


@dataclass(frozen=True)
class ImpulseResult:
    count: int
    max_peak_db: float
    limit_db: float | None
    verdict: Verdict


def impulse_assessment(peaks_db: ArrayLike) -> ImpulseResult:
    """A day's impulse peaks against the count-based limit; above 10000 impulses: insufficient
    (outside the table), never a silent pass."""
    p = np.asarray(peaks_db, dtype=np.float64)
    limit = impulse_peak_limit(int(p.size))
    top = float(p.max()) if p.size else float("nan")
    if limit is None:
        return ImpulseResult(int(p.size), top, None, "insufficient")
    return ImpulseResult(int(p.size), top, limit, "fail" if p.size and top > limit else "pass")


@dataclass(frozen=True)
class ShiftNoise:
    """A shift's noise exposure; ``lex_8h_lower`` counts unmonitored time as quiet."""

    laeq: float
    lex_8h: float
    lex_8h_lower: float
    dose_percent: float
    coverage: float
    min_coverage: float

    def verdict(self, limit_db: float = CRITERION_DB) -> Verdict:
        """LEX,8h <= 85 dB(A) passes (GBZ 2.2-2007 cl. 11). Fail on proof: even the energy of
        the monitored part alone exceeds it; a pass needs ``min_coverage``."""
        if self.lex_8h_lower > limit_db:
            return "fail"
        if np.isnan(self.lex_8h) or self.coverage < self.min_coverage:
            return "insufficient"
        return "pass" if self.lex_8h <= limit_db else "fail"


def shift_noise(times: ArrayLike, levels: ArrayLike, *, start: float, hours: float = 8.0,
                max_gap: float, unmonitored: Unmonitored = "missing",
                min_coverage: float = DEFAULT_MIN_COVERAGE) -> ShiftNoise:
    """LAeq, LEX,8h and dose for a shift of ``hours`` from ``start``.

    ``missing``: LAeq of the monitored part stands for the whole shift, Te = shift length.
    ``zero``: unmonitored time is quiet (no exposure), its energy is zero.
    """
    shift_s = hours * 3600.0
    held, energy = held_and_integral(times, _energy(levels), max_gap=max_gap, start=start,
                                     end=start + shift_s)
    if held <= 0:
        nan = float("nan")
        return ShiftNoise(nan, nan, -np.inf, nan, 0.0, min_coverage)
    level = float(10.0 * np.log10(energy / held))
    lower = float(10.0 * np.log10(energy / (8 * 3600.0)))
    if unmonitored == "zero":
        lex, coverage = lower, 1.0
    elif unmonitored == "missing":
        lex, coverage = lex_8h(level, hours), held / shift_s
    else:
        raise ValueError(f"unmonitored must be 'missing' or 'zero', got {unmonitored!r}")
    return ShiftNoise(level, lex, lower, float(noise_dose_percent(lex)), coverage, min_coverage)
