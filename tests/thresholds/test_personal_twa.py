"""A worn gas detector's shift: C_TWA = sum(C_i T_i) / 8 h, or the highest reading against
a MAC, with the coverage rule, worked by hand."""

from __future__ import annotations

import pytest

from thresholds.personal_twa import shift_chemical

H = 3600.0


def test_c_twa_over_8_h_and_the_coverage_rule() -> None:
    # 6 h at 30 mg/m3 of an 8-h shift: C_TWA = 30 x 6 / 8 = 22.5 > PC-TWA 20: proven fail
    got = shift_chemical(30 * 6 * H, 30.0, 6 * H, 8 * H, pc_twa=20.0, mac=None)
    assert got.c_twa == pytest.approx(22.5) and got.verdict == "fail"
    # 7 h at 10: 8.75, coverage 0.875: pass; 2 h at 10: 2.5 but coverage 0.25: insufficient
    assert shift_chemical(70 * H, 10.0, 7 * H, 8 * H, pc_twa=20.0, mac=None).verdict == "pass"
    low = shift_chemical(20 * H, 10.0, 2 * H, 8 * H, pc_twa=20.0, mac=None)
    assert low.c_twa == pytest.approx(2.5) and low.verdict == "insufficient"


def test_a_mac_agent_is_judged_on_its_highest_reading() -> None:
    # mean 3 but one reading of 12 > MAC 10: fail, however short the worn time
    got = shift_chemical(3 * 2 * H, 12.0, 2 * H, 8 * H, pc_twa=None, mac=10.0)
    assert got.verdict == "fail" and got.max == 12.0
    assert shift_chemical(3 * 8 * H, 9.0, 8 * H, 8 * H, pc_twa=None, mac=10.0).verdict == "pass"
    none = shift_chemical(3 * 8 * H, 9.0, 8 * H, 8 * H, pc_twa=None, mac=None)
    assert none.verdict == "insufficient"
