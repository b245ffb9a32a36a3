"""A worker's personal chemical exposure over a shift from a worn gas detector.

GBZ 2.1-2019 cl. 3 (DOMAIN.md section 1): C_TWA = sum(C_i T_i) / 8 h, against PC-TWA; an
agent with a MAC only is judged on its highest reading (MAC holds at all times, no time
weighting). Time the worker wore no detector adds no exposure (the ``zero`` convention of
``thresholds.twa.shift_twa``), so C_TWA is a lower bound of the shift: above the limit it is
a proven fail; a pass needs the worn time ``min_coverage`` of the shift, else
``insufficient`` (thresholds/README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from thresholds.personal_noise import REFERENCE_S
from thresholds.twa import DEFAULT_MIN_COVERAGE
from thresholds.types import Verdict


@dataclass(frozen=True)
class ShiftChemical:
    c_twa: float  # mg/m3, sum(C_i T_i) / 8 h
    max: float  # the highest worn reading, mg/m3
    coverage: float
    verdict: Verdict


def shift_chemical(integral: float, highest: float, worn_s: float, shift_s: float, *,
                   pc_twa: float | None, mac: float | None,
                   min_coverage: float = DEFAULT_MIN_COVERAGE) -> ShiftChemical:
    """The shift's C_TWA from ``integral`` = integral of C dt over the worn time (mg/m3 s),
    judged against ``pc_twa`` (else ``mac`` on ``highest``; neither: insufficient)."""
    if not shift_s > 0 or worn_s < 0 or integral < 0:
        raise ValueError("shift length must be > 0 s, worn time and integral >= 0")
    c_twa = integral / REFERENCE_S
    cover = worn_s / shift_s
    value, limit = (c_twa, pc_twa) if pc_twa is not None else (highest, mac)
    verdict: Verdict
    if limit is not None and math.isfinite(value) and value > limit:
        verdict = "fail"
    elif limit is None or cover < min_coverage:
        verdict = "insufficient"
    else:
        verdict = "pass"
    return ShiftChemical(c_twa, highest, cover, verdict)
