"""The personal noise arithmetic: shift LEX,8h and dose from worn energy, verdicts by
coverage, and LEX,W, each figure worked by hand."""

from __future__ import annotations

import math

import pytest

from thresholds.personal_noise import (
    day_lex_8h,
    lex_8h_of_energy,
    shift_exposure,
    week_exposure,
)

H = 3600.0


def test_domain_worked_example_4h_at_90_and_4h_at_80() -> None:
    energy = 4 * H * 10**9.0 + 4 * H * 10**8.0
    got = shift_exposure(energy, 8 * H, 8 * H)
    # DOMAIN.md: 10 lg((4 x 10^9 + 4 x 10^8) / 8) = 87.4 dB(A), dose 174 %
    assert got.lex_8h == pytest.approx(10 * math.log10((4e9 + 4e8) / 8))
    assert round(got.lex_8h or 0, 1) == 87.4
    assert round(got.dose_percent or 0) == 174
    assert got.laeq_worn == pytest.approx(got.lex_8h)  # 8 h worn: LAeq,8h is LEX,8h
    assert got.verdict == "fail"


def test_a_short_worn_time_is_a_lower_bound_fail_on_proof_pass_needs_coverage() -> None:
    # 2 h at 92 dB(A) of an 8-h shift: LEX,8h = 92 + 10 lg(2/8) = 85.98 > 85: proven fail
    loud = shift_exposure(2 * H * 10**9.2, 2 * H, 8 * H)
    assert loud.lex_8h == pytest.approx(92 + 10 * math.log10(2 / 8))
    assert loud.verdict == "fail"
    # 2 h at 80: 73.98 dB(A), but 25 % worn is too little to pass
    quiet = shift_exposure(2 * H * 10**8.0, 2 * H, 8 * H)
    assert quiet.lex_8h == pytest.approx(80 + 10 * math.log10(2 / 8))
    assert quiet.verdict == "insufficient"
    # 7 h worn at 84: 84 + 10 lg(7/8) = 83.42, coverage 0.875: pass
    assert shift_exposure(7 * H * 10**8.4, 7 * H, 8 * H).verdict == "pass"
    assert lex_8h_of_energy(0.0) is None


def test_a_day_of_two_shifts_adds_energy() -> None:
    # 8 h at 85 and 4 h of overtime at 85: 85 + 10 lg(12/8) = 86.76
    e = 8 * H * 10**8.5
    assert day_lex_8h([e, e / 2]) == pytest.approx(85 + 10 * math.log10(12 / 8))


def test_lex_w_six_days_and_five() -> None:
    days = [88.0, 85.0, 82.0, 91.0, 88.0, 79.0]
    six = week_exposure(days)
    by_hand = 10 * math.log10(sum(10 ** (d / 10) for d in days) / 5)
    assert six.lex_w == pytest.approx(by_hand) and six.days == 6 and six.applies
    assert six.verdict == "fail"  # by hand 10 lg(3.075e9 / 5) = 87.9 dB(A)
    five = week_exposure([84.0] * 5)
    assert five.lex_w == pytest.approx(84.0) and not five.applies and five.verdict == "pass"
