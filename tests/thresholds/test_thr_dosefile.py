"""A worker's personal dose file judged on calendar years and 5-year runs, by hand.

Limits (GB 18871-2002 B1.1.1): 50 mSv a single year, 100 mSv in 5 consecutive years, lens
150, skin/extremities 500. Investigation level (GBZ 128-2019): 5 mSv / 4 = 1.25 mSv a quarter.
"""

from __future__ import annotations

import datetime as dt

import pytest

from thresholds import (
    PeriodResult,
    cumulative_dose,
    dose_file,
    parse_result,
    period_investigation_level,
)

QUARTERS = ((1, 1, 3, 31), (4, 1, 6, 30), (7, 1, 9, 30), (10, 1, 12, 31))


def quarters(year: int, doses: list[float], **extra: float) -> list[PeriodResult]:
    return [PeriodResult(dt.date(year, m0, d0), dt.date(year, m1, d1), dose, **extra)
            for (m0, d0, m1, d1), dose in zip(QUARTERS, doses, strict=False)]


def five_years_of_one_worker() -> list[PeriodResult]:
    """20 quarterly results, 2020-2024; the last one reported '<0.2' (below detection)."""
    below = parse_result("<0.2")          # entered as 0.2 x 0.5 = 0.1 mSv
    assert below.below_lod and below.value == pytest.approx(0.1)
    return [*quarters(2020, [1.0, 1.0, 1.0, 1.0]),       # 4.0
            *quarters(2021, [5.0, 5.0, 5.0, 5.0]),       # 20.0
            *quarters(2022, [10.0, 10.0, 10.0, 10.0]),   # 40.0
            *quarters(2023, [6.0, 6.0, 6.0, 6.0]),       # 24.0
            *quarters(2024, [1.25, 1.0, 1.0]),           # 3.25 so far
            PeriodResult(dt.date(2024, 10, 1), dt.date(2024, 12, 31), below.value,
                         below_mdl=("hp10",))]           # + 0.1 = 3.35


def test_twenty_quarters_over_five_years() -> None:
    r = dose_file(five_years_of_one_worker())
    # years: 4.0, 20.0, 40.0, 24.0, 3.35: each <= 50 -> every year passes
    assert [y.year for y in r.years] == [2020, 2021, 2022, 2023, 2024]
    assert [y.hp10_msv for y in r.years] == pytest.approx([4.0, 20.0, 40.0, 24.0, 3.35])
    assert [y.verdict for y in r.years] == ["pass"] * 5
    # one 5-year run 2020-2024: 4 + 20 + 40 + 24 + 3.35 = 91.35 <= 100 -> pass
    assert len(r.five_years) == 1
    assert r.five_years[0].hp10_msv == pytest.approx(91.35)
    assert (r.annual_verdict, r.five_year_verdict, r.verdict) == ("pass", "pass", "pass")
    # each quarter is 90-92 days: round(365.25 / 91) = 4 periods a year, level 5 / 4 = 1.25
    assert [p.investigation_level_msv for p in r.periods] == pytest.approx([1.25] * 20)
    # investigations: every quarter of 2021 (5), 2022 (10), 2023 (6) > 1.25 -> 12 periods;
    # 2024 Q1 at exactly 1.25 is not above the level; 2020 quarters (1.0) neither
    assert r.investigations == tuple(range(4, 16))
    assert r.periods[16].investigate is False
    assert r.periods[19].below_mdl == ("hp10",)
    assert not any(p.over_3_months for p in r.periods)


def test_investigation_is_never_a_verdict() -> None:
    # a quarter at 12 mSv: nearly 10 x the 1.25 investigation level, still 12 <= 50 a year
    r = dose_file(quarters(2025, [12.0, 0.5, 0.5, 0.5]))
    assert r.investigations == (0,) and r.verdict == "pass"
    assert r.years[0].hp10_msv == pytest.approx(13.5)   # 12 + 3 x 0.5


def test_a_single_year_over_50_fails_and_five_year_runs_slide() -> None:
    # 2020-2024 at 21 mSv a year (5.25 a quarter), 2025 at 0: run 2020-2024 = 105 > 100
    # fails; run 2021-2025 = 4 x 21 + 0 = 84 passes. No year over 50.
    periods = [q for y in range(2020, 2025) for q in quarters(y, [5.25] * 4)]
    periods += quarters(2025, [0.0] * 4)
    r = dose_file(periods)
    assert [(f.first_year, f.last_year) for f in r.five_years] == [(2020, 2024), (2021, 2025)]
    assert [f.hp10_msv for f in r.five_years] == pytest.approx([105.0, 84.0])
    assert [f.verdict for f in r.five_years] == ["fail", "pass"]
    assert (r.annual_verdict, r.five_year_verdict, r.verdict) == ("pass", "fail", "fail")
    # 13 x 4 = 52 > 50 in 2022 alone: the year fails even though the 5 years hold only 52
    one = dose_file(quarters(2022, [13.0] * 4))
    assert one.years[0].broken == ("effective_single_year",)
    assert one.annual_verdict == "fail" and one.five_year_verdict == "pass"


def test_unmonitored_days_are_insufficient_unless_a_limit_is_broken() -> None:
    # Q3 missing: 92 days (Jul 1 - Sep 30) of 2021 inside the file's span are unmonitored
    periods = quarters(2021, [1.0, 1.0, 1.0, 1.0])
    del periods[2]
    r = dose_file(periods)
    assert r.years[0].unmonitored_days == 92
    assert r.unmonitored == ((dt.date(2021, 7, 1), dt.date(2021, 9, 30)),)
    assert r.annual_verdict == "insufficient" and r.five_year_verdict == "insufficient"
    heavy = quarters(2021, [20.0, 20.0, 20.0, 20.0])
    del heavy[2]                                   # 3 x 20 = 60 > 50: proven, gap or not
    assert dose_file(heavy).annual_verdict == "fail"


def test_a_period_across_new_year_is_shared_pro_rata() -> None:
    # Dec 15 - Jan 13 = 17 + 13 = 30 days, 3.0 mSv: 2021 gets 3 x 17/30 = 1.7, 2022 1.3
    r = dose_file([PeriodResult(dt.date(2021, 12, 15), dt.date(2022, 1, 13), 3.0)])
    assert [y.hp10_msv for y in r.years] == pytest.approx([1.7, 1.3])
    assert r.periods[0].periods_per_year == 12       # round(365.25 / 30) = 12
    assert r.periods[0].investigation_level_msv == pytest.approx(5 / 12)
    assert r.periods[0].investigate                  # 3.0 > 0.4167


def test_organ_doses_and_long_periods() -> None:
    # Hp(3) 40 a quarter: 160 > 150 lens; Hp(0.07) 120 a quarter: 480 <= 500
    r = dose_file(quarters(2023, [1.0] * 4, hp3_msv=40.0, hp007_msv=120.0))
    assert r.years[0].hp3_msv == pytest.approx(160.0)
    assert r.years[0].hp007_msv == pytest.approx(480.0)
    assert r.years[0].broken == ("lens",) and r.verdict == "fail"
    # Jan 1 - Apr 1 reaches 3 calendar months: flagged, still counted
    long = dose_file([PeriodResult(dt.date(2023, 1, 1), dt.date(2023, 4, 1), 1.0)])
    assert long.periods[0].over_3_months and long.years[0].hp10_msv == pytest.approx(1.0)
    with pytest.raises(ValueError, match="overlap"):
        dose_file([PeriodResult(dt.date(2023, 1, 1), dt.date(2023, 3, 31), 1.0),
                   PeriodResult(dt.date(2023, 3, 31), dt.date(2023, 6, 30), 1.0)])
    with pytest.raises(ValueError, match="end is before start"):
        PeriodResult(dt.date(2023, 3, 1), dt.date(2023, 2, 1), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        PeriodResult(dt.date(2023, 1, 1), dt.date(2023, 1, 31), -1.0)
    assert period_investigation_level(12) == pytest.approx(5 / 12)


def test_cumulative_log_is_the_sum_of_its_rises() -> None:
    # 0 -> 1 -> 3 (rises 1, 2), reset to 0.5 (adds nothing), -> 2 (rise 1.5): 4.5 uSv
    assert cumulative_dose([0.0, 1.0, float("nan"), 3.0, 0.5, 2.0]) == pytest.approx(4.5)
    assert cumulative_dose([7.0]) is None


@pytest.mark.parametrize(("text", "lod", "value", "below"), [
    ("<0.05", None, 0.025, True), ("ND", 0.2, 0.1, True), ("<LOD", 0.4, 0.2, True),
    ("未检出", 1.0, 0.5, True), ("0.3", None, 0.3, False),
])
def test_below_detection_rule(text: str, lod: float | None, value: float, below: bool) -> None:
    rep = parse_result(text, lod)
    assert rep.value == pytest.approx(value) and rep.below_lod is below


def test_below_detection_without_a_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="no limit is known"):
        parse_result("ND")
    with pytest.raises(ValueError):
        parse_result("n/a")
