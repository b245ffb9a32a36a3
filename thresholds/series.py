"""Irregular readings as a step function with explicit gaps — the base of every time metric.

Convention (one, used everywhere): ``times`` are float seconds on any common origin (epoch or
relative), strictly increasing; ``values`` are in the canonical unit. Reading i holds from
t[i] until the next reading or ``max_gap`` seconds, whichever comes first; the last reading
holds ``max_gap``. Time not held by any reading is *unmonitored*. A NaN value is a rejected
reading: it holds nothing, so a sensor fault shows as a gap and never as a value.

GBZ 2.1-2019 appendix A / GBZ 159 C_TWA = sum(C_i T_i) / 8 h is the integral of this step
function; a cumulative integral makes any window's integral two look-ups (``cumulative_at``).

Build a series once per point and pass it to every metric (``thresholds.point``): the derived
arrays (durations, cumulative sums) are computed on first use and cached on the series.
Sums use numpy's pairwise summation, never BLAS ``dot``: OpenBLAS threads a long dot product,
which on a shared 2-core box made one integral ~25x slower and its last bits thread-dependent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from thresholds.types import ArrayLike, BoolArray, FloatArray, IntArray


def _as_readings(times: ArrayLike, values: ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or v.shape != t.shape:
        raise ValueError(f"times and values must be 1-D of equal length, got {t.shape} and "
                         f"{v.shape}")
    # fast path: strictly increasing with finite ends implies all finite (NaN fails "<")
    if t.size and np.isfinite(t[0]) and np.isfinite(t[-1]) and bool(np.all(t[1:] > t[:-1])):
        return t, v
    if not np.all(np.isfinite(t)):
        raise ValueError("times must be finite")
    if t.size > 1:
        bad = np.flatnonzero(np.diff(t) <= 0)
        if bad.size:
            raise ValueError(f"times must be strictly increasing; index {int(bad[0]) + 1} is not")
    return t, v


_BUCKETS_PER_START = 1
_SEARCH_BELOW = 16      # fewer than 1/16 as many queries as segments: search each


def _frozen(a: FloatArray) -> FloatArray:
    a.flags.writeable = False
    return a


def _held(times: ArrayLike, values: ArrayLike, max_gap: float, start: float | None,
          end: float | None) -> tuple[FloatArray, FloatArray, FloatArray, float, float, int, int]:
    """Readings ``t``, values ``v``, hold ends ``s`` (``max_gap`` s at most, never past the
    next reading), the window [lo, hi) (default: the data) and the index range [i0, i1) of
    the readings reaching into it: t and s both ascend, so it is one range, and only its
    first start and its last end can need clipping to the window."""
    if not max_gap > 0:
        raise ValueError(f"max_gap must be > 0 s, got {max_gap}")
    t, v = _as_readings(times, values)
    s = t + max_gap
    if t.size > 1:
        np.minimum(s[:-1], t[1:], out=s[:-1])
    lo = float(t[0]) if start is None and t.size else (start or 0.0)
    hi = float(s[-1]) if end is None and t.size else (end if end is not None else lo)
    if hi < lo:
        raise ValueError(f"window end {hi} is before its start {lo}")
    i0 = int(np.searchsorted(s, lo, side="right"))
    i1 = int(np.searchsorted(t, hi, side="left"))
    return t, s, v, lo, hi, i0, i1


def held_and_integral(times: ArrayLike, values: ArrayLike, *, max_gap: float,
                      start: float | None = None, end: float | None = None
                      ) -> tuple[float, float]:
    """``(monitored(), integral())`` of ``StepSeries.build`` with these arguments, to the last
    bit, without keeping a series: for metrics that need only the two sums (LAeq)."""
    t, s, v, lo, hi, i0, i1 = _held(times, values, max_gap, start, end)
    if i1 <= i0:
        return 0.0, 0.0
    if not np.isfinite(np.sum(v[i0:i1])):     # rejected readings: the series drops them
        series = StepSeries.build(t, v, max_gap=max_gap, start=start, end=end)
        return series.monitored(), series.integral()
    held = s[i0:i1]                     # the hold ends, clipped, become the durations
    held[-1] = min(held[-1], hi)
    first = held[0] - max(t[i0], lo)
    held -= t[i0:i1]
    held[0] = first
    return float(np.sum(held)), float(np.sum(v[i0:i1] * held))


@dataclass(frozen=True)
class StepSeries:
    """Readings clipped to a window [start, end): segment i is [t[i], s[i]) at value v[i]."""

    t: FloatArray
    s: FloatArray
    v: FloatArray
    start: float
    end: float

    @classmethod
    def build(cls, times: ArrayLike, values: ArrayLike, *, max_gap: float,
              start: float | None = None, end: float | None = None) -> StepSeries:
        """Hold each reading up to ``max_gap`` s and clip to [start, end) (default: the data)."""
        t, s, v, lo, hi, i0, i1 = _held(times, values, max_gap, start, end)
        t, s, v = t[i0:i1], s[i0:i1], v[i0:i1]
        valid = np.isfinite(v)
        if valid.all():
            t = t.copy()    # never alias the caller's times: the first start may be clipped
        else:
            t, s, v = t[valid], s[valid], v[valid]
        if t.size:
            t[0] = max(t[0], lo)
            s[-1] = min(s[-1], hi)
        return cls(t, s, v, float(lo), float(hi))

    @cached_property
    def durations(self) -> FloatArray:
        """Seconds each segment holds (read-only, computed once)."""
        return _frozen(self.s - self.t)

    @property
    def span(self) -> float:
        return self.end - self.start

    @cached_property
    def _area(self) -> FloatArray:
        return _frozen(self.v * self.durations)

    @cached_property
    def _totals(self) -> tuple[float, float]:
        return float(np.sum(self.durations)), float(np.sum(self._area))

    @cached_property
    def value_range(self) -> tuple[float, float]:
        """(lowest, highest) value held; NaN for no readings."""
        if self.v.size == 0:
            return float("nan"), float("nan")
        return float(np.min(self.v)), float(np.max(self.v))

    @cached_property
    def _cumulative(self) -> FloatArray:
        """Integral from ``start`` to the end of each segment, after a leading 0: index k is
        the integral once k segments have started (and ended)."""
        cum_i = np.empty(self.t.size + 1)
        cum_i[0] = 0.0
        np.cumsum(self._area, out=cum_i[1:])
        return _frozen(cum_i)

    @cached_property
    def _ends(self) -> tuple[FloatArray, FloatArray]:
        """End and value of each segment after a leading empty one ending at ``start``:
        index k describes the last of k segments started (for look-ups of many queries)."""
        n = self.t.size
        ends = np.empty(n + 1)
        ends[0], ends[1:] = self.start, self.s
        value = np.empty(n + 1)
        value[0], value[1:] = 0.0, self.v
        return _frozen(ends), _frozen(value)

    @cached_property
    def _gap_sums(self) -> tuple[IntArray, FloatArray]:
        """(keys, sums): the unmonitored time before the start of segment k - 1 (0 for k = 0)
        is ``sums[c]``, c the number of keys <= k. Few: one per gap.

        Unmonitored time is a running sum of the gaps alone, not a difference of monitored
        time, so a window with no gap inside comes out held for exactly its length.
        """
        after = self._gap_after
        keys = np.empty(after.size + 1, dtype=np.intp)
        keys[0] = 1
        np.add(after, 2, out=keys[1:])
        steps = np.empty(after.size + 2)
        steps[0] = 0.0
        if self.t.size:
            steps[1] = self.t[0] - self.start
            np.subtract(self.t[after + 1], self.s[after], out=steps[2:])
        else:
            steps[1:] = 0.0
        return keys, np.cumsum(steps)

    @cached_property
    def _unmonitored(self) -> FloatArray:
        """``unmonitored_before`` at every k in 0..n (for searches over most candidates)."""
        keys, sums = self._gap_sums
        lengths = np.diff(keys, prepend=0, append=self.t.size + 1)
        return _frozen(np.repeat(sums, lengths))

    @cached_property
    def _unmonitored_knots(self) -> tuple[FloatArray, FloatArray]:
        t, s = self.t, self.s
        if t.size == 0:
            return (_frozen(np.array([self.start, self.end])),
                    _frozen(np.array([0.0, self.end - self.start])))
        after = self._gap_after
        _, sums = self._gap_sums        # sums[c + 1]: unmonitored before the c-th gap
        x = np.empty(2 * after.size + 4)
        u = np.empty(x.size)
        x[0], x[1], x[-2], x[-1] = self.start, t[0], s[-1], self.end
        x[2:-2:2], x[3:-2:2] = s[after], t[after + 1]
        u[0], u[1], u[-2] = 0.0, sums[1], sums[-1]
        u[-1] = sums[-1] + (self.end - s[-1])
        u[2:-2:2], u[3:-2:2] = sums[1:-1], sums[2:]
        return _frozen(x), _frozen(u)

    def unmonitored_knots(self) -> tuple[FloatArray, FloatArray]:
        """(x, unmonitored seconds from ``start`` to x) at ``start``, every edge of
        unmonitored time (first reading, each gap's two edges, end of the last) and ``end``.

        Unmonitored time is continuous and piecewise linear (slope 0 while held, 1 in a gap)
        with its knots only there, so ``np.interp`` evaluates it anywhere in [start, end]
        with one look-up among the gaps, not the readings (a window's monitored time as a
        function of its position: ``thresholds.stel``). Repeated x carry equal values.
        """
        return self._unmonitored_knots

    def unmonitored_before(self, k: IntArray) -> FloatArray:
        """Unmonitored seconds from ``start`` to the start of segment k - 1 (k = 0: none):
        indexed like the cumulative integral, k = number of segments started."""
        if k.size * _SEARCH_BELOW < self.t.size and "_unmonitored" not in self.__dict__:
            keys, sums = self._gap_sums
            return sums[np.searchsorted(keys, k, side="right")]
        return self._unmonitored[k]

    @cached_property
    def _buckets(self) -> tuple[float, float, float, IntArray, FloatArray, int] | None:
        """Equal-width buckets over the segment starts, for exact ranks in linear time.

        ``below[b]`` counts starts in buckets before b; a query's count is its bucket's
        ``below`` plus at most ``sweeps`` (the fullest bucket) steps. Two buckets a start on
        average make that one step for near-regular sampling. None when the readings are too
        few or too clustered for it to pay; ``started`` then searches.
        """
        t = self.t
        n = t.size
        if n < 64 or not t[-1] > t[0]:
            return None
        top = float(_BUCKETS_PER_START * n)
        origin, scale = float(t[0]), top / float(t[-1] - t[0])
        bucket = np.clip((t - origin) * scale, 0.0, top + 1.0).astype(np.intp)
        count = np.bincount(bucket, minlength=int(top) + 2)
        sweeps = int(count.max())
        if sweeps > 4:
            return None
        below = np.zeros(int(top) + 2, dtype=np.intp)
        np.cumsum(count[:-1], out=below[1:])
        return origin, scale, top + 1.0, below, np.append(t, np.inf), sweeps

    @cached_property
    def _gap_after(self) -> IntArray:
        """Segments followed by unmonitored time before the next one (the last excluded)."""
        return np.flatnonzero(self.s[:-1] < self.t[1:])

    @cached_property
    def _contiguous(self) -> BoolArray:
        out = np.asarray(self.s[:-1] >= self.t[1:], dtype=np.bool_)
        out.flags.writeable = False
        return out

    def monitored(self) -> float:
        """Seconds of the window held by a valid reading."""
        return self._totals[0]

    def integral(self) -> float:
        """Integral of the step function over the window (unit x s); gaps contribute zero."""
        return self._totals[1]

    def started(self, query: FloatArray) -> IntArray:
        """How many segments start at or before each query time (exact; fastest when the
        queries ascend)."""
        t = self.t
        n = t.size
        if n == 0:
            return np.zeros(query.shape, dtype=np.intp)
        if query.size * _SEARCH_BELOW < n and "_buckets" not in self.__dict__:
            # few queries: a binary search each beats building the buckets
            return np.searchsorted(t, query, side="right")
        buckets = self._buckets
        if buckets is None:
            # np.interp's search reuses its last position; rounding can only put the
            # bracket one too far right, which the comparison undoes
            count = np.interp(query, t, np.arange(n, dtype=np.float64)).astype(np.intp)
            count += t[count] <= query
            return count
        origin, scale, top, below, upper, sweeps = buckets
        b = query - origin
        b *= scale
        np.clip(b, 0.0, top, out=b)
        count = below[b.astype(np.intp)]
        for _ in range(sweeps):
            count += upper[count] <= query
        return count

    def cumulative_at(self, query: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(integral, unmonitored seconds) from ``start`` up to each query time.

        Both are continuous and piecewise linear, so this is exact: the values at the end of
        the last segment started by q, corrected by how far q is from that end.
        """
        k = self.started(query)
        ahead = False
        if query.size * _SEARCH_BELOW < self.t.size and "_ends" not in self.__dict__:
            last = k - 1                    # -1 (no segment started yet) is fixed below
            before = self.s[last]
            lost = self.v[last]
            ahead = k.size > 0 and k.min() == 0
        else:
            ends, value = self._ends
            before = ends[k]
            lost = value[k]
        before -= query                     # > 0: q inside its segment, < 0: in a gap after
        integral = self._cumulative[k]
        lost *= np.maximum(before, 0.0)
        integral -= lost
        np.minimum(before, 0.0, out=before)
        gap = self.unmonitored_before(k)
        gap -= before
        if ahead:                           # before the first reading: all unmonitored
            first = np.flatnonzero(k == 0)
            integral[first] = 0.0
            gap[first] = np.maximum(query[first] - self.start, 0.0)
        return integral, gap

    def contiguous_next(self) -> BoolArray:
        """For each segment but the last: does the next segment start where this one ends?"""
        return self._contiguous

    def knots(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(x, cumulative integral, cumulative monitored time) at every segment edge.

        Both cumulative functions are continuous and piecewise linear in x, so
        ``np.interp`` evaluates them exactly anywhere.
        """
        n = self.t.size
        d = self.durations
        x = np.empty(2 * n)
        x[0::2], x[1::2] = self.t, self.s
        ci = np.cumsum(self.v * d)
        ck = np.cumsum(d)
        cum_i = np.empty(2 * n)
        cum_k = np.empty(2 * n)
        cum_i[1::2], cum_i[0::2] = ci, ci - self.v * d
        cum_k[1::2], cum_k[0::2] = ck, ck - d
        return x, cum_i, cum_k

    def unique_knots(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``knots()`` without repeated x (a segment ending where the next starts): both
        cumulative functions are continuous, so dropping the repeats loses nothing."""
        x, cum_i, cum_k = self.knots()
        if x.size < 2:
            return x, cum_i, cum_k
        keep = np.empty(x.size, dtype=np.bool_)
        keep[0] = True
        np.greater(x[1:], x[:-1], out=keep[1:])
        return x[keep], cum_i[keep], cum_k[keep]

    def runs(self, mask: BoolArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Maximal runs of contiguous segments where ``mask``: (start, end, max value).

        A gap ends a run, so one excursion interrupted by a sensor drop-out counts twice:
        the conservative reading, since the gap hides what happened.
        """
        at = np.flatnonzero(mask)
        if at.size == 0:
            empty = np.empty(0)
            return empty, empty, empty
        # work on the masked indices only (few): a run goes on from one to the next when
        # they are neighbours and the first segment ends where the next starts
        linked = np.diff(at) == 1
        linked &= self.s[at[:-1]] >= self.t[at[:-1] + 1]
        split = np.flatnonzero(~linked)
        heads = np.concatenate(([0], split + 1))
        tails = np.append(split, at.size - 1)
        peak = np.maximum.reduceat(self.v[at], heads)
        return self.t[at[heads]], self.s[at[tails]], peak
