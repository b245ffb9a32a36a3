"""``occmon assess --impulse`` and ``--week`` run as a subprocess on CSV files; figures by hand."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.thresholds.test_thr_assess import assess, run

T0 = datetime(2024, 5, 6, 8, 0, 0)   # a Monday, 08:00 Shanghai


def _csv(tmp_path: Path, name: str, rows: list[tuple[datetime, float]]) -> Path:
    path = tmp_path / name
    path.write_text("time,value\n" + "".join(f"{t.isoformat()},{v}\n" for t, v in rows),
                    encoding="utf-8")
    return path


def _peaks(impulses: int) -> list[tuple[datetime, float]]:
    # LCpeak every 10 s for 8 h at 100 dB(C); ``impulses`` of them at 135, one a minute
    return [(T0 + timedelta(seconds=10 * k),
             135.0 if k % 6 == 0 and k // 6 < impulses else 100.0) for k in range(2880)]


@pytest.mark.parametrize(("impulses", "limit", "verdict"), [(150, 130.0, "fail"),
                                                           (90, 140.0, "pass")])
def test_impulse_mode_picks_the_limit_by_the_count(tmp_path: Path, impulses: int,
                                                   limit: float, verdict: str) -> None:
    # 150 at 135 dB(C): 100 < n <= 1000 -> 130, 135 > 130: fail; 90: n <= 100 -> 140: pass
    f = _csv(tmp_path, "pk.csv", _peaks(impulses))
    out = assess("--agent", "noise", "--unit", "dB(C)", "--impulse", str(f))
    imp = out["impulses"]
    assert (imp["count"], imp["limit_db"], imp["threshold_db"]) == (impulses, limit, 120.0)
    assert imp["over_limit"] == (impulses if verdict == "fail" else 0)
    assert out["verdicts"] == {"impulse": verdict}
    assert {"max_impulses": 1000, "peak_db": 130} in out["limits"]["impulse_peak_db"]


def test_impulse_threshold_is_an_option(tmp_path: Path) -> None:
    # counting from 99 dB(C) every reading is an impulse: 2880 -> 1000 < n <= 10000 -> 120
    f = _csv(tmp_path, "pk.csv", _peaks(90))
    out = assess("--agent", "noise", "--unit", "dB(C)", "--impulse", "--impulse-threshold",
                 "99", str(f))
    assert (out["impulses"]["count"], out["impulses"]["limit_db"]) == (2880, 120.0)
    assert out["verdicts"] == {"impulse": "fail"}


def _noise_week() -> list[tuple[datetime, float]]:
    rows = []
    for day, level in enumerate((86.0, 84.0, 88.0, 82.0)):     # Mon-Thu, 10 h a day
        start = T0 + timedelta(days=day)
        rows += [(start + timedelta(minutes=m), level) for m in range(600)]
    return rows


def test_week_of_four_10_h_noise_shifts_gives_lex_w(tmp_path: Path) -> None:
    # LEX,8h,d = LAeq + 10 lg(10/8) = LAeq + 0.969100 -> 86.9691, 84.9691, 88.9691, 82.9691.
    # LEX,W = 10 lg((1/5)(10^8.69691 + 10^8.49691 + 10^8.89691 + 10^8.29691))
    #       = 10 lg((497,633,963 + 313,985,804 + 788,696,681 + 198,111,649) / 5)
    #       = 10 lg(359,685,619) = 85.559 dB(A) > 85: the week fails.
    f = _csv(tmp_path, "week.csv", _noise_week())
    out = assess("--agent", "noise", "--unit", "dB(A)", "--week", "--shift-hours", "10",
                 "--max-gap", "120", str(f))
    week = out["week"]
    assert [d["date"] for d in week["days"]] == ["2024-05-06", "2024-05-07", "2024-05-08",
                                                "2024-05-09"]
    assert [round(d["lex_8h"], 4) for d in week["days"]] == [86.9691, 84.9691, 88.9691,
                                                            82.9691]
    assert week["lex_w"] == pytest.approx(10 * math.log10(1_798_428_097 / 5), abs=1e-5)
    assert (week["days_worked"], week["working_hours"]) == (4, 40.0)
    assert out["verdicts"]["lex_w"] == "fail"
    assert out["verdicts"]["noise:2024-05-07"] == "pass"       # 84.97 <= 85 on its own


def test_week_of_night_shifts_from_a_time_of_day(tmp_path: Path) -> None:
    # three night shifts 22:00-06:00 (Mon, Tue, Wed nights) at 85 dB(A): LEX,8h,d = 85 each;
    # LEX,W = 10 lg((3/5) 10^8.5) = 85 + 10 lg 0.6 = 85 - 2.2185 = 82.7815 dB(A): pass.
    rows = []
    for night in range(3):
        start = datetime(2024, 5, 6, 22, 0) + timedelta(days=night)
        rows += [(start + timedelta(minutes=m), 85.0) for m in range(480)]
    f = _csv(tmp_path, "nights.csv", rows)
    out = assess("--agent", "noise", "--unit", "dB(A)", "--week", "--shift-start", "22:00",
                 "--max-gap", "120", str(f))
    assert [d["date"] for d in out["week"]["days"]] == ["2024-05-06", "2024-05-07",
                                                       "2024-05-08"]
    assert out["week"]["lex_w"] == pytest.approx(85 + 10 * math.log10(0.6), abs=1e-6)
    assert out["verdicts"]["lex_w"] == "pass"


def _dust_week(level: float) -> list[tuple[datetime, float]]:
    rows = []
    for day in range(6):                                       # Mon-Sat, 8.5 h a day
        start = T0 + timedelta(days=day)
        rows += [(start + timedelta(minutes=m), level) for m in range(510)]
    return rows


def test_week_reduction_factor_counts_working_hours(tmp_path: Path) -> None:
    # cement dust, total: PC-TWA 4. Six 8.5-h shifts at 2.3 mg/m3:
    # daily C_TWA = 2.3 x 8.5 / 8 = 2.44375; weekly = 6 x 2.44375 / 5 = 2.9325 mg/m3.
    # 30-min breaks: 6 x 8 = 48 working h, RF = (40/48)(120/128) = 0.78125, limit 3.125: pass.
    # Counting the span instead, 51 h: RF = (40/51)(117/128) = 0.716912, limit 2.8676: fail.
    f = _csv(tmp_path, "dust.csv", _dust_week(2.3))
    base = ("--agent", "cement-dust", "--unit", "mg/m3", "--week", "--shift-hours", "8.5",
            "--max-gap", "120", str(f))
    out = assess(*base, "--break-minutes", "30")
    week = out["week"]
    assert week["c_twa"] == pytest.approx(2.9325)
    assert (week["days_worked"], week["working_hours"]) == (6, 48.0)
    assert week["reduction_factor"] == pytest.approx(0.78125)
    assert week["pc_twa_applied"] == pytest.approx(3.125)
    assert out["verdicts"]["twa_week"] == "pass"
    assert out["verdicts"]["twa:2024-05-11"] == "pass"         # 2.44 <= 4 x RF(8 h) = 4
    assert out["verdicts"]["pe:2024-05-11"] == "pass"
    spans = assess(*base)
    assert spans["week"]["reduction_factor"] == pytest.approx(40 / 51 * 117 / 128)
    assert spans["verdicts"]["twa_week"] == "fail"


def test_single_shift_break_minutes_change_the_reduction_factor(tmp_path: Path) -> None:
    # 10 h at 2.5 mg/m3 cement dust: C_TWA = 3.125. With a 60-min break: 9 working h,
    # RF = (8/9)(15/16) = 0.833333, limit 3.333: pass; on the 10-h span RF 0.7, limit 2.8.
    f = _csv(tmp_path, "d.csv", [(T0 + timedelta(minutes=m), 2.5) for m in range(600)])
    base = ("--agent", "cement-dust", "--unit", "mg/m3", "--shift-hours", "10", str(f))
    out = assess(*base, "--break-minutes", "60")
    assert out["shift"]["working_hours"] == 9.0
    assert out["limits"]["reduction_factor"] == pytest.approx(0.833333, abs=1e-6)
    assert out["verdicts"]["twa"] == "pass"
    assert assess(*base)["verdicts"]["twa"] == "fail"


@pytest.mark.parametrize(("args", "message"), [
    (["--agent", "h2s", "--unit", "mg/m3", "--impulse"], "--impulse is for noise"),
    (["--agent", "noise", "--unit", "dB(A)", "--break-minutes", "480"], "--break-minutes"),
    (["--agent", "noise", "--unit", "dB(A)", "--week", "--shift-start", "8 o'clock"],
     "--shift-start"),
    (["--agent", "h2s", "--unit", "mg/m3", "--week"], "has none"),
    (["--agent", "noise", "--unit", "dB(C)", "--impulse", "--impulse-threshold", "nan"],
     "impulse threshold must be"),
])
def test_mode_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    f = _csv(tmp_path, "x.csv", [(T0 + timedelta(minutes=m), 1.0) for m in range(60)])
    proc = run(*args, str(f))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_a_week_file_holds_at_most_a_week(tmp_path: Path) -> None:
    f = _csv(tmp_path, "x.csv", [(T0 + timedelta(days=d), 80.0) for d in range(9)])
    proc = run("--agent", "noise", "--unit", "dB(A)", "--week", str(f))
    assert proc.returncode == 2 and "9 calendar days" in proc.stderr, proc.stderr
