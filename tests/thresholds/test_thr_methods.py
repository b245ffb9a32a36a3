"""Methods of issue 12: PE per working day with gap bridging, impulse counts, the week.

Expected figures are worked by hand in the comments (GBZ 2.1-2019 cl. 3 and A.7.3,
GBZ 2.2-2007 cl. 11 and Table 10).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from thresholds import (
    Excursion,
    impulse_shift,
    lex_8h,
    peak_excursions,
    peak_excursions_per_shift,
    shift_noise,
    shift_twa,
    week_noise,
    week_twa,
)

H = 3600.0


def _ten_second(hours: float, base: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, hours * H, 10.0)
    return t, np.full(t.size, base)


def _set(t: np.ndarray, v: np.ndarray, a: float, b: float, value: float) -> None:
    v[(t >= a) & (t < b)] = value


# ---- peak excursions: a gap under the sensor's expiry does not split one ----

def test_a_20_s_gap_inside_an_excursion_with_60_s_expiry_is_one_excursion() -> None:
    # readings every 10 s; 4 x PC-TWA from 600 s to 1200 s; the readings at 900 and 910 s
    # are rejected (NaN): the 890 s reading holds to 900 s, the next valid one is at 920 s,
    # a 20 s gap < 60 s expiry. One excursion [600, 1200), held 600 - 20 = 580 s.
    t, v = _ten_second(8)
    _set(t, v, 600, 1200, 4.0)
    v[(t == 900) | (t == 910)] = np.nan
    r = peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60)
    assert r.excursions == (Excursion(600.0, 1200.0, 4.0, 580.0),)
    assert (r.broken, r.undetermined, r.separate) == ((), (), 1)
    # before: the gap split it into [600, 900) and [920, 1200), 20 s apart: "spacing"
    old = peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60, bridge=0)
    assert len(old.excursions) == 2 and old.broken == ()
    assert old.undetermined == ("spacing",)   # even unbridged, a gap never proves it
    # coverage: 20 s of 8 h unmonitored = 1 - 20/28800 < 1, so the record says partial
    assert r.partial and r.coverage == pytest.approx(1 - 20 / 28800)
    assert r.verdict() == "pass"


def test_a_gap_of_the_expiry_or_more_leaves_the_rules_open_never_broken() -> None:
    # readings 900..980 s rejected: gap [900, 990) = 90 s >= 60 s. Two excursions
    # [600, 900) and [990, 1200), not proven separate (nothing monitored at or below 3x
    # between them), 90 s apart < 1 h: spacing is open, not broken -> insufficient.
    t, v = _ten_second(8)
    _set(t, v, 600, 1200, 4.0)
    _set(t, v, 900, 990, np.nan)
    r = peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60)
    assert [(x.start, x.end) for x in r.excursions] == [(600, 900), (990, 1200)]
    assert (r.broken, r.undetermined, r.separate) == ((), ("spacing",), 1)
    assert r.verdict() == "insufficient"


def test_duration_is_proven_on_held_time_and_left_open_by_a_gap() -> None:
    # 16 min above 3x (600..1560 s) with a 20 s bridged gap: held 960 - 20 = 940 s > 900 s.
    t, v = _ten_second(8)
    _set(t, v, 600, 1560, 4.0)
    v[(t == 900) | (t == 910)] = np.nan
    r = peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60)
    assert r.broken == ("duration",) and r.verdict() == "fail"
    # 15 min 20 s elapsed (600..1520 s) with the same gap: held 920 - 20 = 900 s, not over
    # 15 min; elapsed 920 s > 900 s only because of the gap: open, not broken.
    t, v = _ten_second(8)
    _set(t, v, 600, 1520, 4.0)
    v[(t == 900) | (t == 910)] = np.nan
    r = peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60)
    assert r.excursions[0].held_s == 900.0
    assert (r.broken, r.undetermined) == ((), ("duration",))


def test_count_needs_excursions_proven_separate() -> None:
    # 5 excursions of 5 min at 4x, 70 min apart (starts 0:10, 1:25, 2:40, 3:55, 5:10);
    # the 4th and 5th are separated only by readings rejected from 4:00 to 5:10: 4 groups
    # proven separate (count not broken), 5 seen (count open); the two split by the gap
    # are 70 min apart, so spacing holds; but the gap may hide one excursion from 3:55 to
    # 5:15, 80 min > 15 min, while each part held 5 min: duration open too.
    t, v = _ten_second(8)
    for k in range(5):
        a = (10 + 75 * k) * 60.0
        _set(t, v, a, a + 300, 4.0)
    _set(t, v, 4 * H, 5 * H + 600, np.nan)
    _set(t, v, 3 * H + 55 * 60, 4 * H, 4.0)       # the 4th runs to the gap's start
    _set(t, v, 5 * H + 600, 5 * H + 900, 4.0)     # the 5th starts at its end
    r = peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60)
    assert len(r.excursions) == 5 and r.separate == 4
    assert (r.broken, r.undetermined) == ((), ("duration", "count"))
    assert r.verdict() == "insufficient"


def test_three_shifts_of_three_compliant_excursions_pass_each_not_a_failing_day() -> None:
    # a 24 h day, shifts 0-8, 8-16, 16-24 h; in each, 5-min excursions at 4x starting
    # 30, 120 and 210 min into the shift: 85 min apart (>= 60), 3 <= 4, each 300 s <= 900.
    t, v = _ten_second(24)
    for shift in range(3):
        for minute in (30, 120, 210):
            a = shift * 8 * H + minute * 60.0
            _set(t, v, a, a + 300, 4.0)
    shifts = [(0.0, 8 * H), (8 * H, 16 * H), (16 * H, 24 * H)]
    per_shift = peak_excursions_per_shift(t, v, pc_twa=1.0, shifts=shifts, max_gap=60)
    assert [len(r.excursions) for r in per_shift] == [3, 3, 3]
    assert [r.verdict() for r in per_shift] == ["pass", "pass", "pass"]
    # the calendar day counted as one working day would see 9 > 4: the old failing day
    day = peak_excursions(t, v, pc_twa=1.0, start=0, end=24 * H, max_gap=60)
    assert day.broken == ("count",)


def test_ceiling_and_spacing_still_proven() -> None:
    # 5.5x for 1 min at 1:00; 4x for 5 min at 1:30: 29 min apart with monitored 1x between.
    t, v = _ten_second(8)
    _set(t, v, H, H + 60, 5.5)
    _set(t, v, 1.5 * H, 1.5 * H + 300, 4.0)
    r = peak_excursions(t, v, pc_twa=1.0, start=0, end=8 * H, max_gap=60)
    assert r.broken == ("spacing", "ceiling") and r.separate == 2


# ---- impulse noise: the count picks the limit (GBZ 2.2-2007 Table 10) ----

def _impulses(count: int, level: float, hours: float = 8.0, every: float = 60.0,
              background: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, hours * H, 1.0)      # LCpeak of each second
    v = np.full(t.size, background)
    v[(np.arange(count) * every + 30).astype(int)] = level
    return t, v


def test_150_impulses_at_135_db_fail_against_130() -> None:
    # n = 150: 100 < n <= 1000 -> 130 dB(C); 135 > 130: all 150 over.
    t, v = _impulses(150, 135.0)
    r = impulse_shift(t, v, start=0, end=8 * H, max_gap=2)
    assert (r.count, r.limit_db, r.over, r.verdict) == (150, 130.0, 150, "fail")
    # the first at 30 s, the last at 30 + 149 x 60 = 8970 s, held 1 s to the next reading
    assert (r.over_start, r.over_end) == (30.0, 8971.0)


def test_90_impulses_at_135_db_pass_against_140() -> None:
    # n = 90 <= 100 -> 140 dB(C); 135 <= 140; full coverage.
    t, v = _impulses(90, 135.0)
    r = impulse_shift(t, v, start=0, end=8 * H, max_gap=2)
    assert (r.count, r.limit_db, r.over, r.verdict) == (90, 140.0, 0, "pass")


def test_readings_at_or_below_the_threshold_are_not_impulses() -> None:
    # 500 peaks at 120 dB(C) (not above the 120 threshold) + 90 at 135: n = 90 -> 140.
    t, v = _impulses(90, 135.0)
    v[20000:20500] = 120.0
    r = impulse_shift(t, v, start=0, end=8 * H, max_gap=2)
    assert (r.count, r.limit_db, r.verdict) == (90, 140.0, "pass")
    # a site that counts from 110 dB(C): n = 590 -> 130, and 135 fails
    r = impulse_shift(t, v, start=0, end=8 * H, max_gap=2, threshold_db=110.0)
    assert (r.count, r.limit_db, r.over, r.verdict) == (590, 130.0, 90, "fail")


def test_missing_data_never_proves_a_breach_but_can_withhold_a_pass() -> None:
    # 90 impulses at 135 in the first 5.6 h, nothing after: coverage 5.6/8 = 0.7 < 0.75 ->
    # insufficient. At coverage 0.8 (6.4 h): projected ceil(90 / 0.8) = 113 > 100, whose
    # band 130 < 135: the missing time could hold the impulses that fail it -> insufficient.
    t, v = _impulses(90, 135.0)
    for hours, coverage, projected in ((5.6, 0.7, 129), (6.4, 0.8, 113)):
        keep = t < hours * H
        r = impulse_shift(t[keep], v[keep], start=0, end=8 * H, max_gap=1)
        assert r.coverage == pytest.approx(coverage) and r.partial
        assert (r.count, r.projected_count, r.verdict) == (90, projected, "insufficient")
    # 150 impulses at 135 seen in half the shift: proven (the true n is >= 150) -> fail
    t, v = _impulses(150, 135.0, every=20)
    keep = t < 4 * H
    assert impulse_shift(t[keep], v[keep], start=0, end=8 * H, max_gap=1).verdict == "fail"


def test_more_than_10000_impulses_is_outside_the_table() -> None:
    # 12000 peaks at 121 dB(C), 1 s apart: n > 10000 has no band; 121 > 120, the strictest
    # band, which more impulses cannot relax -> fail. At 115 counted from 110: insufficient.
    t, v = _impulses(12000, 121.0, every=1)
    r = impulse_shift(t, v, start=0, end=8 * H, max_gap=2)
    assert (r.count, r.limit_db, r.over, r.verdict) == (12000, None, 12000, "fail")
    t, v = _impulses(12000, 115.0, every=1)
    r = impulse_shift(t, v, start=0, end=8 * H, max_gap=2, threshold_db=110.0)
    assert (r.limit_db, r.verdict) == (None, "insufficient")


@pytest.mark.parametrize("threshold", [float("nan"), -1.0, 200.0])
def test_an_impossible_impulse_threshold_is_refused(threshold: float) -> None:
    # a NaN threshold would count nothing (every comparison false) and pass silently
    t, v = _impulses(150, 135.0)
    with pytest.raises(ValueError, match="impulse threshold"):
        impulse_shift(t, v, start=0, end=8 * H, max_gap=2, threshold_db=threshold)


# ---- the week ----

def test_lex_w_of_four_10_h_shifts() -> None:
    # LAeq,10h 86, 84, 88, 82 dB(A); LEX,8h,d = LAeq + 10 lg(10/8) = LAeq + 0.969100.
    # 10^(0.1 LEX,8h,d) = 10^(0.1 LAeq) x 1.25 = 497,633,963 + 313,985,804 + 788,696,681
    # + 198,111,649 = 1,798,428,097; / 5 = 359,685,619; LEX,W = 10 lg(...) = 85.559 dB(A)
    # > 85: the week fails though two of its days are under 85 and the mean LAeq is 85.
    days = []
    for d, level in enumerate((86.0, 84.0, 88.0, 82.0)):
        start = d * 24 * H
        t = np.arange(start, start + 10 * H, 60.0)
        days.append(shift_noise(t, np.full(t.size, level), start=start, hours=10, max_gap=60))
    assert [round(x.lex_8h, 6) for x in days] == [86.9691, 84.9691, 88.9691, 82.9691]
    week = week_noise(days, [10, 10, 10, 10])
    assert week.lex_w == pytest.approx(10 * math.log10(1_798_428_097 / 5), abs=1e-6)
    assert round(week.lex_w, 3) == 85.559
    assert (week.working_hours, week.verdict) == (40.0, "fail")
    assert lex_8h(86.0, 10) == pytest.approx(86.9691, abs=1e-4)


def test_week_twa_and_the_40_h_reduction_factor() -> None:
    # 4 x 10 h at 4, 6, 5, 3 mg/m3: daily C_TWA = C x 10/8 = 5, 7.5, 6.25, 3.75;
    # weekly = (5 + 7.5 + 6.25 + 3.75) / 5 = 4.5 <= PC-TWA 5 x RF(40 h) = 5 x 1.
    days = []
    for d, c in enumerate((4.0, 6.0, 5.0, 3.0)):
        start = d * 24 * H
        t = np.arange(start, start + 10 * H, 60.0)
        days.append(shift_twa(t, np.full(t.size, c), start=start, hours=10, max_gap=60))
    week = week_twa(days, [10, 10, 10, 10], pc_twa=5.0)
    assert week.c_twa == pytest.approx(4.5)
    assert (week.reduction_factor, week.limit, week.verdict) == (1.0, 5.0, "pass")
    # 6 shifts of 8.5 h with a 30-min break: 6 x 8 = 48 working h (not 51 h of span):
    # RF = (40/48) x (168 - 48)/128 = 0.833333 x 0.9375 = 0.78125; limit 5 x 0.78125 = 3.90625.
    # at 3.5 mg/m3: daily C_TWA 3.5 x 8.5/8 = 3.71875; week = 6 x 3.71875 / 5 = 4.4625 > 3.906
    days = []
    for d in range(6):
        start = d * 24 * H
        t = np.arange(start, start + 8.5 * H, 60.0)
        days.append(shift_twa(t, np.full(t.size, 3.5), start=start, hours=8.5, max_gap=60))
    week = week_twa(days, [8.0] * 6, pc_twa=5.0)
    assert week.reduction_factor == pytest.approx(0.78125)
    assert week.limit == pytest.approx(3.90625)
    assert week.c_twa == pytest.approx(4.4625)
    assert week.verdict == "fail"


def test_week_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="1 to 7 working days"):
        week_twa([], [], pc_twa=5.0)
    t = np.arange(0.0, 8 * H, 60.0)
    day = shift_twa(t, np.ones(t.size), start=0, hours=8, max_gap=60)
    with pytest.raises(ValueError, match="working-hour"):
        week_twa([day], [8, 8], pc_twa=5.0)
