"""The rolling 15-min TWA and its exact maximum, the STEL (PC-STEL, GBZ 2.1-2019 clause 3).

All windows are computed on the step function of ``thresholds.series`` without any Python
loop over readings: a window's integral is a difference of the cumulative integral at its
two ends, found by exact ranks (``StepSeries.cumulative_at``). The search skips the blocks
of windows that provably cannot hold the maximum (``thresholds.bounds``).

A window with unmonitored time inside is a 15-min TWA over its monitored time (the GBZ 159 /
GBZ 2.1-2019 appendix A sum(C_i T_i) / T, T the time held; unmonitored time is missing data,
DOMAIN.md section 1) and counts only if held for ``min_window_coverage`` of the window, an
occmon policy (``thresholds.twa``). That floor bounds the set of windows searched, and the
maximum can sit on its boundary: see ``stel_max``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from thresholds.bounds import block_bounds
from thresholds.series import StepSeries
from thresholds.twa import DEFAULT_MIN_COVERAGE, Unmonitored
from thresholds.types import ArrayLike, BoolArray, FloatArray, IntArray

STEL_WINDOW_S = 15 * 60.0


def _window_means(series: StepSeries, ends: FloatArray, window: float,
                  unmonitored: Unmonitored, min_window_coverage: float
                  ) -> tuple[FloatArray, FloatArray]:
    x, cum_i, cum_k = series.knots()
    if x.size == 0:
        nan = np.full(ends.shape, np.nan)
        return nan, np.zeros(ends.shape)
    integral = np.interp(ends, x, cum_i) - np.interp(ends - window, x, cum_i)
    held = np.interp(ends, x, cum_k) - np.interp(ends - window, x, cum_k)
    cover = held / window
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = integral / window if unmonitored == "zero" else integral / held
    ok = cover >= min_window_coverage if unmonitored == "missing" else np.ones_like(cover, bool)
    return np.where(ok & (held > 0) | (unmonitored == "zero"), mean, np.nan), cover


def rolling_twa(times: ArrayLike, values: ArrayLike, *, max_gap: float,
                window: float = STEL_WINDOW_S, ends: ArrayLike | None = None,
                unmonitored: Unmonitored = "missing",
                min_window_coverage: float = DEFAULT_MIN_COVERAGE) -> FloatArray:
    """Time-weighted mean over (e - window, e] for each end e (default: each reading's time
    plus its hold, i.e. the window closing when that reading stops holding).

    NaN where the window's monitored share is below ``min_window_coverage`` (``missing``);
    with ``unmonitored="zero"`` gaps count as zero concentration and the divisor is ``window``.
    """
    series = StepSeries.build(times, values, max_gap=max_gap)
    e = series.s if ends is None else np.asarray(ends, dtype=np.float64)
    mean, _ = _window_means(series, e, window, unmonitored, min_window_coverage)
    return mean


@dataclass(frozen=True)
class StelResult:
    """Largest 15-min TWA in [start, end) and where its window closes (seconds)."""

    stel_max: float
    window_end: float
    windows_evaluated: int
    coverage: float


def _beaten(series: StepSeries, shift: float, window_start: bool) -> BoolArray:
    """Candidate windows with one edge at a segment start t[k] and the other at
    t[k] + ``shift`` that a neighbouring candidate strictly beats: no need to evaluate them.

    Between consecutive candidates the windowed mean is monotone, with a slope set by the
    values under the two edges. Where the edge at t[k] passes from segment k-1 straight into
    segment k while the far edge stays inside one monitored segment, the slope changes by the
    step v[k] - v[k-1] alone, and t[k] can be a local maximum only if the step goes up at a
    window start or down at a window end. If not, the neighbour on the rising side is
    strictly better with the same monitored time (both edges stay monitored), so the exact
    maximum is unchanged. Far edges within a hair of unmonitored time (a gap, before the
    first reading, after the last) are always evaluated.
    """
    t, s, v = series.t, series.s, series.v
    n = t.size
    beaten = np.zeros(n, dtype=np.bool_)
    if n < 2:
        return beaten
    steps = np.less(v[:-1], v[1:]) if not window_start else np.greater(v[:-1], v[1:])
    np.logical_and(steps, series._contiguous, out=beaten[1:])
    # unmonitored stretches, closed (their ends are step edges too), as seen from t[k]
    gap = series._gap_after
    far = abs(shift) + 1.0                       # beyond every t[k] once shifted
    lows = np.concatenate(([t[0] - far], s[gap], [s[-1]])) - shift
    highs = np.concatenate(([t[0]], t[gap + 1], [t[-1] + far])) - shift
    hair = 1e-9 * (abs(float(t[-1])) + abs(float(t[0])) + far)
    lows -= hair
    highs += hair
    first = series.started(lows)                 # t[first:last] lie within each stretch
    last = np.maximum.accumulate(series.started(highs))
    first = np.maximum(first, np.concatenate(([0], last[:-1])))   # disjoint, in order
    lengths = np.empty(2 * first.size + 1, dtype=np.intp)
    lengths[0:-1:2] = first - np.concatenate(([0], last[:-1]))
    lengths[1::2] = last - first
    lengths[-1] = n - last[-1]
    near = np.repeat(np.tile([False, True], first.size + 1)[:-1], lengths)
    beaten &= ~near
    return beaten


def stel_max(times: ArrayLike, values: ArrayLike, *, start: float, end: float, max_gap: float,
             window: float = STEL_WINDOW_S, unmonitored: Unmonitored = "missing",
             min_window_coverage: float = DEFAULT_MIN_COVERAGE) -> StelResult:
    """Maximum 15-min TWA over every window inside [start, end) (GBZ 2.1-2019 cl. 3, PC-STEL).

    Exact for a step function. Between positions where either window edge meets a step edge
    the window's integral and its monitored time are both linear in its position, so their
    ratio, the mean, is monotone there. The maximum over the windows that count is thus at
    a window ending at a step edge, or starting at one (or at a shift edge), or where the
    monitored time crosses the coverage floor (``min_window_coverage`` x window) between
    two step edges: the first or last window held enough, whose mean the monotone piece may
    make the largest (readings starting mid-shift at a high level, or stopping at one).
    All of these are tried. NaN when the shift is shorter than the window or no window is
    monitored enough.
    """
    series = StepSeries.build(times, values, max_gap=max_gap, start=start, end=end)
    return stel_max_series(series, window=window, unmonitored=unmonitored,
                           min_window_coverage=min_window_coverage)


def stel_max_series(series: StepSeries, *, window: float = STEL_WINDOW_S,
                    unmonitored: Unmonitored = "missing",
                    min_window_coverage: float = DEFAULT_MIN_COVERAGE) -> StelResult:
    """``stel_max`` of a series already clipped to the shift [series.start, series.end).

    The step edges are the segment starts ``t`` plus the ends ``s`` not followed at once by
    the next segment (a gap, or the last). Each candidate window needs the cumulative
    integral and monitored time at both edges: at a step edge they are known, at the other
    edge ``StepSeries.cumulative_at`` finds them by an exact rank. The windows where the
    monitored time crosses the coverage floor (``_floor_crossings``; few, one per such
    crossing, none without gaps) are all evaluated first. Other candidates that cannot be
    the maximum are skipped: those in blocks of window positions whose bound is below a mean
    already found (``thresholds.bounds``), or else those a neighbour provably beats
    (``_beaten``). ``windows_evaluated`` still counts every candidate inside the shift.
    """
    return _stel_max(series, window, unmonitored, min_window_coverage, prune=None)


_PRUNE_MIN_SEGMENTS = 4096   # below this the whole search costs less than the bounds
_PRUNE_MAX_SHARE = 0.4       # bounds keeping more blocks than this: search everything
_FIRST_BLOCKS = 16           # blocks searched first, for a mean to prune the others by
_BATCH_MAX = 8192            # candidates evaluated in one batch, above: group by group
_Best = tuple[float, float]  # (largest mean, the earliest end of a window with it)


def _stel_max(series: StepSeries, window: float, unmonitored: Unmonitored,
              min_window_coverage: float, *, prune: bool | None) -> StelResult:
    """``stel_max_series``; ``prune`` True / False forces / forbids the block bounds (tests),
    None uses them on long series."""
    start, end = series.start, series.end
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    lo, hi = start + window, end
    t, s = series.t, series.s
    n = t.size
    if hi < lo or n == 0:
        return StelResult(float("nan"), float("nan"), 0, cover)
    cum_i = series._cumulative             # cum_i[j]: integral up to t[j]
    floor = min_window_coverage * window

    def means(integral: FloatArray, held: FloatArray) -> FloatArray:
        """Window means; -inf for a window not monitored enough to count."""
        if unmonitored == "zero":
            mean: FloatArray = integral / window
            return mean
        ok = held >= floor
        if not floor > 0:       # held comes from a difference: a window all in a gap can
            ok &= held > 1e-9 * window   # come out at rounding noise instead of 0
        mean = np.divide(integral, held, out=np.full(held.shape, -np.inf), where=ok)
        return mean

    def ending(edge: FloatArray, known: IntArray, u_index: IntArray
               ) -> tuple[FloatArray, FloatArray]:
        """Means and ends of the windows ending at the step edges ``edge``, where the
        integral and unmonitored time are known: ``cum_i[known]``,
        ``unmonitored_before(u_index)``."""
        i_back, u_back = series.cumulative_at(edge - window)
        np.subtract(cum_i[known], i_back, out=i_back)
        u_back -= series.unmonitored_before(u_index)     # held = window - unmonitored inside
        u_back += window
        return means(i_back, u_back), edge

    def starting(edge: FloatArray, known: IntArray, u_index: IntArray
                 ) -> tuple[FloatArray, FloatArray]:
        """Means and ends of the windows starting at the step edges ``edge``."""
        ends = edge + window
        i_end, u_end = series.cumulative_at(ends)
        i_end -= cum_i[known]
        np.subtract(series.unmonitored_before(u_index), u_end, out=u_end)
        u_end += window
        return means(i_end, u_end), ends

    def search(j: IntArray, gj: IntArray, k: IntArray, gk: IntArray) -> tuple[_Best, _Best]:
        """Best windows ending at a step edge: the segment starts t[j] and the gap starts
        s[gj]; and best windows starting at one: t[k], s[gk]."""
        gj1, gk1 = gj + 1, gk + 1
        if j.size + k.size > _BATCH_MAX:    # many: group by group, no copies to join them
            return (_better(_first_best(*ending(t[j], j, j + 1)),
                            _first_best(*ending(s[gj], gj1, gj1))),
                    _better(_first_best(*starting(t[k], k, k + 1)),
                            _first_best(*starting(s[gk], gk1, gk1))))
        # few: segment and gap starts in one batch each, fewer calls
        return (_best(*ending(np.concatenate((t[j], s[gj])), np.concatenate((j, gj1)),
                              np.concatenate((j + 1, gj1)))),
                _best(*starting(np.concatenate((t[k], s[gk])), np.concatenate((k, gk1)),
                                np.concatenate((k + 1, gk1)))))

    # candidates: windows ending at t[a0:a1] and starting at t[b0:b1]; ending and starting
    # at the segments followed by a gap (or the last), ge and gs; the shift edges
    a0 = int(np.searchsorted(t, lo, side="left"))
    a1 = int(np.searchsorted(t, hi, side="right"))
    b0 = _count_shifted_below(t, window, lo)
    b1 = _count_shifted_below(t, window, np.nextafter(hi, np.inf))
    gap = np.append(series._gap_after, n - 1)
    s_gap = s[gap]
    ge = gap[(s_gap >= lo) & (s_gap <= hi)]
    after_gap = s_gap + window
    gs = gap[(after_gap >= lo) & (after_gap <= hi)]
    edges = np.array([lo, hi])
    (i_lo, i_hi), (u_lo, u_hi) = (x.reshape(2, 2) for x in series.cumulative_at(
        np.concatenate((edges - window, edges))))
    i_hi -= i_lo
    np.subtract(u_lo, u_hi, out=u_hi)
    u_hi += window
    at_edges = _best(means(i_hi, u_hi), edges)
    evaluated = (a1 - a0) + (b1 - b0) + ge.size + gs.size + 2

    # windows first or last held enough between two step edges: evaluated, never pruned
    crossed: _Best = (-np.inf, np.nan)
    if unmonitored == "missing" and floor > 0:
        ends, side = _floor_crossings(series, window, floor, lo, hi)
        evaluated += ends.size
        if ends.size:
            integral, held, ends = _held_enough(series, window, floor, ends, side, lo, hi)
            crossed = _best(means(integral, held), ends)

    found: tuple[_Best, _Best] | None = None
    if prune if prune is not None else n >= _PRUNE_MIN_SEGMENTS:
        found = _pruned(series, window, floor if unmonitored == "missing" else None,
                        (a0, a1, b0, b1), ge, gs, search, max(at_edges[0], crossed[0]))
    if found is None:
        j = np.flatnonzero(~_beaten(series, -window, window_start=False)[a0:a1]) + a0
        k = np.flatnonzero(~_beaten(series, window, window_start=True)[b0:b1]) + b0
        found = search(j, ge, k, gs)
    # the first maximum in the order: windows ending at an edge, those starting at one,
    # the shift edges, the floor crossings; within each, the earliest end
    top = max(found[0][0], found[1][0], at_edges[0], crossed[0])
    if top == -np.inf or np.isnan(top):
        return StelResult(float("nan"), float("nan"), evaluated, cover)
    window_end = next(e for m, e in (*found, at_edges, crossed) if m == top)
    return StelResult(top, window_end, evaluated, cover)


_NUDGES = 8     # doublings of an ulp to move a crossing window onto the held-enough side


def _floor_crossings(series: StepSeries, window: float, floor: float, lo: float, hi: float
                     ) -> tuple[FloatArray, FloatArray]:
    """Ends in [lo, hi] of the windows whose monitored time crosses ``floor`` between two
    step edges, and on which side (+1: later, -1: earlier) the windows are held enough.

    A window's monitored time is ``window`` less the unmonitored time inside it, which is
    piecewise linear in the window's end with knots only where an edge meets a gap edge
    (``StepSeries.unmonitored_knots``): between those knots (and [lo, hi]) it is linear, so
    it crosses the floor at most once per piece, at a position found by interpolation. A
    crossing within rounding of a knot is kept too (then at the knot): the knot's own
    candidate may be judged a hair under the floor. Costs two look-ups per gap edge, and
    nothing more where every window is held well above the floor (the usual day).
    """
    x, u = series.unmonitored_knots()
    margin = 1e-12 * (abs(series.start) + abs(series.end) + window)   # >> rounding of held
    empty = np.empty(0)
    if window - u[-1] >= floor + margin:    # too little unmonitored time in all the shift
        return empty, empty
    m = x.size
    knots = np.empty(2 * m + 2)
    knots[:m], knots[-2:] = x, (lo, hi)
    np.add(x, window, out=knots[m:-2])
    # held = window - unmonitored(end) + unmonitored(end - window): one side is a knot's
    held = np.empty(knots.size)
    held[:m] = np.interp(x - window, x, u)
    held[:m] -= u
    np.subtract(u, np.interp(knots[m:-2], x, u), out=held[m:-2])
    held[-2:] = np.interp(knots[-2:] - window, x, u) - np.interp(knots[-2:], x, u)
    held += window
    inside = (knots >= lo) & (knots <= hi)
    knots, held = knots[inside], held[inside]
    if knots.size < 2:
        return empty, empty
    if held.min() >= floor + margin:    # the least held is at a knot: no window near it
        return empty, empty
    order = np.argsort(knots, kind="stable")     # two ascending runs: a merge
    knots, held = knots[order], held[order]
    h0, h1 = held[:-1], held[1:]
    cross = (np.minimum(h0, h1) < floor + margin) & (np.maximum(h0, h1) > floor - margin)
    cross &= h0 != h1
    at = np.flatnonzero(cross)
    if at.size == 0:
        return empty, empty
    b0, b1, h0, h1 = knots[at], knots[at + 1], h0[at], h1[at]
    ends = b0 + (floor - h0) / (h1 - h0) * (b1 - b0)
    return np.clip(ends, b0, b1), np.where(h1 > h0, 1.0, -1.0)


def _held_enough(series: StepSeries, window: float, floor: float, ends: FloatArray,
                 side: FloatArray, lo: float, hi: float
                 ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(integral, monitored time, end) of the windows ending at ``ends``, each first moved
    by a few ulps towards ``side`` until its monitored time, as the search computes it,
    meets the floor: the crossing itself can round to a hair under it. A window still
    under after that is left for ``means`` to drop."""
    ends = ends.copy()
    step = np.full(ends.shape, np.spacing(abs(series.start) + abs(series.end) + window))
    for nudge in range(_NUDGES + 1):
        i_end, u_end = series.cumulative_at(ends)
        i_back, u_back = series.cumulative_at(ends - window)
        i_end -= i_back
        np.subtract(u_back, u_end, out=u_end)
        u_end += window
        short = u_end < floor
        if nudge == _NUDGES or not short.any():
            break
        ends[short] = np.clip(ends[short] + side[short] * step[short], lo, hi)
        step *= 2.0
    return i_end, u_end, ends


def _first_best(mean: FloatArray, ends: FloatArray) -> _Best:
    """``_best`` for ascending ``ends``: the first largest mean."""
    if mean.size == 0:
        return -np.inf, np.nan
    k = int(np.argmax(mean))
    return float(mean[k]), float(ends[k])


def _best(mean: FloatArray, ends: FloatArray) -> _Best:
    """Largest mean and the earliest end among the windows that have it."""
    if mean.size == 0:
        return -np.inf, np.nan
    top = np.max(mean)
    if np.isnan(top):
        return float("nan"), float("nan")
    return float(top), float(np.min(ends[mean == top]))


def _count_shifted_below(t: FloatArray, shift: float, x: float) -> int:
    """How many k have t[k] + shift < x, as float64 rounds the sum (monotone in t)."""
    k = int(np.searchsorted(t, x - shift, side="left"))
    while k > 0 and t[k - 1] + shift >= x:
        k -= 1
    while k < t.size and t[k] + shift < x:
        k += 1
    return k


def _pruned(series: StepSeries, window: float, floor: float | None,
            ranges: tuple[int, int, int, int], ge: IntArray, gs: IntArray,
            search: Callable[[IntArray, IntArray, IntArray, IntArray], tuple[_Best, _Best]],
            found: float) -> tuple[_Best, _Best] | None:
    """``search`` over the candidates in the blocks whose bound reaches a mean the search is
    sure to find: ``found`` (the best of the shift edges and the floor crossings, all
    evaluated), the blocks' own ``sure``, or else the best in the most promising blocks.
    ``floor`` None: unmonitored time counts as zero. None when the bounds are no use (they
    keep most blocks): the caller searches everything."""
    bounds = block_bounds(series, window=window, zero=floor is None, floor=floor or 0.0)
    if bounds is None:
        return None
    a0, a1, b0, b1 = ranges
    bound = bounds.bound
    in_ge = bounds.of_end(series.s[ge])
    in_gs = bounds.of_start(series.s[gs])

    def search_in(keep: BoolArray) -> tuple[_Best, _Best]:
        j, k = bounds.segment_starts(keep, (a0, a1), (b0, b1))
        return search(j, ge[keep[in_ge]], k, gs[keep[in_gs]])

    found = max(found, bounds.sure)
    if np.isfinite(found):              # prune by the mean the search is sure to reach
        keep = bound >= found
        if np.count_nonzero(keep) > _PRUNE_MAX_SHARE * keep.size:
            return None
        return search_in(keep)
    # else search the most promising blocks first, for a mean to prune the others by
    first = np.zeros(bound.size, dtype=np.bool_)
    if bound.size > _FIRST_BLOCKS:
        first[np.argpartition(bound, -_FIRST_BLOCKS)[-_FIRST_BLOCKS:]] = True
    else:
        first[:] = True
    ends, starts = search_in(first)
    found = max(ends[0], starts[0])
    if not np.isfinite(found):
        return None
    keep = bound >= found
    rest = keep & ~first
    if not rest.any():
        return ends, starts
    if np.count_nonzero(keep) > _PRUNE_MAX_SHARE * keep.size:
        return None
    more_ends, more_starts = search_in(rest)
    return _better(ends, more_ends), _better(starts, more_starts)


def _better(a: _Best, b: _Best) -> _Best:
    """The best of two groups of windows: larger mean, then earlier end."""
    if a[0] != b[0]:
        return a if a[0] > b[0] or np.isnan(a[0]) else b
    return a[0], min(a[1], b[1])
