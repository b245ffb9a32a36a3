"""C_TWA, RF, rolling 15-min TWA, MAC exceedances, peak excursions, job TWA, mixtures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresholds import (
    job_twa,
    mac_exceedances,
    mixture_index,
    peak_excursions,
    reduction_factor_day,
    reduction_factor_week,
    rolling_twa,
    shift_twa,
    stel_max,
    twa_verdict,
)

H = 3600.0


# ---- C_TWA (GBZ 2.1-2019 appendix A / GBZ 159) ----

def test_twa_worked_example_periods() -> None:
    # 2 h at 10, 4 h at 5, 2 h at 0 mg/m3 -> (20 + 20 + 0) / 8 = 5 mg/m3.
    times = np.array([0, 2 * H, 6 * H])
    values = np.array([10.0, 5.0, 0.0])
    r = shift_twa(times, values, start=0, max_gap=4 * H)
    assert r.c_twa == pytest.approx(5.0) and r.coverage == 1.0


def test_short_shift_counts_rest_of_8h_as_zero() -> None:
    # 4 h at 8 mg/m3, a 4 h shift: C_TWA = 8 x 4 / 8 = 4 (GBZ 159 divisor 8 h).
    r = shift_twa([0.0], [8.0], start=0, hours=4, max_gap=4 * H)
    assert r.c_twa == pytest.approx(4.0)


def test_missing_time_lowers_coverage_and_extrapolates() -> None:
    # 6 of 8 h monitored at 4 mg/m3 (the last reading holds max_gap = 60 s).
    times = np.arange(0, 6 * H, 60.0)
    r = shift_twa(times, np.full(times.size, 4.0), start=0, max_gap=60)
    assert r.coverage == pytest.approx(0.75)
    assert r.c_twa == pytest.approx(4.0)
    assert r.c_twa_lower == pytest.approx(3.0)
    z = shift_twa(times, np.full(times.size, 4.0), start=0, max_gap=60, unmonitored="zero")
    assert (z.c_twa, z.coverage) == (pytest.approx(3.0), 1.0)


def test_twa_verdicts() -> None:
    t = np.arange(0, 8 * H, 60.0)
    full = shift_twa(t, np.full(t.size, 3.0), start=0, max_gap=120)
    assert twa_verdict(full, 3.0) == "pass"          # equal to the limit passes
    assert twa_verdict(full, 2.9) == "fail"
    assert twa_verdict(full, 5.0, rf=0.5) == "fail"  # 3 > 5 x 0.5
    part = shift_twa(t[:120], np.full(120, 3.0), start=0, max_gap=120)   # 2 h of 8
    assert twa_verdict(part, 5.0) == "insufficient"
    high = shift_twa(t[:120], np.full(120, 40.0), start=0, max_gap=120)  # lower bound 10
    assert twa_verdict(high, 5.0) == "fail"


@pytest.mark.parametrize("values", [[], [np.nan, np.nan]])
def test_empty_or_all_gap_input_is_insufficient(values: list[float]) -> None:
    times = np.arange(len(values), dtype=float) * 60
    r = shift_twa(times, values, start=0, max_gap=120)
    assert r.coverage == 0.0 and np.isnan(r.c_twa)
    assert twa_verdict(r, 10.0) == "insufficient"


def test_readings_outside_the_shift_are_ignored() -> None:
    r = shift_twa([-100.0, 0.0, 9 * H], [1000.0, 2.0, 1000.0], start=0, max_gap=8 * H)
    assert r.c_twa == pytest.approx(2.0)


def test_bad_times_rejected() -> None:
    with pytest.raises(ValueError, match="strictly increasing; index 2"):
        shift_twa([0.0, 10.0, 10.0], [1.0, 1.0, 1.0], start=0, max_gap=60)
    with pytest.raises(ValueError, match="max_gap"):
        shift_twa([0.0], [1.0], start=0, max_gap=0)


@settings(max_examples=60, deadline=None)
@given(value=st.floats(0, 1e4), n=st.integers(1, 200), step=st.floats(1, 600))
def test_constant_input_gives_twa_equal_to_value(value: float, n: int, step: float) -> None:
    hours = n * step / H
    times = np.arange(n) * step
    r = shift_twa(times, np.full(n, value), start=0, hours=hours, max_gap=step,
                  min_coverage=0.0)
    assert r.c_twa == pytest.approx(value * hours / 8, rel=1e-9, abs=1e-12)
    assert r.coverage == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0, 1e3), min_size=1, max_size=50),
       split_at=st.integers(0, 49), fraction=st.floats(0.01, 0.99))
def test_splitting_an_interval_changes_nothing(values: list[float], split_at: int,
                                              fraction: float) -> None:
    n = len(values)
    times = np.arange(n) * 60.0
    k = split_at % n
    t2 = np.insert(times, k + 1, times[k] + 60.0 * fraction)
    v2 = np.insert(np.array(values), k + 1, values[k])
    a = shift_twa(times, values, start=0, hours=n / 60, max_gap=60)
    b = shift_twa(t2, v2, start=0, hours=n / 60, max_gap=60)
    assert b.c_twa == pytest.approx(a.c_twa, rel=1e-9, abs=1e-12)
    assert b.coverage == pytest.approx(a.coverage)


# ---- Reduction factors, GBZ 2.1-2019 A.7.3 (Brief & Scala) ----

@pytest.mark.parametrize(("hours", "rf"), [(8, 1.0), (6, 1.0), (10, 0.7), (12, 0.5),
                                           (9, 8 / 9 * 15 / 16)])
def test_reduction_factor_day(hours: float, rf: float) -> None:
    assert reduction_factor_day(hours) == pytest.approx(rf)


@pytest.mark.parametrize(("hours", "rf"), [(40, 1.0), (48, 40 / 48 * 120 / 128),
                                           (60, 40 / 60 * 108 / 128)])
def test_reduction_factor_week(hours: float, rf: float) -> None:
    assert reduction_factor_week(hours) == pytest.approx(rf)


def test_reduction_factor_vectorised_and_range() -> None:
    np.testing.assert_allclose(reduction_factor_day(np.array([8.0, 12.0])), [1.0, 0.5])
    with pytest.raises(ValueError):
        reduction_factor_day(25.0)
    with pytest.raises(ValueError):
        reduction_factor_week(0.0)


# ---- Rolling 15-min TWA and STEL ----

def test_stel_worked_example() -> None:
    # 1 Hz: 2 mg/m3 all day, 10 mg/m3 for 10 min -> worst 15 min = (10x600 + 2x300)/900.
    t = np.arange(0, 8 * H, 1.0)
    v = np.full(t.size, 2.0)
    v[3600:4200] = 10.0
    r = stel_max(t, v, start=0, end=8 * H, max_gap=2)
    assert r.stel_max == pytest.approx(6600 / 900)
    # a window of (600 s of 10 + 300 s of 2) ends anywhere in [4200, 4500]
    assert 4200 <= r.window_end <= 4500


def test_stel_finds_max_between_sparse_readings() -> None:
    # readings every 10 min: the exact worst window straddles step edges.
    t = np.array([0, 600, 1200, 1800, 2400.0])
    v = np.array([0, 30, 0, 0, 0.0])
    r = stel_max(t, v, start=0, end=3000, max_gap=600)
    assert r.stel_max == pytest.approx(30 * 600 / 900)


def test_rolling_twa_values() -> None:
    t = np.arange(0, 3600, 60.0)
    v = np.where(t < 1800, 1.0, 4.0)
    ends = np.array([900.0, 1800.0, 2250.0, 2700.0])
    out = rolling_twa(t, v, max_gap=60, ends=ends)
    np.testing.assert_allclose(out, [1.0, 1.0, 2.5, 4.0])
    # a window mostly unmonitored is NaN
    assert np.isnan(rolling_twa(t, v, max_gap=60, ends=np.array([4500.0]))[0])


def test_stel_needs_a_full_window() -> None:
    r = stel_max([0.0, 60.0], [5.0, 5.0], start=0, end=600, max_gap=60)
    assert np.isnan(r.stel_max)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(0, 100), min_size=20, max_size=80))
def test_stel_is_max_of_brute_force_windows(values: list[float]) -> None:
    t = np.arange(len(values)) * 60.0
    end = float(t[-1] + 60)
    r = stel_max(t, values, start=0, end=end, max_gap=60)
    grid = np.arange(900.0, end + 1, 15.0)   # dense window ends, every 15 s
    brute = rolling_twa(t, values, max_gap=60, ends=grid, min_window_coverage=0.99)
    assert r.stel_max >= np.nanmax(brute) - 1e-9
    assert r.stel_max <= max(values) + 1e-9


# ---- MAC ----

def test_mac_exceedance_intervals() -> None:
    t = np.arange(0, 3600, 60.0)
    v = np.full(t.size, 1.0)
    v[10:13] = [12.0, 15.0, 11.0]      # 600-780 s
    v[40] = 10.0                       # equal to MAC: not an exceedance
    v[50:52] = 20.0                    # 3000-3120 s
    r = mac_exceedances(t, v, mac=10, start=0, end=3600, max_gap=60)
    assert r.exceeded and r.max_value == 20.0
    assert [(x.start, x.end, x.duration_s, x.max) for x in r.exceedances] == [
        (600, 780, 180, 15.0), (3000, 3120, 120, 20.0)]


def test_gap_splits_an_exceedance() -> None:
    r = mac_exceedances([0.0, 60.0, 600.0], [20.0, 20.0, 20.0], mac=10, start=0, end=700,
                        max_gap=60)
    assert [(x.start, x.end) for x in r.exceedances] == [(0, 120), (600, 660)]


def test_no_mac_exceedance() -> None:
    r = mac_exceedances([0.0, 60.0], [1.0, 2.0], mac=10, start=0, end=120, max_gap=60)
    assert not r.exceeded and r.exceedances == () and r.max_value == 2.0


# ---- Peak excursions (GBZ 2.1-2019 cl. 3) ----

def _profile(excursions: list[tuple[float, float, float]], base: float = 1.0
             ) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0, 8 * H, 60.0)
    v = np.full(t.size, base)
    for start_min, minutes, level in excursions:
        v[int(start_min): int(start_min + minutes)] = level
    return t, v


@pytest.mark.parametrize(("excursions", "broken"), [
    ([], ()),
    ([(60, 15, 4.0)], ()),                                   # 15 min at 4x: allowed
    ([(60, 16, 4.0)], ("duration",)),
    ([(60, 5, 5.0)], ()),                                    # exactly 5x: not above
    ([(60, 5, 5.5)], ("ceiling",)),
    ([(0, 5, 4), (65, 5, 4), (130, 5, 4), (195, 5, 4)], ()),  # 4, 1 h apart
    ([(0, 5, 4), (65, 5, 4), (130, 5, 4), (195, 5, 4), (260, 5, 4)], ("count",)),
    ([(60, 5, 4.0), (100, 5, 4.0)], ("spacing",)),           # 35 min apart
    ([(0, 20, 6), (30, 5, 4), (60, 5, 4), (90, 5, 4), (120, 5, 4)],
     ("duration", "count", "spacing", "ceiling")),
])
def test_peak_excursion_rules(excursions: list[tuple[float, float, float]],
                              broken: tuple[str, ...]) -> None:
    t, v = _profile(excursions)
    r = peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60)
    assert r.broken == broken
    assert len(r.excursions) == len(excursions)


def test_exactly_3x_is_no_excursion() -> None:
    t, v = _profile([(60, 30, 3.0)])
    assert peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60).excursions == ()


# ---- Job TWA and mixtures ----

def test_job_twa() -> None:
    # 2 h at A (4 mg/m3), 5 h at B (1), 1 h at the rest room (0): (8 + 5 + 0) / 8 = 1.625.
    profile = [("A", 2.0), ("B", 5.0), ("rest", 1.0)]
    assert job_twa(profile, {"A": 4.0, "B": 1.0, "rest": 0.0}) == pytest.approx(1.625)
    with pytest.raises(ValueError, match="no concentration for point"):
        job_twa(profile, {"A": 4.0})
    with pytest.raises(ValueError, match="empty"):
        job_twa([], {})


def test_mixture_index() -> None:
    # toluene 20/50 + xylene 15/50 + ethyl acetate 60/200 = 0.4 + 0.3 + 0.3 = 1.0.
    assert mixture_index([20, 15, 60], [50, 50, 200]) == pytest.approx(1.0)
    np.testing.assert_allclose(mixture_index([[20, 15], [50, 50]], [50, 50]), [0.7, 2.0])
    with pytest.raises(ValueError):
        mixture_index([1.0], [0.0])
