"""``occmon assess`` run as a subprocess on CSV files, checked against hand-computed values."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 6, 8, 0, 0)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from occmon.assess import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)


def assess(*args: str) -> dict[str, Any]:
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def write_csv(tmp_path: Path, name: str, minutes: int, value: Callable[[int], float],
              header: bool = True, suffix: str = "") -> Path:
    lines = ["time,value"] if header else []
    lines += [f"{(T0 + timedelta(minutes=i)).isoformat()}{suffix},{value(i)}"
              for i in range(minutes)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_h2s_in_ppm_mac(tmp_path: Path) -> None:
    # 2 ppm all shift, 20 ppm 09:00-09:05; 20 ppm = 20 x 34.08 / 24.04 = 28.3527 mg/m3 > MAC 10.
    f = write_csv(tmp_path, "h2s.csv", 480, lambda i: 20.0 if 60 <= i < 65 else 2.0)
    out = assess("--agent", "H2S", "--unit", "ppm", str(f))
    assert out["agent"]["id"] == "h2s" and out["agent"]["zh"] == "硫化氢"
    assert out["unit"] == "mg/m3" and out["coverage"] == 1.0
    assert out["limits"]["mac"] == 10
    assert out["mac_exceeded"] is True
    assert out["mac_max"] == pytest.approx(20 * 34.08 / 24.04, abs=1e-5)
    assert out["mac_exceedances"][0]["start"] == "2024-05-06T09:00:00+08:00"
    assert out["mac_exceedances"][0]["end"] == "2024-05-06T09:05:00+08:00"
    assert out["verdicts"] == {"mac": "fail"}
    assert out["reference_conditions"]["molar_volume_l_per_mol"] == 24.04


def test_toluene_twa_and_stel(tmp_path: Path) -> None:
    # 40 mg/m3 for 450 min then 120 for 30 min: C_TWA = (40x450 + 120x30)/480 = 45 <= 50;
    # worst 15 min = 120 > PC-STEL 100.
    f = write_csv(tmp_path, "tol.csv", 480, lambda i: 40.0 if i < 450 else 120.0, header=False)
    out = assess("--agent", "toluene", "--unit", "mg/m3", str(f))
    assert out["c_twa"] == pytest.approx(45.0)
    assert out["stel_max"] == pytest.approx(120.0)
    assert out["limits"]["pc_twa"] == 50 and out["limits"]["confidence"] == "verify"
    assert out["verdicts"] == {"twa": "pass", "stel": "fail"}
    assert "peak_excursions" not in out and "lex_8h" not in out


def test_long_shift_applies_reduction_factor(tmp_path: Path) -> None:
    # 12 h at 30 mg/m3: C_TWA = 30 x 12 / 8 = 45; RF = (8/12)(12/16) = 0.5 -> limit 25: fail.
    f = write_csv(tmp_path, "tol12.csv", 720, lambda i: 30.0)
    out = assess("--agent", "甲苯", "--unit", "mg/m3", "--shift-hours", "12", str(f))
    assert out["c_twa"] == pytest.approx(45.0)
    assert out["limits"]["reduction_factor"] == pytest.approx(0.5)
    assert out["limits"]["pc_twa_applied"] == pytest.approx(25.0)
    assert out["verdicts"]["twa"] == "fail"
    assert out["verdicts"]["stel"] == "pass"   # RF never applies to STEL: 30 <= 100


def test_lead_fume_peak_excursion(tmp_path: Path) -> None:
    # PC-TWA 0.03, no STEL: 0.1 mg/m3 (> 3x = 0.09, <= 5x = 0.15) for 20 min breaks the
    # 15-min rule. C_TWA = (0.02 x 460 + 0.1 x 20) / 480 = 0.023333.
    f = write_csv(tmp_path, "pb.csv", 480, lambda i: 0.1 if 120 <= i < 140 else 0.02)
    out = assess("--agent", "lead-fume", "--unit", "mg/m3", str(f))
    assert out["c_twa"] == pytest.approx(11.2 / 480, abs=1e-6)
    assert out["peak_excursions"] == [{"start": "2024-05-06T10:00:00+08:00",
                                       "end": "2024-05-06T10:20:00+08:00",
                                       "duration_s": 1200.0, "max": 0.1}]
    assert out["verdicts"] == {"twa": "pass", "pe": "fail"}


def test_dust_fraction(tmp_path: Path) -> None:
    # silica > 80 %: total 0.5, respirable 0.2. 0.3 mg/m3 all shift.
    f = write_csv(tmp_path, "si.csv", 480, lambda i: 0.3)
    total = assess("--agent", "silica-dust-80", "--unit", "mg/m3", str(f))
    resp = assess("--agent", "silica-dust-80", "--unit", "mg/m3", "--fraction", "respirable",
                  str(f))
    assert total["verdicts"]["twa"] == "pass" and resp["verdicts"]["twa"] == "fail"
    assert resp["limits"]["pc_twa"] == 0.2


def test_noise_worked_example(tmp_path: Path) -> None:
    # 4 h at 90 + 4 h at 80 dB(A): LEX,8h 87.4 dB(A), dose 174 %. Times carry an offset.
    f = write_csv(tmp_path, "noise.csv", 480, lambda i: 90.0 if i < 240 else 80.0,
                  suffix="+08:00")
    out = assess("--agent", "noise", "--unit", "dB(A)", str(f))
    assert out["lex_8h"] == pytest.approx(87.4036, abs=1e-4)
    assert out["dose_percent"] == pytest.approx(173.93, abs=0.01)
    assert out["verdicts"] == {"noise": "fail"}
    assert out["noise_grade"] == "I"


def test_utc_times_and_shift_start(tmp_path: Path) -> None:
    # Readings 08:00Z-10:00Z = 16:00-18:00 Shanghai. Naive --shift-start is Shanghai time.
    f = write_csv(tmp_path, "utc.csv", 120, lambda i: 10.0, suffix="Z")
    out = assess("--agent", "nh3", "--unit", "mg/m3", "--shift-start", "2024-05-06T08:00:00",
                 "--max-gap", "60", str(f))
    assert out["coverage"] == pytest.approx(0.0)   # the readings fall after this shift
    out = assess("--agent", "nh3", "--unit", "mg/m3", "--shift-start", "2024-05-06T16:00:00",
                 "--max-gap", "60", str(f))
    assert out["shift"]["start"] == "2024-05-06T16:00:00+08:00"
    assert out["coverage"] == pytest.approx(0.25)  # 2 of 8 h
    assert out["c_twa"] == pytest.approx(10.0)
    assert out["verdicts"] == {"twa": "insufficient", "stel": "insufficient"}
    zero = assess("--agent", "nh3", "--unit", "mg/m3", "--max-gap", "60",
                  "--unmonitored", "zero", str(f))
    assert zero["shift"]["start"] == "2024-05-06T16:00:00+08:00"   # the first reading
    assert zero["c_twa"] == pytest.approx(2.5) and zero["verdicts"]["twa"] == "pass"


def test_radiation_dose(tmp_path: Path) -> None:
    # 8 h at 2.5 uSv/h = 20 uSv = 0.02 mSv; a cumulative Hp(10) log rising 0.05 uSv a minute
    # from 0.05 to 24.0 uSv: 479 rises x 0.05 = 23.95 uSv (the daily record's rule).
    rate = write_csv(tmp_path, "rate.csv", 480, lambda i: 2.5)
    out = assess("--agent", "radiation", "--unit", "uSv/h", "--max-gap", "60", str(rate))
    assert out["dose_msv"] == pytest.approx(0.02)
    assert out["verdicts"] == {"dose": "pass"}
    assert out["limits"]["investigation_level_msv"] == pytest.approx(5 / 12, abs=1e-6)
    inc = write_csv(tmp_path, "inc.csv", 480, lambda i: 0.05 * (i + 1))
    assert assess("--agent", "radiation", "--unit", "uSv", str(inc))["dose_msv"] == \
        pytest.approx(0.02395)


@pytest.mark.parametrize(("args", "content", "message"), [
    (["--agent", "benzen", "--unit", "ppm"], "2024-05-06T08:00:00,1\n",
     "unknown agent 'benzen'; did you mean: benzene"),
    (["--agent", "h2s", "--unit", "dBA"], "2024-05-06T08:00:00,1\n",
     "unit 'dBA' cannot be converted to mg/m3"),
    (["--agent", "h2s", "--unit", "parsecs"], "2024-05-06T08:00:00,1\n", "unknown unit"),
    (["--agent", "silica-dust-80", "--unit", "ppm"], "2024-05-06T08:00:00,1\n",
     "no molar mass"),
    (["--agent", "h2s", "--unit", "ppm"], "time,value\n2024-05-06T08:00:00,1\nyesterday,2\n",
     "line 3: unparsable time 'yesterday'"),
    (["--agent", "h2s", "--unit", "ppm"], "2024-05-06T08:00:00,1\n2024-05-06T08:01:00,high\n",
     "line 2: unparsable value 'high'"),
    (["--agent", "h2s", "--unit", "ppm"], "2024-05-06T08:00:00,1,3\n", "line 1: expected 2"),
    (["--agent", "h2s", "--unit", "ppm"], "2024-05-06T08:01:00,1\n2024-05-06T08:00:00,1\n",
     "line 2: time 2024-05-06T08:00:00 is not after"),
    (["--agent", "h2s", "--unit", "ppm"], "", "no readings and no --shift-start"),
    (["--agent", "h2s", "--unit", "ppm", "--shift-start", "soon"], "2024-05-06T08:00:00,1\n",
     "--shift-start: unparsable time 'soon'"),
])
def test_errors_exit_2(tmp_path: Path, args: list[str], content: str, message: str) -> None:
    f = tmp_path / "in.csv"
    f.write_text(content, encoding="utf-8")
    proc = run(*args, str(f))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_missing_file_exit_2(tmp_path: Path) -> None:
    proc = run("--agent", "h2s", "--unit", "ppm", str(tmp_path / "nope.csv"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_empty_file_with_shift_start_is_insufficient(tmp_path: Path) -> None:
    f = tmp_path / "empty.csv"
    f.write_text("time,value\n", encoding="utf-8")
    out = assess("--agent", "co", "--unit", "ppm", "--shift-start", "2024-05-06T08:00:00",
                 str(f))
    assert out["coverage"] == 0.0 and out["c_twa"] is None
    assert out["verdicts"] == {"twa": "insufficient", "stel": "insufficient"}
