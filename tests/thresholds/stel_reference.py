"""The largest windowed mean (STEL) in exact rational arithmetic, as a plain reference for
the float search in ``thresholds.stel``.

A window's mean is its integral over its monitored time (``floor`` None: over the window,
unmonitored time counting as zero), and a window counts only if held for ``floor`` s. Both
the integral and the monitored time are piecewise linear in the window's position, so the
maximum is at a window with an edge on a step edge or on a shift edge, or where the
monitored time crosses the floor between those (``crossings``, found here from every
reading's edges, exactly). ``dense`` is the check that needs no such argument: exact means
at evenly spaced positions, a lower bound on the maximum.

The float search places a floor crossing to within rounding of the times, so a maximum
found only there is compared within ``position_slack`` seconds of it (``tolerance``).
"""

from __future__ import annotations

import bisect
from fractions import Fraction

import numpy as np

from thresholds import StepSeries


class ExactStel:
    """The step function of a series in rationals: integral and monitored time up to any
    point, window means, and the STEL over the candidate windows."""

    def __init__(self, series: StepSeries) -> None:
        self.t = [Fraction(x) for x in series.t.tolist()]
        self.s = [Fraction(x) for x in series.s.tolist()]
        self.v = [Fraction(x) for x in series.v.tolist()]
        self.cum_i, self.cum_k = [Fraction(0)], [Fraction(0)]
        for t, s, v in zip(self.t, self.s, self.v, strict=True):
            self.cum_i.append(self.cum_i[-1] + v * (s - t))
            self.cum_k.append(self.cum_k[-1] + (s - t))

    def at(self, q: Fraction | float) -> tuple[Fraction, Fraction]:
        """(integral, monitored time) up to q."""
        x = Fraction(q)
        j = bisect.bisect_right(self.t, x) - 1
        if j < 0:
            return Fraction(0), Fraction(0)
        part = min(x, self.s[j]) - self.t[j]
        return self.cum_i[j] + self.v[j] * part, self.cum_k[j] + part

    def held(self, end: Fraction | float, window: float) -> Fraction:
        """Monitored time of the window (end - window, end]."""
        e = Fraction(end)
        return self.at(e)[1] - self.at(e - Fraction(window))[1]

    def mean(self, end: Fraction | float, window: float, floor: float | None,
             slack: float = 0.0) -> Fraction | None:
        """Mean of the window (end - window, end]; None if held less than ``floor`` s (less
        ``slack``), or not at all. ``floor`` None: unmonitored time counts as zero."""
        e, w = Fraction(end), Fraction(window)
        i1, k1 = self.at(e)
        i0, k0 = self.at(e - w)
        if floor is None:
            return (i1 - i0) / w
        held = k1 - k0
        if held > 0 and held >= Fraction(floor) - Fraction(slack):
            return (i1 - i0) / held
        return None

    def step_ends(self, lo: float, hi: float, window: float) -> list[float]:
        """Ends of the windows with an edge on a step edge or a shift edge, in [lo, hi],
        as float64 forms them (edge + window rounded)."""
        knots = {float(x) for x in self.t} | {float(x) for x in self.s}
        return sorted(e for e in knots | {k + window for k in knots} | {lo, hi}
                      if lo <= e <= hi)

    def crossings(self, lo: float, hi: float, window: float, floor: float) -> list[Fraction]:
        """Exact ends of the windows whose monitored time crosses ``floor`` strictly between
        two consecutive knots of it (a step edge at either window edge, or a shift edge)."""
        w = Fraction(window)
        a, b = Fraction(lo), Fraction(hi)
        edges = set(self.t) | set(self.s)
        knots = sorted({a, b} | {e for e in edges | {x + w for x in edges} if a <= e <= b})
        held = [self.held(e, window) for e in knots]
        f = Fraction(floor)
        out = []
        for e0, e1, h0, h1 in zip(knots, knots[1:], held, held[1:], strict=False):
            if (h0 - f) * (h1 - f) < 0:
                out.append(e0 + (f - h0) * (e1 - e0) / (h1 - h0))
        return out

    def stel_parts(self, lo: float, hi: float, window: float, floor: float | None
                   ) -> tuple[Fraction | None, Fraction | None]:
        """(largest mean at the step and shift edges, largest at the floor crossings)."""
        at_edges = [m for e in self.step_ends(lo, hi, window)
                    if (m := self.mean(e, window, floor)) is not None]
        crossed = [] if floor is None or not floor > 0 else [
            m for e in self.crossings(lo, hi, window, floor)
            if (m := self.mean(e, window, floor)) is not None]
        return max(at_edges, default=None), max(crossed, default=None)

    def stel(self, lo: float, hi: float, window: float, floor: float | None
             ) -> Fraction | None:
        """The largest mean of any window ending in [lo, hi] that counts; None if none."""
        found = [m for m in self.stel_parts(lo, hi, window, floor) if m is not None]
        return max(found) if found else None

    def dense(self, lo: float, hi: float, window: float, floor: float | None,
              points: int) -> Fraction | None:
        """The largest exact mean over ``points`` evenly spaced window ends in [lo, hi]."""
        a, b = Fraction(lo), Fraction(hi)
        means = [m for k in range(points)
                 if (m := self.mean(a + (b - a) * k / max(points - 1, 1), window, floor))
                 is not None]
        return max(means, default=None)


def position_slack(series: StepSeries, window: float) -> float:
    """Seconds within which float64 places a window edge on these times."""
    return 64.0 * float(np.spacing(abs(series.start) + abs(series.end) + window))


def tolerance(series: StepSeries, window: float, floor: float | None,
              at_crossing: bool) -> float:
    """How far the float STEL may be from the exact one: rounding of the sums, and when the
    maximum is only at a floor crossing, the mean's change over ``position_slack`` (its
    slope is at most twice the value range over the monitored time)."""
    low, high = series.value_range
    tol = 1e-10 * max(1.0, abs(low), abs(high))
    if at_crossing and floor is not None and floor > 0:
        tol += 2.0 * (high - low) / floor * position_slack(series, window)
    return tol
