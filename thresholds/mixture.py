"""Mixtures of agents with the same health effect, judged together (GBZ 2.1-2019 appendix A,
as DOMAIN.md section 1 gives it): the index I = sum(C_i / L_i) over the agents must not
exceed 1, where C_i is each agent's C_TWA over the same shift and L_i its PC-TWA (x the
shift's reduction factor, the same for every agent of the shift).

Evidence as for one agent (``twa_verdict``): ``fail`` when even the lower bounds (unmonitored
time taken as no exposure) give I > 1; ``insufficient`` when an agent's C_TWA has too little
coverage or no figure; else pass when I <= 1. ``twa.mixture_index`` is the bare arithmetic.

Pure: figures in, figures out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from thresholds.types import Verdict


@dataclass(frozen=True)
class MixtureTerm:
    """One agent's share: C_TWA (and its lower bound) against its limit L (mg/m3)."""

    agent: str
    c_twa: float
    c_twa_lower: float
    limit: float
    sufficient: bool = True

    @property
    def ratio(self) -> float:
        return self.c_twa / self.limit


@dataclass(frozen=True)
class MixtureResult:
    index: float          # sum(C_i / L_i); NaN when an agent has no figure
    index_lower: float    # the same with each lower bound
    terms: tuple[MixtureTerm, ...]
    verdict: Verdict


def mixture_assessment(terms: Sequence[MixtureTerm]) -> MixtureResult:
    """I = sum(C_i / L_i) <= 1 complies; a limit equal to the index passes."""
    if len(terms) < 2:
        raise ValueError("a mixture needs at least two agents")
    for t in terms:
        if not t.limit > 0:
            raise ValueError(f"mixture limit of {t.agent!r} must be > 0, got {t.limit}")
    index = math.fsum(t.c_twa / t.limit for t in terms)
    lower = math.fsum(t.c_twa_lower / t.limit for t in terms
                      if math.isfinite(t.c_twa_lower))
    verdict: Verdict
    if lower > 1.0:
        verdict = "fail"
    elif not math.isfinite(index) or not all(t.sufficient for t in terms):
        verdict = "insufficient"
    else:
        verdict = "pass" if index <= 1.0 else "fail"
    return MixtureResult(index, lower, tuple(terms), verdict)
