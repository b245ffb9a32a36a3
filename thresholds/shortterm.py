"""Short-term metrics: rolling 15-min TWA (PC-STEL), MAC exceedances, peak excursions (PE).

GBZ 2.1-2019 clause 3: PC-STEL is a 15-min TWA; MAC must not be exceeded at any time; for an
agent with a PC-TWA and no PC-STEL (dusts included), excursions above 3 x PC-TWA last at most
15 min each, happen at most 4 times a working day, at least 1 h apart, and never exceed
5 x PC-TWA.

All windows and runs are computed on the step function of ``thresholds.series`` without any
Python loop over readings: a window's integral is a difference of the cumulative integral at
its two ends, found by exact ranks (``StepSeries.cumulative_at``). The STEL search skips the
blocks of windows that provably cannot hold the maximum (``thresholds.bounds``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from thresholds.bounds import block_bounds
from thresholds.series import StepSeries
from thresholds.twa import DEFAULT_MIN_COVERAGE, Unmonitored
from thresholds.types import ArrayLike, BoolArray, FloatArray, IntArray, Verdict

STEL_WINDOW_S = 15 * 60.0
PE_MULTIPLE = 3.0
PE_CEILING_MULTIPLE = 5.0
PE_MAX_DURATION_S = 15 * 60.0
PE_MAX_COUNT = 4
PE_MIN_SPACING_S = 3600.0


def evidence_verdict(failed: bool, coverage: float,
                     min_coverage: float = DEFAULT_MIN_COVERAGE) -> Verdict:
    """A breach seen is a fail whatever the coverage; a pass needs enough coverage."""
    if failed:
        return "fail"
    return "pass" if coverage >= min_coverage else "insufficient"


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

    Exact for a step function: the windowed mean is monotone between positions where either
    window edge meets a step edge, so only windows ending at a step edge, or starting at one,
    are tried (plus the shift edges). NaN when the shift is shorter than the window or no
    window is monitored enough.
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
    edge ``StepSeries.cumulative_at`` finds them by an exact rank. Candidates that cannot be
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

    found: tuple[_Best, _Best] | None = None
    if prune if prune is not None else n >= _PRUNE_MIN_SEGMENTS:
        found = _pruned(series, window, floor if unmonitored == "missing" else None,
                        (a0, a1, b0, b1), ge, gs, search, at_edges[0])
    if found is None:
        j = np.flatnonzero(~_beaten(series, -window, window_start=False)[a0:a1]) + a0
        k = np.flatnonzero(~_beaten(series, window, window_start=True)[b0:b1]) + b0
        found = search(j, ge, k, gs)
    # the first maximum in the order: windows ending at an edge, those starting at one,
    # the shift edges; within each, the earliest end
    top = max(found[0][0], found[1][0], at_edges[0])
    if top == -np.inf or np.isnan(top):
        return StelResult(float("nan"), float("nan"), evaluated, cover)
    window_end = next(e for m, e in (*found, at_edges) if m == top)
    return StelResult(top, window_end, evaluated, cover)


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
    sure to find: ``found`` (the shift edges'), the blocks' own ``sure``, or else the best in
    the most promising blocks. ``floor`` None: unmonitored time counts as zero. None when
    the bounds are no use (they keep most blocks): the caller searches everything."""
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


@dataclass(frozen=True)
class Interval:
    """A run of readings above a threshold: [start, end) seconds and the highest reading."""

    start: float
    end: float
    max: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def _intervals(series: StepSeries, threshold: float) -> tuple[Interval, ...]:
    starts, stops, peaks = series.runs(series.v > threshold)
    return tuple(Interval(float(a), float(b), float(m))
                 for a, b, m in zip(starts.tolist(), stops.tolist(), peaks.tolist(), strict=True))


@dataclass(frozen=True)
class MacResult:
    """MAC exceedances in a shift (GBZ 2.1-2019 cl. 3: never to be exceeded)."""

    mac: float
    exceedances: tuple[Interval, ...]
    max_value: float
    coverage: float

    @property
    def exceeded(self) -> bool:
        return bool(self.exceedances)


def mac_exceedances(times: ArrayLike, values: ArrayLike, *, mac: float, start: float,
                    end: float, max_gap: float) -> MacResult:
    """Intervals where readings are above MAC, with duration and maximum; the shift maximum."""
    series = StepSeries.build(times, values, max_gap=max_gap, start=start, end=end)
    return mac_exceedances_series(series, mac=mac)


def mac_exceedances_series(series: StepSeries, *, mac: float) -> MacResult:
    """``mac_exceedances`` of a series already clipped to the shift."""
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    return MacResult(mac, _intervals(series, mac), series.value_range[1], cover)


@dataclass(frozen=True)
class PeakResult:
    """Excursions above 3 x PC-TWA and which PE rules broke (GBZ 2.1-2019 cl. 3)."""

    pc_twa: float
    excursions: tuple[Interval, ...]
    broken: tuple[str, ...]
    coverage: float


PE_RULES = {
    "duration": "each excursion above 3 x PC-TWA at most 15 min",
    "count": "at most 4 excursions a working day",
    "spacing": "excursions at least 1 h apart",
    "ceiling": "never above 5 x PC-TWA",
}


def peak_excursions(times: ArrayLike, values: ArrayLike, *, pc_twa: float, start: float,
                    end: float, max_gap: float) -> PeakResult:
    """Excursions above 3 x PC-TWA with the PE rules they break (keys of ``PE_RULES``).

    Spacing is measured from the end of one excursion to the start of the next.
    """
    series = StepSeries.build(times, values, max_gap=max_gap, start=start, end=end)
    return peak_excursions_series(series, pc_twa=pc_twa)


def peak_excursions_series(series: StepSeries, *, pc_twa: float) -> PeakResult:
    """``peak_excursions`` of a series already clipped to the shift."""
    starts, stops, peaks = series.runs(series.v > PE_MULTIPLE * pc_twa)
    excursions = tuple(Interval(float(a), float(b), float(m)) for a, b, m in
                       zip(starts.tolist(), stops.tolist(), peaks.tolist(), strict=True))
    broken = []
    if np.any(stops - starts > PE_MAX_DURATION_S):
        broken.append("duration")
    if starts.size > PE_MAX_COUNT:
        broken.append("count")
    if np.any(starts[1:] - stops[:-1] < PE_MIN_SPACING_S):
        broken.append("spacing")
    if np.any(peaks > PE_CEILING_MULTIPLE * pc_twa):
        broken.append("ceiling")
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    return PeakResult(pc_twa, excursions, tuple(broken), cover)
