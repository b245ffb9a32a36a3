"""EN 689:2018 compliance tests for a similar-exposure group (SEG).

Preliminary test (cl. 5.5.2 / Annex F): 3 results all < 0.1 OEL, or 4 < 0.15 OEL, or 5 < 0.2
OEL -> compliant; any result > OEL -> not compliant; otherwise take at least 6 samples.
Statistical test (Annex F): fit a lognormal; compliant when UTL95,70 < OEL, i.e. when
U_R = (ln OEL - mean ln x) / sd ln x >= U_T(n). UTL95,70 bounds the 95th percentile with 70 %
confidence, so U_T(n) is the one-sided tolerance factor t'_{0.70}(n - 1, z_{0.95} sqrt(n)) /
sqrt(n), a quantile of the noncentral t distribution.

scipy is not a dependency, so U_T is computed here: the noncentral-t CDF
P(T <= t) = E_S[Phi(t S - delta)], S = sqrt(chi2_nu / nu), by quadrature over S, inverted by
bisection. Checked against EN 689's 2.187 (n = 6) and 2.005 (n = 10).

EN 689 assumes personal sampling: for fixed-point sensors the result is advisory only.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from thresholds.types import ArrayLike, FloatArray

Outcome = Literal["compliant", "non-compliant", "inconclusive"]
Z_095 = 1.6448536269514722  # standard normal 95th percentile
CONFIDENCE = 0.70
U_T_CONFIRMED = {6: 2.187, 10: 2.005}  # DOMAIN.md section 6, from EN 689:2018
_PRELIMINARY = {3: 0.10, 4: 0.15, 5: 0.20}


def _phi(x: FloatArray) -> FloatArray:
    """Standard normal CDF via the Numerical Recipes erfc (fractional error < 1.2e-7)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


def _noncentral_t_cdf(t: float, nu: int, delta: float) -> float:
    s = np.linspace(1e-6, 1.0 + 12.0 / math.sqrt(nu), 20001)
    log_f = (math.log(2.0) + 0.5 * nu * math.log(nu / 2.0) - math.lgamma(nu / 2.0)
             + (nu - 1) * np.log(s) - 0.5 * nu * s * s)
    g = _phi(t * s - delta) * np.exp(log_f)
    return float(np.sum((g[1:] + g[:-1]) * np.diff(s)) / 2.0)


@functools.cache
def u_threshold(n: int) -> float:
    """U_T(n) = t'_{0.70}(n - 1, z_0.95 sqrt(n)) / sqrt(n), rounded as EN 689 prints (3 dp)."""
    if n < 2:
        raise ValueError("the U test needs at least 2 results (EN 689 asks for 6)")
    nu, delta = n - 1, Z_095 * math.sqrt(n)
    lo, hi = 0.0, 60.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _noncentral_t_cdf(mid, nu, delta) < CONFIDENCE:
            lo = mid
        else:
            hi = mid
    return round((lo + hi) / 2 / math.sqrt(n), 3)


@dataclass(frozen=True)
class En689Result:
    outcome: Outcome
    test: str
    n: int
    detail: str
    advisory: bool
    u_r: float | None = None
    u_t: float | None = None


def _prepare(results: ArrayLike, oel: float) -> FloatArray:
    x = np.asarray(results, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("results must be a 1-D array of finite numbers")
    if not oel > 0:
        raise ValueError(f"OEL must be > 0, got {oel}")
    return x


def _advice(fixed_point: bool) -> str:
    return " (advisory: EN 689 assumes personal sampling, these are fixed-point data)" \
        if fixed_point else ""


def en689_preliminary(results: ArrayLike, oel: float, *, fixed_point: bool = False
                      ) -> En689Result:
    """EN 689:2018 preliminary test on 3 to 5 results."""
    x = _prepare(results, oel)
    n = int(x.size)
    note = _advice(fixed_point)
    if n and np.any(x > oel):
        return En689Result("non-compliant", "preliminary", n, "a result exceeds the OEL" + note,
                           fixed_point)
    fraction = _PRELIMINARY.get(n)
    if fraction is None:
        return En689Result("inconclusive", "preliminary", n,
                           f"the preliminary test takes 3 to 5 results, got {n}" + note,
                           fixed_point)
    if np.all(x < fraction * oel):
        return En689Result("compliant", "preliminary", n,
                           f"all {n} results below {fraction:g} x OEL" + note, fixed_point)
    return En689Result("inconclusive", "preliminary", n,
                       f"not all {n} results below {fraction:g} x OEL; take at least 6" + note,
                       fixed_point)


def en689_utl_test(results: ArrayLike, oel: float, *, fixed_point: bool = False
                   ) -> En689Result:
    """EN 689:2018 Annex F: compliant when U_R >= U_T(n) (UTL95,70 of a lognormal fit < OEL)."""
    x = _prepare(results, oel)
    n = int(x.size)
    note = _advice(fixed_point)
    if n < 6:
        return En689Result("inconclusive", "UTL95,70", n,
                           f"the statistical test needs at least 6 results, got {n}" + note,
                           fixed_point)
    if np.any(x <= 0):
        raise ValueError("lognormal fit needs results > 0 (substitute values below the LOD)")
    y = np.log(x)
    sd = float(np.std(y, ddof=1))
    u_t = u_threshold(n)
    if sd == 0.0:
        ok = bool(y[0] < math.log(oel))
        return En689Result("compliant" if ok else "non-compliant", "UTL95,70", n,
                           "all results equal" + note, fixed_point, None, u_t)
    u_r = (math.log(oel) - float(np.mean(y))) / sd
    outcome: Outcome = "compliant" if u_r >= u_t else "non-compliant"
    return En689Result(outcome, "UTL95,70", n, f"U_R = {u_r:.3f}, U_T({n}) = {u_t:.3f}" + note,
                       fixed_point, u_r, u_t)
