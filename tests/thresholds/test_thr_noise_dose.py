"""Noise (GBZ 2.2-2007 cl. 11, GBZ/T 229.4) and radiation dose (GB 18871-2002, GBZ 128)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresholds import (
    dose_assessment,
    impulse_assessment,
    impulse_peak_limit,
    investigation_level,
    laeq,
    laeq_of_periods,
    lex_8h,
    lex_w,
    noise_dose_percent,
    noise_grade,
    noise_projected_dose,
    shift_noise,
)
from thresholds.series import StepSeries, held_and_integral

H = 3600.0


def test_domain_worked_example() -> None:
    # 4 h at 90 dB(A) + 4 h at 80 dB(A) -> 10 lg((4e9 + 4e8) / 8) = 87.4 dB(A), dose 174 %.
    level = laeq_of_periods([90, 80], [4, 4])
    assert round(lex_8h(level, 8), 1) == 87.4
    assert round(float(noise_dose_percent(lex_8h(level, 8)))) == 174


def test_worked_example_from_readings() -> None:
    t = np.arange(0, 8 * H, 1.0)
    levels = np.where(t < 4 * H, 90.0, 80.0)
    r = shift_noise(t, levels, start=0, max_gap=2)
    assert r.lex_8h == pytest.approx(10 * math.log10((4e9 + 4e8) / 8), abs=1e-9)
    assert r.dose_percent == pytest.approx(173.925, abs=1e-3)
    assert r.verdict() == "fail"
    assert laeq(t, levels, max_gap=2, start=0, end=8 * H) == pytest.approx(r.laeq, rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.floats(0.1, 30.0), max_size=60),
       levels=st.lists(st.one_of(st.floats(40.0, 120.0), st.sampled_from([np.nan, np.inf])),
                       min_size=60, max_size=60),
       epoch=st.booleans(), gap=st.sampled_from([1.0, 2.0, 10.0]),
       cut=st.floats(-20.0, 40.0), length=st.one_of(st.none(), st.floats(0.0, 600.0)))
def test_shift_sums_equal_those_of_the_series(steps: list[float], levels: list[float],
                                              epoch: bool, gap: float, cut: float,
                                              length: float | None) -> None:
    # the LAeq shortcut must give the step series' two sums to the last bit
    times = np.cumsum(steps) + (1.7e9 if epoch else 0.0)
    energy = np.power(10.0, 0.1 * np.array(levels[:times.size]))
    start = float(times[0]) + cut if times.size else cut
    end = None if length is None else start + length
    try:
        series = StepSeries.build(times, energy, max_gap=gap, start=start, end=end)
    except ValueError as e:                  # a start past the data's end: the same error
        with pytest.raises(ValueError, match=re.escape(str(e))):
            held_and_integral(times, energy, max_gap=gap, start=start, end=end)
        return
    assert held_and_integral(times, energy, max_gap=gap, start=start, end=end) == (
        series.monitored(), series.integral())


def test_lex_normalises_duration() -> None:
    assert lex_8h(88.0, 4.0) == pytest.approx(85.0, abs=0.011)   # 88 + 10 lg 0.5 = 84.99
    assert lex_8h(85.0, 16.0) == pytest.approx(88.0103, abs=1e-4)
    with pytest.raises(ValueError):
        lex_8h(85.0, 0.0)


def test_lex_w() -> None:
    # Five days at 85 -> 85; four days at 86 -> 10 lg(4/5 x 10^8.6) = 85.03.
    assert lex_w([85] * 5) == pytest.approx(85.0)
    assert lex_w([86] * 4) == pytest.approx(86 + 10 * math.log10(4 / 5))
    with pytest.raises(ValueError):
        lex_w([85] * 8)


@settings(max_examples=50, deadline=None)
@given(hours=st.floats(0.5, 12))
def test_85_db_for_8_hours_is_100_percent(hours: float) -> None:
    assert lex_8h(85.0, 8.0) == 85.0
    assert noise_dose_percent(85.0) == pytest.approx(100.0, rel=1e-12)
    # 85 dB over any duration t: dose = 100 t / 8
    assert noise_dose_percent(lex_8h(85.0, hours)) == pytest.approx(100 * hours / 8, rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(level=st.floats(40, 140))
def test_3_db_multiplies_dose_by_10_pow_0_3(level: float) -> None:
    # "3 dB doubles the dose" is the rounding of 10^0.3 = 1.995.
    ratio = float(noise_dose_percent(level + 3)) / float(noise_dose_percent(level))
    assert ratio == pytest.approx(10 ** 0.3, rel=1e-9)


def test_projected_dose() -> None:
    # 3 h so far at LAeq 88: if it goes on for the 8 h shift, LEX = 88, dose 199.5 %.
    assert noise_projected_dose(88.0, 8.0) == pytest.approx(100 * 10 ** 0.3)


def test_partial_coverage_and_quiet_time() -> None:
    t = np.arange(0, 4 * H, 60.0)
    levels = np.full(t.size, 88.0)
    missing = shift_noise(t, levels, start=0, max_gap=60)
    assert missing.coverage == pytest.approx(0.5) and missing.verdict() == "insufficient"
    quiet = shift_noise(t, levels, start=0, max_gap=60, unmonitored="zero")
    assert quiet.lex_8h == pytest.approx(88 + 10 * math.log10(0.5))
    assert quiet.verdict() == "pass"
    loud = shift_noise(t, np.full(t.size, 95.0), start=0, max_gap=60)
    assert loud.verdict() == "fail"     # even the monitored half alone exceeds 85


def test_empty_noise_is_insufficient() -> None:
    assert shift_noise([], [], start=0, max_gap=60).verdict() == "insufficient"


@pytest.mark.parametrize(("lex", "grade"), [(84.9, "0"), (85, "I"), (89.9, "I"), (90, "II"),
                                            (93.9, "II"), (94, "III"), (99.9, "III"),
                                            (100, "IV"), (115, "IV")])
def test_noise_grade(lex: float, grade: str) -> None:
    assert noise_grade(lex) == grade


@pytest.mark.parametrize(("n", "limit"), [(0, 140), (100, 140), (101, 130), (1000, 130),
                                          (1001, 120), (10000, 120), (10001, None)])
def test_impulse_peak_limit(n: int, limit: float | None) -> None:
    assert impulse_peak_limit(n) == limit


def test_impulse_assessment() -> None:
    assert impulse_assessment(np.full(50, 139.0)).verdict == "pass"
    r = impulse_assessment(np.full(500, 131.0))
    assert (r.count, r.limit_db, r.verdict) == (500, 130, "fail")
    assert impulse_assessment(np.full(10001, 100.0)).verdict == "insufficient"


# ---- Radiation ----

def test_investigation_level() -> None:
    assert investigation_level(12) == pytest.approx(5 / 12)
    assert investigation_level(4) == pytest.approx(1.25)


def test_dose_assessment_pass_and_investigation() -> None:
    doses = [0.1] * 11 + [0.5]          # monthly, one month above 5/12 = 0.4167 mSv
    r = dose_assessment(doses, periods_per_year=12)
    assert r.verdict == "pass" and r.investigate == (11,)
    assert r.annual_msv.tolist() == pytest.approx([1.6])


def test_single_year_over_50_fails() -> None:
    r = dose_assessment([13.0, 13.0, 13.0, 13.0], periods_per_year=4)   # 52 mSv
    assert r.verdict == "fail" and "single_year_50" in r.broken


def test_five_year_average_over_20_fails() -> None:
    # 5 years at 21 mSv/y: each year under 50, but 105 mSv in 5 years > 100.
    r = dose_assessment([21.0] * 5, periods_per_year=1)
    assert r.broken == ("five_year_average_20",)
    assert r.five_year_average_msv == pytest.approx(21.0)
    ok = dose_assessment([30.0, 10.0, 20.0, 20.0, 20.0], periods_per_year=1)  # 100: at limit
    assert ok.verdict == "pass"


def test_organ_limits_and_missing_periods() -> None:
    assert dose_assessment([1.0], periods_per_year=1, lens_msv=151).broken == ("lens_150",)
    assert dose_assessment([1.0], periods_per_year=1, skin_msv=501).broken == ("skin_500",)
    r = dose_assessment([0.1, np.nan, 0.1], periods_per_year=12)
    assert r.verdict == "insufficient" and r.coverage == pytest.approx(2 / 3)
