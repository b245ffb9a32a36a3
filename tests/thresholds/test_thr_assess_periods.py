"""``occmon assess --periods``: a personal dose file from a CSV of period results, and
below-detection readings in the readings CSV, checked against hand-computed figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.thresholds.test_thr_assess import assess, run, write_csv

Q = (("01-01", "03-31"), ("04-01", "06-30"), ("07-01", "09-30"), ("10-01", "12-31"))


def dose_csv(tmp_path: Path, by_year: dict[int, list[str]], extra: str = "") -> Path:
    lines = ["start,end,hp10,hp007,hp3,follow_up"]
    for year, doses in by_year.items():
        lines += [f"{year}-{a},{year}-{b},{d}" for (a, b), d in zip(Q, doses, strict=False)]
    path = tmp_path / "doses.csv"
    path.write_text("\n".join(lines) + extra + "\n", encoding="utf-8")
    return path


def test_twenty_quarters_in_usv_with_below_detection(tmp_path: Path) -> None:
    # uSv: 2020 4 x 1000, 2021 4 x 5000 (investigations), 2022 4 x 10000, 2023 4 x 6000,
    # 2024 1000, 1000, ND (--lod 200 uSv -> 100 uSv), <200 (-> 100 uSv).
    # Years (mSv): 4, 20, 40, 24, 2 + 0.1 + 0.1 = 2.2; 5 years: 90.2 <= 100.
    f = dose_csv(tmp_path, {2020: ["1000"] * 4, 2021: ["5000"] * 4, 2022: ["10000"] * 4,
                            2023: ["6000"] * 4, 2024: ["1000", "1000", "ND", "<200"]})
    out = assess("--agent", "radiation", "--unit", "uSv", "--periods", "--lod", "200", str(f))
    assert [y["hp10_msv"] for y in out["years"]] == pytest.approx([4, 20, 40, 24, 2.2])
    assert out["five_years"][0]["hp10_msv"] == pytest.approx(90.2)
    assert out["verdicts"] == {"annual": "pass", "five_year": "pass"}
    assert out["verdict"] == "pass"
    # 2021, 2022, 2023: 12 quarters above 1.25 mSv; their follow-up is not yet recorded
    assert [i["period"] for i in out["investigations"]] == list(range(4, 16))
    assert not any(i["follow_up_recorded"] for i in out["investigations"])
    assert out["below_detection"]["count"] == 2
    assert [b["entered_msv"] for b in out["below_detection"]["results"]] == [0.1, 0.1]
    assert out["periods"][18]["below_mdl"] == ["hp10"]


def test_period_results_fail_on_the_year_and_record_follow_up(tmp_path: Path) -> None:
    # 2022 in mSv: 20 + 20 + 6 + 6 = 52 > 50; Hp(3) 45 x 4 = 180 > 150 lens
    f = tmp_path / "y.csv"
    f.write_text('2022-01-01,2022-03-31,20,,45,"调查: 屏蔽不足, 已整改"\n'
                 "2022-04-01,2022-06-30,20,,45\n2022-07-01,2022-09-30,6,,45\n"
                 "2022-10-01,2022-12-31,6,,45\n", encoding="utf-8")
    out = assess("--agent", "radiation", "--unit", "mSv", "--periods", str(f))
    assert out["years"][0]["hp10_msv"] == pytest.approx(52.0)
    assert out["years"][0]["hp3_msv"] == pytest.approx(180.0)
    assert out["years"][0]["broken"] == ["effective_single_year", "lens"]
    assert out["verdicts"]["annual"] == "fail"
    assert out["investigations"][0]["follow_up"] == "调查: 屏蔽不足, 已整改"
    assert out["investigations"][0]["follow_up_recorded"] is True


def test_one_complete_period_is_never_insufficient(tmp_path: Path) -> None:
    f = tmp_path / "one.csv"
    f.write_text("2025-01-01,2025-01-31,0.3\n", encoding="utf-8")
    out = assess("--agent", "radiation", "--unit", "mSv", "--periods", str(f))
    assert out["verdict"] == "pass" and out["investigations"] == []   # 0.3 <= 5/12


@pytest.mark.parametrize(("content", "message"), [
    ("2025-01-01,2025-01-31,ND\n", "no limit is known"),
    ("2025-01-01,2025-01-31,abc\n", "line 1: unparsable dose 'abc'"),
    ("2025-01-31,2025-01-01,1\n", "end is before start"),
    ("2025-01-01,2025-03-31,1\n2025-03-01,2025-04-30,1\n", "overlap"),
    ("2025-01-01,1\n", "expected columns start,end,hp10"),
])
def test_bad_period_files(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(content, encoding="utf-8")
    proc = run("--agent", "radiation", "--unit", "mSv", "--periods", str(f))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_below_detection_readings_enter_as_half_the_limit(tmp_path: Path) -> None:
    # toluene 8 h: 240 min at 40 mg/m3, 240 min '<2' (entered as 1): C_TWA = (40 + 1) / 2
    # = 20.5 mg/m3; two readings per minute would not change it.
    f = write_csv(tmp_path, "tol.csv", 480, lambda i: 40.0)
    lines = f.read_text(encoding="utf-8").splitlines()
    lines = [lines[0], *lines[1:241], *(ln.rsplit(",", 1)[0] + ",<2" for ln in lines[241:])]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = assess("--agent", "toluene", "--unit", "mg/m3", "--max-gap", "120", str(f))
    assert out["c_twa"] == pytest.approx(20.5)
    assert out["below_detection"]["count"] == 240
    assert out["below_detection"]["results"][0] == {"line": 242, "reported": "<2", "lod": 2.0}
    nd = tmp_path / "nd.csv"
    nd.write_text("2024-05-06T08:00:00,ND\n", encoding="utf-8")
    refused = run("--agent", "toluene", "--unit", "mg/m3", str(nd))
    assert refused.returncode == 2 and "nd.csv line 1" in refused.stderr
    assert "--lod" in refused.stderr


def test_mixture_of_three_files_in_one_call(tmp_path: Path) -> None:
    # 8 h each, constant: toluene 20 (/50 = 0.4), xylene 15 (/50 = 0.3), ethylbenzene 60
    # (/100 = 0.6): each passes its own PC-TWA, the mixture index 1.3 > 1 fails.
    tol = write_csv(tmp_path, "tol.csv", 480, lambda i: 20.0)
    xyl = write_csv(tmp_path, "xyl.csv", 480, lambda i: 15.0)
    eb = write_csv(tmp_path, "eb.csv", 480, lambda i: 60.0)
    out = assess("--agent", "toluene", "--unit", "mg/m3", str(tol),
                 "--with", f"xylene:mg/m3:{xyl}", "--with", f"ethylbenzene:mg/m3:{eb}")
    assert out["verdicts"]["twa"] == "pass"
    assert out["mixture"]["index"] == pytest.approx(1.3)
    assert [t["ratio"] for t in out["mixture"]["terms"]] == pytest.approx([0.4, 0.3, 0.6])
    assert out["verdicts"]["mixture"] == "fail"
    two = assess("--agent", "toluene", "--unit", "mg/m3", str(tol), "--with",
                 f"xylene:mg/m3:{xyl}")
    assert two["mixture"]["index"] == pytest.approx(0.7) and two["verdicts"]["mixture"] == "pass"
    bad = run("--agent", "toluene", "--unit", "mg/m3", str(tol), "--with", "h2s:mg/m3:x.csv")
    assert bad.returncode == 2 and "no PC-TWA" in bad.stderr
    bad = run("--agent", "toluene", "--unit", "mg/m3", str(tol), "--with", "xylene")
    assert bad.returncode == 2 and "AGENT:UNIT:FILE" in bad.stderr
