"""Upper bounds of the windowed mean over blocks of window positions: which STEL candidates
cannot be the maximum, so the exact search may skip them.

The exact STEL tries two windows per reading (one ending at its start, one starting there),
yet on a working day almost all of them are far below the largest. Cut the window positions
into blocks of ``window / PER_WINDOW`` seconds: block m holds the windows starting in
[grid[m], grid[m + 1]), i.e. ending in [grid[m + PER_WINDOW], grid[m + PER_WINDOW + 1]).
Every such window lies inside the block's *reach* (grid[m], grid[m + PER_WINDOW + 1]] and
covers its *core* [grid[m + 1], grid[m + PER_WINDOW]]. So its integral is at most the
integral of the positive part over the reach, and its monitored time at least the core's
(and at least the coverage floor, which every window that counts meets): the ratio bounds
the mean of every window in the block, wherever it starts in it - the windows whose
monitored time is exactly the floor, which the search also tries (``stel.stel_max``),
included. A block whose bound is below a mean the search is sure to find holds no maximum
(branch and bound). One such mean comes with the bounds: the window starting at the core's
first reading covers the core's readings, so for values >= 0 its mean is at least their
integral over the window length (``Blocks.sure``). Another is the best floor-crossing
window: the search evaluates those (few) in full before it prunes, never skipping one.

The bounds are found with two look-ups per grid point and a difference of the cumulative
integral, so they cost a few hundred small array operations, not passes over the readings.
Every inequality carries a margin far above the rounding of the float search (grid points,
window edges, cumulative sums), so a skipped window's computed mean is strictly below the
maximum found: skipping never changes the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thresholds.series import StepSeries
from thresholds.types import BoolArray, FloatArray, IntArray

PER_WINDOW = 15      # blocks per window length: 1 min for the 15-min STEL
_REL = 1e-12         # margins, relative to the magnitudes rounded (>= 4000 float64 ulps)


@dataclass(frozen=True)
class Blocks:
    """Window positions in blocks (see the module docstring), with a bound per block.

    ``below[i]`` / ``upto[i]`` count the segments starting at or before grid[i] minus /
    plus a margin that covers any rounding of a window edge. ``sure``: a mean some candidate
    window is sure to reach (-inf if none is known), to prune by before searching any.
    """

    grid: FloatArray
    below: IntArray
    upto: IntArray
    bound: FloatArray
    sure: float

    def of_start(self, start: FloatArray) -> IntArray:
        """Block of the windows starting at ``start`` (clipped: the margins cover it)."""
        b = np.searchsorted(self.grid, start, side="right") - 1
        return np.minimum(np.maximum(b, 0), self.bound.size - 1)

    def of_end(self, end: FloatArray) -> IntArray:
        """Block of the windows ending at ``end``."""
        b = np.searchsorted(self.grid, end, side="right") - (1 + PER_WINDOW)
        return np.minimum(np.maximum(b, 0), self.bound.size - 1)

    def segment_starts(self, keep: BoolArray, ends: tuple[int, int],
                       starts: tuple[int, int]) -> tuple[IntArray, IntArray]:
        """Indices j in range(*ends) and k in range(*starts) such that a window of a kept
        block may end at t[j], or start at t[k]; a superset within the margins."""
        if not keep.any():
            empty = np.empty(0, dtype=np.intp)
            return empty, empty
        # runs of kept blocks, one index range each, ascending and disjoint (a block is far
        # wider than the margins)
        flags = np.zeros(keep.size + 2, dtype=np.bool_)
        flags[1:-1] = keep
        change = np.flatnonzero(flags[1:] != flags[:-1])
        heads, tails = change[0::2], change[1::2]          # tails: one past a run's end
        return (_ranges(self.below[heads + PER_WINDOW], self.upto[tails + PER_WINDOW], *ends),
                _ranges(self.below[heads], self.upto[tails], *starts))


def _ranges(lo: IntArray, hi: IntArray, first: int, stop: int) -> IntArray:
    """The integers of the ascending, disjoint ranges [lo, hi) within [first, stop)."""
    lo = np.minimum(np.maximum(lo, first), stop)
    lengths = np.maximum(np.minimum(hi, stop) - lo, 0)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(lo - offsets, lengths) + np.arange(int(offsets[-1] + lengths[-1]))


def block_bounds(series: StepSeries, *, window: float, zero: bool,
                 floor: float) -> Blocks | None:
    """Bounds of the window means per block over [series.start + window, series.end].

    ``zero``: unmonitored time counts as zero and every mean divides by ``window``; else a
    window counts only if held for ``floor`` s (more than 1e-9 of it if ``floor`` is 0), as
    in the STEL search. None where no bound is worth having (no readings, a non-finite
    value, a shift shorter than two windows).
    """
    t = series.t
    n = t.size
    lo, hi = series.start + window, series.end
    if n == 0 or not window > 0 or hi - lo < window:
        return None
    v_bottom, v_top = series.value_range
    if not (np.isfinite(v_top) and np.isfinite(v_bottom)):
        return None
    cum_i = series._cumulative
    if v_bottom >= 0:
        positive = cum_i
        magnitude = float(cum_i[-1])       # sum |area|: what cumulative sums round against
    else:
        area = series._area
        positive = np.zeros(n + 1)
        np.cumsum(np.maximum(area, 0.0), out=positive[1:])
        magnitude = float(np.sum(np.abs(area)))
    if not np.isfinite(positive[-1]) or not np.isfinite(magnitude):
        return None

    step = window / PER_WINDOW
    blocks = int(np.ceil((hi - lo) / step)) + 1        # ends reach past hi
    grid = np.arange(blocks + PER_WINDOW + 1, dtype=np.float64)
    grid *= step
    grid += lo - window
    scale = abs(series.start) + abs(series.end) + window
    margin = _REL * scale
    upto = np.searchsorted(t, grid + margin, side="right")
    below = upto.copy()       # the same but for the few starts within the margin of a point
    for _ in range(4):
        near = np.flatnonzero(below > 0)
        near = near[t[below[near] - 1] > grid[near] - margin]
        if near.size == 0:
            break
        below[near] -= 1
    else:                     # readings packed closer than the margin: search them all
        below = np.searchsorted(t, grid - margin, side="right")

    # integral over the reach: every segment meeting (grid[m] - margin, grid[m+P+1] + margin]
    first = np.maximum(below[:blocks] - 1, 0)
    reach = positive[upto[PER_WINDOW + 1:]] - positive[first]
    slack_i = _REL * ((n + 64) * magnitude + scale * max(v_top, -v_bottom))
    # the core's segments: t[j0] to t[j1], both inside it, and their monitored time
    j0 = upto[1:blocks + 1]
    j1 = below[PER_WINDOW:blocks + PER_WINDOW] - 1
    inside = j1 > j0
    j0 = np.minimum(j0, n - 1)
    j1 = np.maximum(j1, 0)
    core = (t[j1] - t[j0]) - (series.unmonitored_before(j1 + 1)
                              - series.unmonitored_before(j0 + 1))
    slack_h = _REL * ((n + 64) * (series.span + window) + scale)
    core -= slack_h
    least = floor if floor > 0 else 1e-9 * window
    held: FloatArray | float = window if zero else np.maximum(np.where(inside, core, 0.0),
                                                              least)
    bound = (reach + slack_i) / held
    bound *= 1.0 + 1e-9
    return Blocks(grid, below, upto, bound,
                  _sure(series, window, zero, least, j0, j1, inside, core, slack_i))


def _sure(series: StepSeries, window: float, zero: bool, least: float, j0: IntArray,
          j1: IntArray, inside: BoolArray, core: FloatArray, slack_i: float) -> float:
    """A mean the search is sure to reach: that of the candidate window starting at t[j0]
    holds the core's segments, t[j0] to t[j1], so for values >= 0 its mean is at least their
    integral over ``window`` - when it counts (held enough) and ends by the shift's end.
    -inf when no block gives one."""
    t = series.t
    if series.value_range[0] < 0:
        return -np.inf
    sure = inside & (t[j0] + window <= series.end)
    if not zero:
        sure &= core > least
    if not sure.any():
        return -np.inf
    cum_i = series._cumulative
    inner = float(np.max(cum_i[j1[sure]] - cum_i[j0[sure]]))
    return (inner - slack_i) / window * (1.0 - 1e-9)
