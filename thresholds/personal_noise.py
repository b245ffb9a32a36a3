"""A worker's personal noise: the shift's LEX,8h and dose from the A-weighted energy a worn
dosimeter measured, the shift's impulses, and the week's LEX,W.

GBZ 2.2-2007 cl. 11 (DOMAIN.md section 2), equal-energy rule with a 3 dB exchange rate:
- E = integral of 10^(0.1 LA(t)) dt over the worn time of the shift (s); time the worker wore
  nothing adds no energy (the ``zero`` convention of ``thresholds.noise.shift_noise``), so
  LEX,8h = 10 lg(E / 8 h) is the shift's exposure normalised to 8 h whatever its length;
- dose % = 100 x 10^(0.1 (LEX,8h - 85)): 100 % is 85 dB(A) for 8 h, +3 dB doubles it;
- impulses: the day's LCpeak limit by the count of impulses (Table 10: <= 100: 140 dB(C),
  <= 1000: 130, <= 10000: 120), ``thresholds.impulse``;
- LEX,W = 10 lg((1/5) sum_d 10^(0.1 LEX,8h,d)) over the days worked in the week: the criterion
  (85 dB(A)) for a week that is not 5 days of 8 h; for a 5-day week each LEX,8h is judged.

Verdicts (occmon policy, thresholds/README.md): a LEX,8h above 85 is a proven fail even when
only part of the shift was measured (the unmeasured part can only add energy); a pass needs
the worn coverage ``min_coverage`` of the shift, else ``insufficient``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from thresholds.noise import CRITERION_DB, lex_w, noise_dose_percent
from thresholds.twa import DEFAULT_MIN_COVERAGE
from thresholds.types import Verdict

REFERENCE_S = 8 * 3600.0  # the 8-h reference day of LEX,8h
WEEK_REFERENCE_DAYS = 5  # GBZ 2.2-2007 cl. 11: 5 days x 8 h; other weeks use LEX,W


def lex_8h_of_energy(energy_s: float) -> float | None:
    """LEX,8h = 10 lg(E / 28 800 s), E = integral 10^(0.1 LA) dt (s); None without energy."""
    if not energy_s > 0 or not math.isfinite(energy_s):
        return None
    return 10.0 * math.log10(energy_s / REFERENCE_S)


@dataclass(frozen=True)
class ShiftExposure:
    """One shift of one worker: LEX,8h, dose %, the LAeq over the worn time, coverage."""

    lex_8h: float | None
    dose_percent: float | None
    laeq_worn: float | None
    worn_s: float
    shift_s: float
    verdict: Verdict

    @property
    def coverage(self) -> float:
        return self.worn_s / self.shift_s if self.shift_s > 0 else 0.0


def shift_exposure(energy_s: float, worn_s: float, shift_s: float,
                   min_coverage: float = DEFAULT_MIN_COVERAGE,
                   limit_db: float = CRITERION_DB) -> ShiftExposure:
    """The shift's figures from its worn energy ``energy_s`` over ``worn_s`` of ``shift_s``."""
    if not shift_s > 0:
        raise ValueError(f"shift length must be > 0 s, got {shift_s}")
    if worn_s < 0 or energy_s < 0:
        raise ValueError("worn time and energy must be >= 0")
    lex = lex_8h_of_energy(energy_s)
    dose = None if lex is None else float(noise_dose_percent(lex))
    laeq = 10.0 * math.log10(energy_s / worn_s) if worn_s > 0 and energy_s > 0 else None
    verdict: Verdict
    if lex is not None and lex > limit_db:
        verdict = "fail"
    elif lex is None or worn_s / shift_s < min_coverage:
        verdict = "insufficient"
    else:
        verdict = "pass"
    return ShiftExposure(lex, dose, laeq, worn_s, shift_s, verdict)


def day_lex_8h(energies_s: Sequence[float]) -> float | None:
    """A day's LEX,8h from the energies of its shifts (an overtime second shift adds up)."""
    return lex_8h_of_energy(float(sum(energies_s)))


@dataclass(frozen=True)
class WeekExposure:
    """A week's LEX,W; ``applies``: the week is not 5 days, so LEX,W is its criterion."""

    lex_w: float
    days: int
    applies: bool
    verdict: Verdict


def week_exposure(daily_lex_8h: Sequence[float], limit_db: float = CRITERION_DB
                  ) -> WeekExposure:
    """LEX,W of the days worked (1 to 7, each day's LEX,8h) against 85 dB(A)."""
    value = lex_w(list(daily_lex_8h))
    return WeekExposure(value, len(daily_lex_8h), len(daily_lex_8h) != WEEK_REFERENCE_DAYS,
                        "pass" if value <= limit_db else "fail")
