"""``occmon simulate --day``: a whole simulated day in the store, closed, signed and
reported, with real verdicts (a newcomer's first passing day), and a scenario at an hour."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.app import create_app
from occmon.config import load
from tests.api.serve import serve

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-plant.yaml"
DAY = "2026-12-01"  # every demo instrument is within its calibration on this day


def site(tmp_path: Path) -> Path:
    doc: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc["store"]["path"] = str(tmp_path / "occmon.db")
    doc["records"]["push"] = {"folder": str(tmp_path / "compliance")}
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def occmon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "occmon.cli", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def records(store: Path) -> dict[tuple[str, str], dict[str, Any]]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT point, shift, verdict, content FROM daily_records "
                            "WHERE day = ?", (DAY,)).fetchall()
    finally:
        conn.close()
    return {(p, s): {**json.loads(c), "verdict": v} for p, s, v, c in rows}


@pytest.mark.slow
def test_a_simulated_normal_day_closes_signs_and_reports_as_a_passing_day(
        tmp_path: Path) -> None:
    config = site(tmp_path)
    began = time.monotonic()
    made = occmon("simulate", "--day", DAY, str(config), cwd=tmp_path)
    took = time.monotonic() - began
    assert made.returncode == 0, made.stderr
    assert took < 60, f"simulating the day took {took:.1f} s"
    # Modbus devices every poll (1 s): 6 sensors x 86,400; MQTT every 10 s: 5 x 8,640
    assert made.stdout.startswith(f"{DAY}: {6 * 86400 + 5 * 8640:,} readings of 11 sensors")
    closed = occmon("records", "close", str(config), "--date", DAY, cwd=tmp_path)
    assert closed.returncode == 0, closed.stderr
    signed = occmon("records", "sign", str(config), "--date", DAY, "--name", "王安全",
                    cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr

    got = records(tmp_path / "occmon.db")
    # 8 points x (day + 3 shifts) + 1 job record (mill-patrol, the day)
    assert len(got) == 8 * 4 + 1
    assert {r["verdict"] for r in got.values()} == {"pass"}  # real verdicts, none 数据不足
    h2s = got[("desulf-h2s-1", "")]
    assert h2s["readings"] == 86400 and h2s["coverage_pct"] == 100.0
    # H2S 0.1 ppm quiet, 0.4 ppm in production; the ACTIVITY table's day-mean activity is
    # (6x0.1 + 2x0.35 + 2 + 0.25x0.4 + 1.75 + 0.75x0.3 + 1.75 + 0.25x0.4 + 1.25 + 4x0.35
    #  + 4x0.1) / 24 = 10.275 / 24 = 0.428: mean 0.1 + 0.3 x 0.428 = 0.228 ppm
    #  = 0.228 x 34.08 / 24.04 = 0.324 mg/m3 (the drift wanders +-15 %)
    assert h2s["mean"] == pytest.approx(0.324, rel=0.3)
    assert h2s["max"] < 5.0  # never near the pre-alarm: an ordinary day
    dust = got[("mill-dust-total", "白班")]
    # total dust 0.3 quiet, 2.0 in production; day-shift (08:00-16:00) mean activity
    # (2 + 0.25x0.4 + 1.75 + 0.75x0.3 + 1.75 + 0.25x0.4 + 1.25) / 8 = 7.175 / 8 = 0.897:
    # C_TWA 0.3 + 1.7 x 0.897 = 1.82 mg/m3, under PC-TWA 4
    assert dust["c_twa"] == pytest.approx(1.82, rel=0.25)
    noise = got[("mill-noise-1", "")]
    assert 78.0 < noise["lex_8h"] < 85.0  # enclosed mill: under the 85 dB(A) limit
    dose = got[("mill-worker-noise", "")]
    assert dose["readings"] == 8640

    loaded = load(config)
    with serve(create_app(loaded, loaded.store.path)) as url:
        officer = {"X-API-Key": "demo-officer-key"}  # the demo's published key
        page = httpx.get(f"{url}/api/v1/daily-records/report", params={"day": DAY},
                         headers=officer, timeout=30)
        pdf = httpx.get(f"{url}/api/v1/daily-records/report",
                        params={"day": DAY, "format": "pdf"}, headers=officer, timeout=60)
    assert page.status_code == 200 and pdf.status_code == 200
    assert "王安全" in page.text and "临时" not in page.text  # signed, not provisional
    points = [k for k in got if not k[0].startswith("job:")]  # the report's point rows
    assert page.text.count("合格") >= len(points) and "数据不足" not in page.text
    assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 5000


@pytest.mark.slow
def test_a_leak_at_the_chosen_hour_is_the_days_one_exceedance(tmp_path: Path) -> None:
    config = site(tmp_path)
    made = occmon("simulate", "--day", DAY, str(config), "--scenario", "h2s-leak",
                  "--at", "14:00", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert occmon("records", "close", str(config), "--date", DAY, cwd=tmp_path
                  ).returncode == 0
    again = occmon("simulate", "--day", DAY, str(config), cwd=tmp_path)
    assert again.returncode == 2  # its records are in the ledger: never overwritten
    assert again.stderr.startswith(f"occmon simulate --day: {DAY} is already closed in ")
    got = records(tmp_path / "occmon.db")
    failed = {k for k, r in got.items() if r["verdict"] != "pass"}
    # the leak is at the desulf unit's H2S points, in the day shift (08:00-16:00)
    assert failed == {("desulf-h2s-1", ""), ("desulf-h2s-1", "白班"),
                      ("desulf-h2s-w1", ""), ("desulf-h2s-w1", "白班")}
    conn = sqlite3.connect(f"file:{tmp_path / 'occmon.db'}?mode=ro", uri=True)
    try:
        events = conn.execute("SELECT point, type, content FROM exceedances").fetchall()
    finally:
        conn.close()
    assert {(p, t) for p, t, _ in events} == {("desulf-h2s-1", "mac"),
                                               ("desulf-h2s-w1", "mac")}
    for _p, _t, content in events:
        body = json.loads(content)
        # the leak starts 60 s after 14:00 and reaches the MAC (10 mg/m3 = 7.05 ppm) ~230 s
        # in; the interlock's fan then holds it near the MAC (peak a little above it)
        assert body["start_local"].startswith(f"{DAY}T14:0")
        assert 10.0 < body["peak"] < 12.0


def test_a_day_that_has_not_ended_is_refused_in_one_line(tmp_path: Path) -> None:
    result = occmon("simulate", "--day", "2099-01-01", str(site(tmp_path)), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("occmon simulate --day: 2099-01-01 has not ended yet")
    assert not (tmp_path / "occmon.db").exists()


def test_the_working_day_follows_the_sites_day_shift() -> None:
    import datetime as dt

    from occmon.config import parse, read_yaml
    from simulators.day import pattern_offset, simulate_day
    from simulators.scenarios import get_scenario

    data, _ = read_yaml(DEMO)
    data["records"]["shifts"] = [{"name": "早班", "start": "07:00", "hours": 8},
                                 {"name": "晚班", "start": "15:00", "hours": 8},
                                 {"name": "夜班", "start": "23:00", "hours": 8}]
    early, problems = parse(data, DEMO)
    assert early is not None, problems
    demo = load(DEMO)
    assert pattern_offset(demo) == 0.0  # 白班 08:00: the simulators' own day
    assert pattern_offset(early) == -3600.0

    def dust_07_to_08(config: Any) -> float:
        day = next(s for s in simulate_day(config, dt.date(2026, 12, 1),
                                           get_scenario("normal-day"), seed=7)
                   if s.sensor == "d1-total")
        hour = (day.times - day.times[0]) // 3600
        return float(day.values[hour == 7].mean())

    # 07:00-08:00 is production (2.0 mg/m3) where the day shift starts at 07:00, start-up
    # (activity 0.35: 0.3 + 1.7 x 0.35 = 0.9 mg/m3) where it starts at 08:00
    assert dust_07_to_08(early) == pytest.approx(2.0, rel=0.3)
    assert dust_07_to_08(demo) == pytest.approx(0.9, rel=0.3)
