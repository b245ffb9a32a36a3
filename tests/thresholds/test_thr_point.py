"""assess_point and the series forms equal the separate functions; the step-series look-ups
and the exact STEL search agree with exact (rational) arithmetic on random inputs
(``tests.thresholds.stel_reference`` for the STEL)."""

from __future__ import annotations

import bisect
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.thresholds.stel_reference import ExactStel, position_slack, tolerance
from thresholds import (
    StepSeries,
    assess_point,
    mac_exceedances,
    peak_excursions,
    shift_twa,
    stel_max,
)
from thresholds.twa import Unmonitored

H = 3600.0


@st.composite
def readings(draw: st.DrawFn, max_size: int = 120) -> tuple[np.ndarray, np.ndarray, float]:
    """Irregular or regular times, values with plateaus, ties and rejected readings."""
    n = draw(st.integers(1, max_size))
    kind = draw(st.sampled_from(["grid", "jitter", "irregular", "epoch"]))
    step = draw(st.sampled_from([1.0, 30.0, 60.0]))
    if kind == "grid":
        times = np.arange(n) * step
    elif kind == "irregular":
        times = np.cumsum(draw(st.lists(st.floats(0.5, 200.0), min_size=n, max_size=n)))
    else:
        jitter = draw(st.lists(st.floats(0.0, 0.2 * step), min_size=n, max_size=n))
        times = np.arange(n) * step + np.array(jitter) + (1.7e9 if kind == "epoch" else 0.0)
    levels = draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, 4.0, 8.0]), min_size=1,
                           max_size=6))
    values = np.array(draw(st.lists(st.sampled_from(levels), min_size=n, max_size=n)),
                      dtype=np.float64)
    noise = draw(st.lists(st.floats(-0.3, 0.3), min_size=n, max_size=n))
    if draw(st.booleans()):
        values = values + np.array(noise)
    rejected = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    values[np.array(rejected) & (np.arange(n) % draw(st.integers(1, 9)) == 0)] = np.nan
    max_gap = draw(st.sampled_from([step, 1.5 * step, 2.0 * step, 600.0]))
    return times, values, max_gap


class Exact:
    """The step function in rationals: cumulative integral and monitored time, brute force."""

    def __init__(self, series: StepSeries) -> None:
        self.t = [Fraction(x) for x in series.t.tolist()]
        self.s = [Fraction(x) for x in series.s.tolist()]
        self.v = [Fraction(x) for x in series.v.tolist()]
        self.start = Fraction(series.start)
        self.cum_i, self.cum_k = [Fraction(0)], [Fraction(0)]   # before each segment
        for t, s, v in zip(self.t, self.s, self.v, strict=True):
            self.cum_i.append(self.cum_i[-1] + v * (s - t))
            self.cum_k.append(self.cum_k[-1] + (s - t))

    def at(self, q: Fraction) -> tuple[Fraction, Fraction]:
        j = bisect.bisect_right(self.t, q) - 1
        if j < 0:
            return Fraction(0), Fraction(0)
        part = min(q, self.s[j]) - self.t[j]
        return self.cum_i[j] + self.v[j] * part, self.cum_k[j] + part


# ---- assess_point == the separate functions ----

@settings(max_examples=60, deadline=None)
@given(data=readings(), start_at=st.integers(-300, 300), hours=st.sampled_from([0.5, 1, 2, 8]),
       stel=st.booleans(), mac=st.sampled_from([None, 2.0, 5.0]),
       pc_twa=st.sampled_from([None, 0.5, 1.0]), unmonitored=st.sampled_from(["missing", "zero"]),
       mwc=st.sampled_from([0.0, 0.75, 1.0]))
def test_assess_point_equals_the_separate_functions(
        data: tuple[np.ndarray, np.ndarray, float], start_at: int, hours: float, stel: bool,
        mac: float | None, pc_twa: float | None, unmonitored: Unmonitored, mwc: float) -> None:
    times, values, gap = data
    start = float(round(times[0])) + start_at   # whole seconds: start + hours * H - start
    end = start + hours * H                       # is exactly the shift length
    out = assess_point(times, values, start=start, end=end, max_gap=gap, stel=stel, mac=mac,
                       pc_twa=pc_twa, unmonitored=unmonitored,
                       min_window_coverage=mwc)
    twa = shift_twa(times, values, start=start, hours=hours, max_gap=gap,
                    unmonitored=unmonitored)
    assert out.twa == twa or (np.isnan(twa.c_twa) and np.isnan(out.twa.c_twa)
                              and out.twa.coverage == twa.coverage)
    window = {"start": start, "end": end, "max_gap": gap}
    if stel:
        ref = stel_max(times, values, unmonitored=unmonitored,
                       min_window_coverage=mwc, **window)
        assert out.stel is not None
        np.testing.assert_equal([out.stel.stel_max, out.stel.window_end],
                                [ref.stel_max, ref.window_end])
        assert out.stel.windows_evaluated == ref.windows_evaluated
    else:
        assert out.stel is None
    if mac is None:
        assert out.mac is None
    else:
        ref_mac = mac_exceedances(times, values, mac=mac, **window)
        assert out.mac is not None and out.mac.exceedances == ref_mac.exceedances
        np.testing.assert_equal(out.mac.max_value, ref_mac.max_value)
    if pc_twa is None:
        assert out.peaks is None
    else:
        assert out.peaks == peak_excursions(times, values, pc_twa=pc_twa, **window)


def test_assess_point_worked_example() -> None:
    # 1 Hz, 2 mg/m3 all day, 10 mg/m3 for 10 min: C_TWA over 8 h, STEL (10x600 + 2x300)/900.
    t = np.arange(0, 8 * H, 1.0)
    v = np.full(t.size, 2.0)
    v[3600:4200] = 10.0
    out = assess_point(t, v, start=0, end=8 * H, max_gap=2, mac=8.0, pc_twa=1.0)
    assert out.twa.c_twa == pytest.approx(2 + 8 * 600 / (8 * H))
    assert out.stel is not None and out.stel.stel_max == pytest.approx(6600 / 900)
    assert out.mac is not None and [(x.start, x.end) for x in out.mac.exceedances] == [
        (3600.0, 4200.0)]
    assert out.peaks is not None and out.peaks.broken == ("ceiling",)


# ---- the exact STEL search ----

@settings(max_examples=150, deadline=None, database=None)
@given(data=readings(max_size=60), cut=st.floats(-0.2, 0.3), length=st.floats(0.3, 1.2),
       window=st.sampled_from([60.0, 300.0, 900.0]),
       unmonitored=st.sampled_from(["missing", "zero"]), mwc=st.sampled_from([0.01, 0.75]))
def test_stel_equals_exact_maximum(data: tuple[np.ndarray, np.ndarray, float], cut: float,
                                   length: float, window: float, unmonitored: Unmonitored,
                                   mwc: float) -> None:
    times, values, gap = data
    span = float(times[-1] - times[0]) + gap
    start = float(times[0]) + cut * span
    end = start + max(length * span, window)
    series = StepSeries.build(times, values, max_gap=gap, start=start, end=end)
    r = stel_max(times, values, start=start, end=end, max_gap=gap, window=window,
                 unmonitored=unmonitored, min_window_coverage=mwc)
    if series.t.size == 0:
        assert np.isnan(r.stel_max)
        return
    exact = ExactStel(series)
    floor = None if unmonitored == "zero" else mwc * window
    at_edges, crossed = exact.stel_parts(start + window, end, window, floor)
    truth = exact.stel(start + window, end, window, floor)
    if truth is None:
        assert np.isnan(r.stel_max)
    else:
        tol = tolerance(series, window, floor, crossed is not None and truth != at_edges)
        assert r.stel_max == pytest.approx(float(truth), rel=0, abs=tol)
        # and the window it names has that mean (and counts, to within rounding)
        named = exact.mean(r.window_end, window, floor, slack=position_slack(series, window))
        assert named is not None
        assert float(named) == pytest.approx(float(truth), rel=0, abs=tol)


@pytest.mark.parametrize(("values", "window_end"), [
    ([0.0, 10.0, 5.0, 5.0, 5.0], 1500.0),   # best window starts at the step up (600 s)
    ([5.0, 10.0, 0.0, 0.0, 0.0], 1200.0),   # best window ends at the step down (1200 s)
])
def test_stel_best_window_has_one_edge_mid_reading(values: list[float],
                                                   window_end: float) -> None:
    # (10 x 600 + 5 x 300) / 900 = 8.33; every window with both edges on step edges is lower
    t = np.arange(5) * 600.0
    r = stel_max(t, values, start=0, end=3000, max_gap=600)
    assert r.stel_max == pytest.approx(7500 / 900)
    assert r.window_end == window_end


def test_stel_best_window_reaching_into_a_gap() -> None:
    # 60-s readings: 2 until 600 s, 1 until 660 s, 5 until the gap 1440-1620 s, then 0.
    # Windows ending in the gap hold 2340 - end s; the last held 810 s (0.9 x 900) is
    # 630-1530 s: (30 x 1 + 780 x 5) / 810 = 4.852. Its position is no step edge: the step-
    # edge window 600-1500 s holds 840 s but takes in 30 s more of the 1, (60 x 1 + 780 x 5)
    # / 840 = 4.714 (what the search gave before it tried floor crossings); later windows
    # hold too little, earlier ones take in the lower values.
    t = np.concatenate((np.arange(0, 1440, 60.0), np.arange(1620, 3000, 60.0)))
    v = np.where(t < 600, 2.0, np.where(t < 660, 1.0, np.where(t < 1440, 5.0, 0.0)))
    r = stel_max(t, v, start=0, end=3000, max_gap=60, min_window_coverage=0.9)
    assert r.stel_max == pytest.approx(3930 / 810, rel=1e-15)
    assert r.window_end == 1530.0


def test_stel_full_window_coverage_at_1hz() -> None:
    # Every 15-min window of a gapless 1 Hz day is fully held: min_window_coverage=1.0 must
    # find the peak window (rounding once made held come out a hair under 900 s).
    rng = np.random.default_rng(7)
    t = np.arange(0, 4 * H, 1.0) + rng.uniform(0, 0.2, int(4 * H))
    v = rng.uniform(0.0, 1.0, t.size)
    v[5000:5600] = 10.0
    r = stel_max(t, v, start=0, end=4 * H, max_gap=2, min_window_coverage=1.0)
    loose = stel_max(t, v, start=0, end=4 * H, max_gap=2, min_window_coverage=0.75)
    assert r.stel_max == pytest.approx(loose.stel_max, rel=1e-12)
    assert r.stel_max > 6.0


# ---- StepSeries look-ups ----

@settings(max_examples=60, deadline=None)
@given(data=readings(max_size=200), cluster=st.booleans())
def test_started_and_cumulative_at_are_exact(data: tuple[np.ndarray, np.ndarray, float],
                                             cluster: bool) -> None:
    times, values, gap = data
    if cluster:   # a burst of close readings: the bucket look-up gives way to the search
        times = np.concatenate((times[:1] - 10.0 - np.arange(30)[::-1] * 1e-3, times))
        values = np.concatenate((np.ones(30), values))
    series = StepSeries.build(times, values, max_gap=gap)
    exact = Exact(series)
    knots = np.concatenate((series.t, series.s))
    query = np.sort(np.concatenate((knots, knots - 0.5, knots + 0.5, knots + 900.0,
                                    [series.start - 1.0, series.end + 1.0])))
    started = series.started(query)
    np.testing.assert_array_equal(started, np.searchsorted(series.t, query, side="right"))
    integral, unmonitored = series.cumulative_at(query)
    for q, i, u in zip(query.tolist(), integral.tolist(), unmonitored.tolist(), strict=True):
        i_x, k_x = exact.at(Fraction(q))
        gone = max(Fraction(q) - exact.start, Fraction(0)) - k_x
        assert i == pytest.approx(float(i_x), rel=1e-12, abs=1e-9)
        assert u == pytest.approx(float(gone), rel=1e-12, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(data=readings(), threshold=st.sampled_from([0.5, 2.0, 3.0, 5.0]))
def test_runs_match_their_definition(data: tuple[np.ndarray, np.ndarray, float],
                                     threshold: float) -> None:
    times, values, gap = data
    series = StepSeries.build(times, values, max_gap=gap)
    starts, stops, peaks = series.runs(series.v > threshold)
    expected: list[tuple[float, float, float]] = []
    for i in range(series.t.size):
        if not series.v[i] > threshold:
            continue
        if expected and series.t[i] == expected[-1][1] and series.v[i - 1] > threshold:
            a, _, m = expected[-1]
            expected[-1] = (a, float(series.s[i]), max(m, float(series.v[i])))
        else:
            expected.append((float(series.t[i]), float(series.s[i]), float(series.v[i])))
    assert list(zip(starts.tolist(), stops.tolist(), peaks.tolist(), strict=True)) == expected


@settings(max_examples=60, deadline=None)
@given(data=readings(), cut=st.floats(-0.2, 0.5), length=st.floats(0.0, 1.2))
def test_build_clips_like_its_definition(data: tuple[np.ndarray, np.ndarray, float],
                                         cut: float, length: float) -> None:
    times, values, gap = data
    span = float(times[-1] - times[0]) + gap
    start = float(times[0]) + cut * span
    end = start + length * span
    series = StepSeries.build(times, values, max_gap=gap, start=start, end=end)
    s = np.minimum(times + gap, np.append(times[1:], np.inf))
    keep = np.isfinite(values) & (s > start) & (times < end)
    np.testing.assert_array_equal(series.t, np.clip(times[keep], start, end))
    np.testing.assert_array_equal(series.s, np.clip(s[keep], start, end))
    np.testing.assert_array_equal(series.v, values[keep])


def test_series_does_not_alias_the_callers_times() -> None:
    times = np.arange(0.0, 600.0, 60.0)
    series = StepSeries.build(times, np.ones(times.size), max_gap=60, start=30.0, end=600.0)
    assert series.t[0] == 30.0 and times[0] == 0.0
    times[1] = -1.0
    assert series.t[1] == 60.0


def test_cumulative_at_on_an_empty_series() -> None:
    series = StepSeries.build([0.0, 60.0], [np.nan, np.nan], max_gap=60, start=0, end=120)
    integral, unmonitored = series.cumulative_at(np.array([0.0, 60.0, 120.0]))
    np.testing.assert_array_equal(integral, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(unmonitored, [0.0, 60.0, 120.0])
