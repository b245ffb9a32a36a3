"""Short-term metrics: rolling 15-min TWA (PC-STEL), MAC exceedances, peak excursions (PE).

GBZ 2.1-2019 clause 3: PC-STEL is a 15-min TWA; MAC must not be exceeded at any time; for an
agent with a PC-TWA and no PC-STEL (dusts included), excursions above 3 x PC-TWA last at most
15 min each, happen at most 4 times a working day, at least 1 h apart, and never exceed
5 x PC-TWA.

All windows and runs are computed on the step function of ``thresholds.series`` without any
Python loop over readings: the windowed integral is a difference of the cumulative integral
evaluated with ``np.interp`` at the window's two ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thresholds.series import StepSeries
from thresholds.twa import DEFAULT_MIN_COVERAGE, Unmonitored
from thresholds.types import ArrayLike, BoolArray, FloatArray, Verdict

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
    edge ``StepSeries.cumulative_at`` finds them by an exact linear-time rank. Candidates a
    neighbour provably beats are skipped (``_beaten``); ``windows_evaluated`` still counts
    every candidate inside the shift, as before.
    """
    start, end = series.start, series.end
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    lo, hi = start + window, end
    t, s = series.t, series.s
    n = t.size
    if hi < lo or n == 0:
        return StelResult(float("nan"), float("nan"), 0, cover)
    _, _, cum_i, unmon = series._padded     # cum_i[j], unmon[j + 1]: both at t[j]
    gap = np.append(series._gap_after, n - 1)
    s_gap = s[gap]
    floor = min_window_coverage * window

    def best(ends: FloatArray, integral: FloatArray, held: FloatArray) -> tuple[float, float]:
        """Largest mean among these windows and its end (the first on ties: ends ascend)."""
        if ends.size == 0:
            return -np.inf, np.nan
        if unmonitored == "zero":
            means = integral / window
        else:
            ok = held >= floor
            if not floor > 0:   # held comes from a difference: a window all in a gap can
                ok &= held > 1e-9 * window   # come out at rounding noise instead of 0
            means = np.divide(integral, held, out=np.full(held.shape, -np.inf), where=ok)
        k = int(np.argmax(means))
        return float(means[k]), float(ends[k])

    def ending(ends: FloatArray, i_end: FloatArray, u_end: FloatArray) -> tuple[float, float]:
        """Windows ending at ``ends``, where the integral and unmonitored time are known."""
        i_back, u_back = series.cumulative_at(ends - window)
        np.subtract(i_end, i_back, out=i_back)
        u_back -= u_end                     # held = window - unmonitored inside
        u_back += window
        return best(ends, i_back, u_back)

    def starting(ends: FloatArray, i_start: FloatArray, u_start: FloatArray
                 ) -> tuple[float, float]:
        """Windows ending at ``ends``, starting where the integral etc. are known."""
        i_end, u_end = series.cumulative_at(ends)
        i_end -= i_start
        np.subtract(u_start, u_end, out=u_end)
        u_end += window
        return best(ends, i_end, u_end)

    # windows ending at a segment start (where the integral is cum_i[j]), at a gap's start
    a0 = int(np.searchsorted(t, lo, side="left"))
    a1 = int(np.searchsorted(t, hi, side="right"))
    j = np.flatnonzero(~_beaten(series, -window, window_start=False)[a0:a1]) + a0
    ends_t = ending(t[j], cum_i[j], unmon[j + 1])
    g_end = (s_gap >= lo) & (s_gap <= hi)
    ends_g = ending(s_gap[g_end], cum_i[gap[g_end] + 1], unmon[gap[g_end] + 1])
    # windows starting at a segment start, then at a gap's start
    after = t + window
    b0 = int(np.searchsorted(after, lo, side="left"))
    b1 = int(np.searchsorted(after, hi, side="right"))
    k = np.flatnonzero(~_beaten(series, window, window_start=True)[b0:b1]) + b0
    starts_t = starting(after[k], cum_i[k], unmon[k + 1])
    after_g = s_gap + window
    g_start = (after_g >= lo) & (after_g <= hi)
    starts_g = starting(after_g[g_start], cum_i[gap[g_start] + 1], unmon[gap[g_start] + 1])
    edges = np.array([lo, hi])
    at_edges = starting(edges, *series.cumulative_at(edges - window))
    evaluated = (a1 - a0) + (b1 - b0) + int(g_end.sum()) + int(g_start.sum()) + 2
    # the first maximum in the order: windows ending at an edge, those starting at one,
    # the shift edges; within each, by window end
    top = max(ends_t[0], ends_g[0], starts_t[0], starts_g[0], at_edges[0])
    if top == -np.inf or np.isnan(top):
        return StelResult(float("nan"), float("nan"), evaluated, cover)
    for group in ((ends_t, ends_g), (starts_t, starts_g), (at_edges,)):
        hits = [e for m, e in group if m == top]
        if hits:
            return StelResult(top, min(hits), evaluated, cover)
    raise AssertionError("unreachable: the maximum belongs to a group")


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
    top = float(np.max(series.v)) if series.v.size else float("nan")
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    return MacResult(mac, _intervals(series, mac), top, cover)


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
