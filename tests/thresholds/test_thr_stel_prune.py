"""The pruned STEL search (``thresholds.bounds``) still finds the exact maximum: every block
bound holds for every candidate window in its block (floor crossings included), and the
pruned search agrees with the full one, with a plain reference in exact (rational)
arithmetic and with a dense exact scan, on random step series, gaps and edge cases
included."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.thresholds.stel_reference import ExactStel, position_slack, tolerance
from thresholds import StepSeries, stel, stel_max
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
        mp.setattr(stel, "_PRUNE_MAX_SHARE", 1.0)
        pruned = stel._stel_max(series, window, unmonitored, mwc, prune=True)
    full = stel._stel_max(series, window, unmonitored, mwc, prune=False)
    assert pruned.windows_evaluated == full.windows_evaluated
    if series.t.size == 0:
        assert np.isnan(pruned.stel_max) and np.isnan(full.stel_max)
        return
    floor = None if unmonitored == "zero" else mwc * window
    ref = ExactStel(series)
    at_edges, crossed = ref.stel_parts(start + window, end, window, floor)
    truth = ref.stel(start + window, end, window, floor)
    if truth is None:
        assert np.isnan(pruned.stel_max) and np.isnan(full.stel_max)
        return
    tol = tolerance(series, window, floor, crossed is not None and truth != at_edges)
    assert pruned.stel_max == pytest.approx(float(truth), rel=0, abs=tol)
    assert pruned.stel_max == pytest.approx(full.stel_max, rel=1e-12, abs=1e-12)
    named = ref.mean(pruned.window_end, window, floor, slack=position_slack(series, window))
    assert named is not None
    assert float(named) == pytest.approx(float(truth), rel=0, abs=tol)


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
    ref = ExactStel(series)
    if np.isfinite(bounds.sure):       # a mean the search does reach
        found = stel._stel_max(series, window, "zero" if zero else "missing", mwc,
                                    prune=False)
        assert bounds.sure <= found.stel_max
    least = None if zero else (floor if floor > 0 else 1e-9 * window)
    lo, hi = start + window, end
    crossings = [] if least is None else ref.crossings(lo, hi, window, least)
    for e in [*map(Fraction, ref.step_ends(lo, hi, window)), *crossings]:
        mean = ref.mean(e, window, least)
        if mean is None:
            continue
        # a window belongs to the block of its end, or of its start: both bounds hold
        by_end = bounds.of_end(np.array([float(e)]))[0]
        by_start = bounds.of_start(np.array([float(e - Fraction(window))]))[0]
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
    pruned = stel._stel_max(series, 900.0, unmonitored, 0.75, prune=True)
    full = stel._stel_max(series, 900.0, unmonitored, 0.75, prune=False)
    np.testing.assert_equal([pruned.stel_max, pruned.window_end, pruned.windows_evaluated],
                            [full.stel_max, full.window_end, full.windows_evaluated])
    floor = None if unmonitored == "zero" else 0.75 * 900.0
    truth = ExactStel(series).stel(start + 900.0, end, 900.0, floor)
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
    full = stel._stel_max(series, 900.0, "missing", 0.75, prune=False)
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


# ---- windows whose monitored time crosses the coverage floor ----

@pytest.mark.parametrize(("times", "high", "window_end"), [
    # readings from 500 s, 10 until 1150 s then 1: the first window held 675 s
    # (0.75 x 900) is (275, 1175]: (650 x 10 + 25 x 1) / 675 = 29/3 = 9.667, while the
    # step-edge windows either side, ending at 1170 s (held 670 s) and 1180 s
    # ((650 x 10 + 30 x 1) / 680 = 9.603), are under the floor and lower
    (np.arange(500.0, 3600.0, 10.0), lambda t: t < 1150, 1175.0),
    # the mirror image: 1 until 2450 s, then 10 until the readings stop at 3100 s; the last
    # window held 675 s is (2425, 3325]
    (np.arange(0.0, 3100.0, 10.0), lambda t: t >= 2450, 3325.0),
])
def test_stel_at_the_coverage_floor_crossing(times: np.ndarray, high: object,
                                             window_end: float) -> None:
    values = np.where(high(times), 10.0, 1.0)        # type: ignore[operator]
    end = 3600.0 if times[0] > 0 else 4000.0
    r = stel_max(times, values, start=0.0, end=end, max_gap=10.0, min_window_coverage=0.75)
    expected = Fraction(650 * 10 + 25 * 1, 675)
    assert expected == Fraction(29, 3)
    assert r.stel_max == float(expected)
    assert r.window_end == window_end
    # independently: the exact means of the windows ending every second, and around the
    # crossing every 1/8 s, peak there and nowhere else
    series = StepSeries.build(times, values, max_gap=10.0, start=0.0, end=end)
    ref = ExactStel(series)
    assert ref.dense(900.0, end, 900.0, 675.0, int(end - 900.0) + 1) == expected
    near = [ref.mean(Fraction(window_end) + Fraction(k, 8), 900.0, 675.0)
            for k in range(-40, 41)]
    assert max(m for m in near if m is not None) == expected
    assert [m == expected for m in near].count(True) == 1
    # the step-edge windows alone (the search before floor crossings) fall short
    at_edges, crossed = ref.stel_parts(900.0, end, 900.0, 675.0)
    assert crossed == expected and at_edges == Fraction(650 * 10 + 30 * 1, 680)


def test_stel_at_the_floor_crossing_on_a_long_pruned_series() -> None:
    # 1 Hz for 7 h of an 8-h shift, starting 1 h in at 8 mg/m3 for 10 min, then a low
    # background with rejected readings: the maximum is the first window held 675 s, found
    # alike with the block bounds on (the default for so many readings) and off.
    rng = np.random.default_rng(11)
    t = np.arange(H, 8 * H) + rng.uniform(0.0, 0.2, int(7 * H))
    v = rng.lognormal(np.log(0.3), 0.3, t.size)
    v[rng.random(t.size) < 0.01] = np.nan
    v[:700] = 0.3                           # no gap near the crossing: one known window
    v[:600] = 8.0
    series = StepSeries.build(t, v, max_gap=2.0, start=0.0, end=8 * H)
    assert series.t.size >= stel._PRUNE_MIN_SEGMENTS
    r = stel_max(t, v, start=0.0, end=8 * H, max_gap=2.0)
    full = stel._stel_max(series, 900.0, "missing", 0.75, prune=False)
    assert (r.stel_max, r.window_end) == (full.stel_max, full.window_end)
    first = float(series.t[0])
    ref = ExactStel(series)
    expected = ref.mean(Fraction(first) + 675, 900.0, 675.0)
    assert expected is not None
    assert r.stel_max == pytest.approx(float(expected), rel=1e-12)
    assert r.window_end == pytest.approx(first + 675.0, abs=1e-6)
    before = ref.stel_parts(H + 900.0, 2 * H, 900.0, 675.0)[0]
    assert before is not None and before < expected     # step edges alone fall short


@settings(max_examples=80, deadline=None, database=None)
@given(data=long_readings(), cut=st.floats(-0.1, 0.2), length=st.floats(0.2, 1.3),
       window=st.sampled_from([60.0, 300.0, 900.0]), mwc=st.sampled_from([0.5, 0.75, 0.9]))
def test_stel_is_at_least_every_window_of_a_dense_exact_scan(
        data: Readings, cut: float, length: float, window: float, mwc: float) -> None:
    # No candidate argument here: the exact mean of windows ending at 3000 evenly spaced
    # positions never exceeds the STEL, and the STEL never exceeds the exact candidates'.
    times, values, gap = data
    start, end = _shift(times, gap, cut, length)
    series = StepSeries.build(times, values, max_gap=gap, start=start, end=end)
    r = stel._stel_max(series, window, "missing", mwc, prune=None)
    if series.t.size == 0 or end - start < window:
        assert np.isnan(r.stel_max)
        return
    floor = mwc * window
    ref = ExactStel(series)
    scan = ref.dense(start + window, end, window, floor, 3000)
    if scan is None:
        return
    assert not np.isnan(r.stel_max)
    assert r.stel_max >= float(scan) - tolerance(series, window, floor, True)
