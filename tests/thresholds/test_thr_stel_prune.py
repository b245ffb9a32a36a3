"""The pruned STEL search (``thresholds.bounds``) still finds the exact maximum: every block
bound holds for every candidate window in its block, and the pruned search agrees with the
full one and with a plain reference in exact (rational) arithmetic on random step series,
gaps and edge cases included."""

from __future__ import annotations

import bisect
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresholds import StepSeries, shortterm, stel_max
from thresholds.bounds import block_bounds
from thresholds.twa import Unmonitored

H = 3600.0
Readings = tuple[np.ndarray, np.ndarray, float]


@st.composite
def long_readings(draw: st.DrawFn) -> Readings:
    """Up to 400 readings, long enough for many blocks: grid (15 min apart included),
    jittered, irregular or epoch times; silences; plateaus, spikes, values below zero
    (sensor offset) and rejected readings."""
    n = draw(st.integers(1, 400))
    kind = draw(st.sampled_from(["grid", "jitter", "irregular", "epoch"]))
    step = draw(st.sampled_from([1.0, 10.0, 60.0, 900.0]))
    if kind == "grid":
        times = np.arange(n) * step
    elif kind == "irregular":
        times = np.cumsum(draw(st.lists(st.floats(0.5, 2.0 * step), min_size=n, max_size=n)))
    else:
        jitter = draw(st.lists(st.floats(0.0, 0.2 * step), min_size=n, max_size=n))
        times = np.arange(n) * step + np.array(jitter) + (1.7e9 if kind == "epoch" else 0.0)
    if n > 1 and draw(st.booleans()):     # silences: the sensor was away
        at = np.array(draw(st.lists(st.integers(1, n - 1), max_size=3)), dtype=np.intp)
        for i in at:
            times[i:] += draw(st.sampled_from([step * 5, 900.0, 2000.0]))
    levels = draw(st.lists(st.sampled_from([0.0, 0.3, 1.0, 2.5, 8.0]), min_size=1, max_size=4))
    values = np.array(draw(st.lists(st.sampled_from(levels), min_size=n, max_size=n)))
    if draw(st.booleans()):
        noise = draw(st.lists(st.floats(-0.5, 0.5), min_size=n, max_size=n))
        values = values + np.array(noise)
    rejected = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    values[rejected & (np.arange(n) % draw(st.integers(1, 12)) == 0)] = np.nan
    max_gap = draw(st.sampled_from([step, 1.5 * step, 2.0 * step, 600.0]))
    return times, values, max_gap


class Reference:
    """The step function in rationals; the STEL as the plain maximum over every window with
    an edge on a step edge or on a shift edge (the candidates where the maximum lies)."""

    def __init__(self, series: StepSeries) -> None:
        self.t = [Fraction(x) for x in series.t.tolist()]
        self.s = [Fraction(x) for x in series.s.tolist()]
        self.v = [Fraction(x) for x in series.v.tolist()]
        self.cum_i, self.cum_k = [Fraction(0)], [Fraction(0)]
        for t, s, v in zip(self.t, self.s, self.v, strict=True):
            self.cum_i.append(self.cum_i[-1] + v * (s - t))
            self.cum_k.append(self.cum_k[-1] + (s - t))

    def at(self, q: float) -> tuple[Fraction, Fraction]:
        """(integral, monitored time) up to q."""
        x = Fraction(q)
        j = bisect.bisect_right(self.t, x) - 1
        if j < 0:
            return Fraction(0), Fraction(0)
        part = min(x, self.s[j]) - self.t[j]
        return self.cum_i[j] + self.v[j] * part, self.cum_k[j] + part

    def mean(self, end: float, window: float, floor: float | None) -> Fraction | None:
        """Mean of the window (end - window, end]; None if held less than ``floor`` s
        (``floor`` None: unmonitored time counts as zero)."""
        i1, k1 = self.at(end)
        i0, k0 = self.at(end - window)
        if floor is None:
            return (i1 - i0) / Fraction(window)
        held = k1 - k0
        if held > 0 and held >= Fraction(floor):
            return (i1 - i0) / held
        return None

    def ends(self, lo: float, hi: float, window: float) -> list[float]:
        knots = {float(x) for x in self.t} | {float(x) for x in self.s}
        return sorted(e for e in knots | {k + window for k in knots} | {lo, hi}
                      if lo <= e <= hi)

    def stel(self, lo: float, hi: float, window: float, floor: float | None) -> Fraction | None:
        means = [m for e in self.ends(lo, hi, window)
                 if (m := self.mean(e, window, floor)) is not None]
        return max(means) if means else None


def _shift(times: np.ndarray, gap: float, cut: float, length: float) -> tuple[float, float]:
    span = float(times[-1] - times[0]) + gap
    start = float(times[0]) + cut * span
    return start, start + length * span


@settings(max_examples=200, deadline=None, database=None)
@given(data=long_readings(), cut=st.floats(-0.1, 0.2), length=st.floats(0.2, 1.3),
       window=st.sampled_from([60.0, 300.0, 900.0]),
       unmonitored=st.sampled_from(["missing", "zero"]),
       mwc=st.sampled_from([0.0, 0.5, 0.75, 1.0]))
def test_pruned_stel_is_the_exact_maximum(data: Readings, cut: float, length: float,
                                          window: float, unmonitored: Unmonitored,
                                          mwc: float) -> None:
    times, values, gap = data
    start, end = _shift(times, gap, cut, length)
    series = StepSeries.build(times, values, max_gap=gap, start=start, end=end)
    with pytest.MonkeyPatch.context() as mp:   # search the kept blocks however many remain
        mp.setattr(shortterm, "_PRUNE_MAX_SHARE", 1.0)
        pruned = shortterm._stel_max(series, window, unmonitored, mwc, prune=True)
    full = shortterm._stel_max(series, window, unmonitored, mwc, prune=False)
    assert pruned.windows_evaluated == full.windows_evaluated
    if series.t.size == 0:
        assert np.isnan(pruned.stel_max) and np.isnan(full.stel_max)
        return
    floor = None if unmonitored == "zero" else mwc * window
    truth = Reference(series).stel(start + window, end, window, floor)
    if truth is None:
        assert np.isnan(pruned.stel_max) and np.isnan(full.stel_max)
        return
    assert pruned.stel_max == pytest.approx(float(truth), rel=1e-10, abs=1e-10)
    assert pruned.stel_max == pytest.approx(full.stel_max, rel=1e-12, abs=1e-12)
    named = Reference(series).mean(pruned.window_end, window, floor)
    assert named is not None
    assert float(named) == pytest.approx(float(truth), rel=1e-10, abs=1e-10)


@settings(max_examples=120, deadline=None, database=None)
@given(data=long_readings(), cut=st.floats(-0.1, 0.2), length=st.floats(0.2, 1.3),
       window=st.sampled_from([60.0, 300.0, 900.0]), zero=st.booleans(),
       mwc=st.sampled_from([0.0, 0.5, 0.75, 1.0]))
def test_block_bounds_hold_for_every_candidate(data: Readings, cut: float, length: float,
                                               window: float, zero: bool, mwc: float) -> None:
    times, values, gap = data
    start, end = _shift(times, gap, cut, length)
    series = StepSeries.build(times, values, max_gap=gap, start=start, end=end)
    floor = mwc * window
    bounds = block_bounds(series, window=window, zero=zero, floor=floor)
    if bounds is None:
        assert series.t.size == 0 or end - start < 2 * window
        return
    ref = Reference(series)
    if np.isfinite(bounds.sure):       # a mean the search does reach
        found = shortterm._stel_max(series, window, "zero" if zero else "missing", mwc,
                                    prune=False)
        assert bounds.sure <= found.stel_max
    least = None if zero else (floor if floor > 0 else 1e-9 * window)
    for e in ref.ends(start + window, end, window):
        mean = ref.mean(e, window, least)
        if mean is None:
            continue
        # a window belongs to the block of its end, or of its start: both bounds hold
        by_end = bounds.of_end(np.array([e]))[0]
        by_start = bounds.of_start(np.array([e - window]))[0]
        assert mean <= Fraction(float(bounds.bound[by_end]))
        assert mean <= Fraction(float(bounds.bound[by_start]))


@pytest.mark.parametrize("case", ["shorter than the window", "one window", "single reading",
                                  "readings 15 min apart", "all in a gap"])
@pytest.mark.parametrize("unmonitored", ["missing", "zero"])
def test_pruned_and_full_search_agree_on_edge_cases(case: str, unmonitored: Unmonitored
                                                    ) -> None:
    start, end, gap = 0.0, 8 * H, 2.0
    if case == "shorter than the window":
        times, values, end = np.arange(600.0), np.full(600, 3.0), 600.0
    elif case == "one window":
        times, values, end = np.arange(900.0), np.linspace(0, 5, 900), 900.0
    elif case == "single reading":
        times, values, gap = np.array([3600.0]), np.array([7.0]), 900.0
    elif case == "readings 15 min apart":
        times, gap = np.arange(0.0, 8 * H, 900.0), 900.0
        values = np.where(np.arange(times.size) % 5 == 3, 6.0, 1.0)
    else:
        times, values = np.arange(0.0, 8 * H), np.full(int(8 * H), np.nan)
    series = StepSeries.build(times, values, max_gap=gap, start=start, end=end)
    pruned = shortterm._stel_max(series, 900.0, unmonitored, 0.75, prune=True)
    full = shortterm._stel_max(series, 900.0, unmonitored, 0.75, prune=False)
    np.testing.assert_equal([pruned.stel_max, pruned.window_end, pruned.windows_evaluated],
                            [full.stel_max, full.window_end, full.windows_evaluated])
    floor = None if unmonitored == "zero" else 0.75 * 900.0
    truth = Reference(series).stel(start + 900.0, end, 900.0, floor)
    if truth is None or series.t.size == 0:      # no readings: no STEL, even counting zero
        assert np.isnan(pruned.stel_max)
    else:
        assert pruned.stel_max == pytest.approx(float(truth), rel=1e-12)


def test_pruning_skips_most_of_a_working_day() -> None:
    # 1 Hz for 8 h with 1 % rejected readings, one 10-min excursion: the bounds leave a few
    # blocks around it, and the pruned search names the same window as the full one.
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 8 * H) + rng.uniform(0.0, 0.2, int(8 * H))
    v = rng.lognormal(np.log(0.3), 0.3, t.size)
    v[12_000:12_600] = 8.0
    v[rng.random(t.size) < 0.01] = np.nan
    series = StepSeries.build(t, v, max_gap=2.0, start=0.0, end=8 * H)
    r = stel_max(t, v, start=0.0, end=8 * H, max_gap=2.0)
    full = shortterm._stel_max(series, 900.0, "missing", 0.75, prune=False)
    assert (r.stel_max, r.window_end) == pytest.approx((full.stel_max, full.window_end),
                                                        rel=1e-12)
    assert 12_600 <= r.window_end <= 12_000 + 900 + 2
    bounds = block_bounds(series, window=900.0, zero=False, floor=675.0)
    assert bounds is not None
    assert 0 < np.count_nonzero(bounds.bound >= r.stel_max) < 0.02 * bounds.bound.size


@settings(max_examples=60, deadline=None)
@given(data=long_readings(), cut=st.floats(-0.1, 0.2))
def test_unmonitored_time_by_search_equals_the_dense_table(data: Readings, cut: float) -> None:
    times, values, gap = data
    start, end = _shift(times, gap, cut, 1.0)
    series = StepSeries.build(times, values, max_gap=gap, start=start, end=end)
    k = np.arange(series.t.size + 1)
    few = np.concatenate([series.unmonitored_before(k[i:i + 1]) for i in range(k.size)])
    np.testing.assert_array_equal(few, series.unmonitored_before(k))   # dense: many queries
    np.testing.assert_array_equal(few, series._unmonitored)
