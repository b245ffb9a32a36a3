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


def _frozen(a: FloatArray) -> FloatArray:
    a.flags.writeable = False
    return a


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
        # t and s both ascend, so the readings reaching into [lo, hi) are one index range and
        # only its first start and its last end can need clipping to the window.
        i0 = int(np.searchsorted(s, lo, side="right"))
        i1 = int(np.searchsorted(t, hi, side="left"))
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
    def _padded(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """End, value, cumulative integral at the end, and unmonitored time before the
        start, of each segment, after a leading empty one ending at ``start``: index k
        describes the k-th segment started.

        Unmonitored time is a running sum of the gaps, which adds exact zeros along
        contiguous readings: a window with no gap comes out held for exactly its length.
        """
        n = self.t.size
        ends = np.empty(n + 1)
        ends[0], ends[1:] = self.start, self.s
        value = np.empty(n + 1)
        value[0], value[1:] = 0.0, self.v
        cum_i = np.empty(n + 1)
        cum_i[0] = 0.0
        np.cumsum(self._area, out=cum_i[1:])
        unmonitored = np.zeros(n + 1)
        if n:
            # running sum over the few gaps only: the same sums as a dense cumsum, whose
            # other terms are exact zeros
            gaps = self.t[1:] - self.s[:-1]
            after = self._gap_after
            steps = np.empty(after.size + 1)
            steps[0] = self.t[0] - self.start
            steps[1:] = gaps[after]
            runs = np.diff(after + 2, prepend=1, append=n + 1)
            unmonitored[1:] = np.repeat(np.cumsum(steps), runs)
        return _frozen(ends), _frozen(value), _frozen(cum_i), _frozen(unmonitored)

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
        return np.flatnonzero(~self._contiguous)

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

        Both are continuous and piecewise linear, so this is exact: the values at the last
        segment started by q, corrected by how far q is from that segment's end.
        """
        ends, value, cum_i, unmonitored = self._padded
        k = self.started(query)
        before = ends[k]
        before -= query                     # > 0: q inside its segment, < 0: in a gap after
        integral = cum_i[k]
        lost = value[k]
        lost *= np.maximum(before, 0.0)
        integral -= lost
        np.minimum(before, 0.0, out=before)
        gap = unmonitored[k]
        gap -= before
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
        linked &= self._contiguous[at[:-1]]
        split = np.flatnonzero(~linked)
        heads = np.concatenate(([0], split + 1))
        tails = np.append(split, at.size - 1)
        peak = np.maximum.reduceat(self.v[at], heads)
        return self.t[at[heads]], self.s[at[tails]], peak
