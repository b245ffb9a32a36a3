"""Personal noise per shift, LEX,W, job-based exposure and the exposure history, on a real
SQLite store over real HTTP: worker A wears noise dosimeter noisedos-1 (assigned through the
API) Monday 25 to Saturday 30 May 2026, its readings stored as the ingest stores them and
attributed at read time; worker B (same 工种, no dosimeter) gets the job-based figures of
the closed day's job record. Every figure is worked by hand below."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.daily.close import close_day
from ingest.store import SqliteStore
from occmon.config.records import Job, ProfileStep
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading
from tests.api.serve import serve
from tests.workers.site import INSPECTOR, OFFICER, STAFF, TZ, WORKER_A, A, B, config, worker_body

MON = dt.date(2026, 5, 25)
THU = dt.date(2026, 5, 28)  # the day whose shift is worked by hand in detail
WEEK = [MON + dt.timedelta(days=i) for i in range(6)]  # Monday to Saturday: a 6-day week
# the day shift's level (dB(A)) each day, constant 08:00-16:00; Thursday is 94 then 80
LEVEL = {WEEK[0]: 88.0, WEEK[1]: 85.0, WEEK[2]: 82.0, WEEK[4]: 88.0, WEEK[5]: 79.0}
# Thursday by hand: 4 h at 94 dB(A) and 4 h at 80 dB(A), worn the whole 8-h day shift
THU_LEX = 10 * math.log10((4 * 10**9.4 + 4 * 10**8.0) / 8)  # = 91.159
THU_DOSE = 100 * 10 ** ((THU_LEX - 85) / 10)  # = 413 %
# LEX,W of the 6 days worked (GBZ 2.2-2007 cl. 11: the week is not 5 days)
DAY_LEX = [*[LEVEL[d] for d in WEEK[:3]], THU_LEX, *[LEVEL[d] for d in WEEK[4:]]]
LEX_W = 10 * math.log10(sum(10 ** (x / 10) for x in DAY_LEX) / 5)  # = 88.0
# Thursday's impulses: one LCpeak a minute 08:00-16:00; the first 150 above 120 dB(C)
# (125, one of them 133), the rest 110. 150 impulses: 100 < n <= 1000 -> limit 130 dB(C)
# (Table 10); 133 > 130: one impulse over the limit, a fail.
IMPULSES, PEAK = 150, 133.0
# Job 巡检工: 4 h at mill-noise-1 (91 dB(A) all day shift) and 4 h at mill-dust-total
# (5 mg/m3): LEX,8h = 10 lg(4 x 10^9.1 / 8) = 91 + 10 lg(0.5) = 87.99 (GBZ/T 189.8 time-
# activity); C_TWA = 5 x 4 / 8 = 2.5 mg/m3 against PC-TWA 4 (total cement dust)
JOB_LEX = 91 + 10 * math.log10(4 / 8)
JOB_TWA = 5.0 * 4 / 8


def at(day: dt.date, hour: int, minute: int = 0) -> float:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ).timestamp()


def _r(point: str, quantity: str, t: float, value: float, unit: str, agent: str,
       sensor: str, device: str) -> Reading:
    return Reading(point=point, agent=agent, time=t, value=value, unit=unit,
                   quality=Quality.GOOD, quantity=quantity, sensor=sensor, device=device)


def dosimeter_readings() -> list[Reading]:
    out = []
    for day in WEEK:
        for i in range(480):  # one a minute 08:00..15:59, each held 60 s: 8 h
            t = at(day, 8) + 60.0 * i
            level = LEVEL.get(day, 94.0 if i < 240 else 80.0)
            out.append(_r("mill-worker-noise", "laeq", t, level, "dB(A)", "noise", "nd1-laeq",
                          "noisedos-1"))
            if day == THU:
                peak = (PEAK if i == 10 else 125.0) if i < IMPULSES else 110.0
                out.append(_r("mill-worker-noise", "lcpeak", t, peak, "dB(C)", "noise",
                              "nd1-peak", "noisedos-1"))
    return out


def point_readings() -> list[Reading]:
    out = []
    for i in range(480):
        t = at(THU, 8) + 60.0 * i
        out.append(_r("mill-noise-1", "laeq", t, 91.0, "dB(A)", "noise", "s1-laeq", "slm-1"))
        out.append(_r("mill-dust-total", "concentration", t, 5.0, "mg/m3", "cement-dust",
                      "d1-total", "dust-1"))
    return out


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    base = config(tmp_path)
    assert base.records is not None
    job = Job(id="mill-patrol", name="巡检工",
              profile=[ProfileStep(point="mill-noise-1", hours=4),
                       ProfileStep(point="mill-dust-total", hours=4)])
    return base.model_copy(update={"records": base.records.model_copy(update={"jobs": [job]})})


@pytest.fixture
def api(site: SiteConfig) -> Iterator[httpx.Client]:
    store = SqliteStore(site.store.path)
    try:
        store.write_readings(dosimeter_readings() + point_readings(), received=at(THU, 20))
    finally:
        store.close()
    close_day(site.store.path, site, THU, now=at(THU + dt.timedelta(days=1), 0, 30))
    with serve(create_app(site, site.store.path)) as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        for body in (worker_body(A, "张三", job="巡检工"),
                     worker_body(B, "李四", sex="M", job="mill-patrol")):
            assert http.post("/api/v1/workers", json=body, headers=OFFICER).status_code == 201
        r = http.post("/api/v1/instruments", headers=OFFICER, json={
            "serial": "ASV-2207", "type": "noise-dosimeter", "device": "noisedos-1",
            "quantities": ["laeq", "lcpeak"], "calibrated": "2026-02-11"})
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/assignments", headers=OFFICER, json={
            "instrument": "ASV-2207", "worker": A, "start": "2026-05-25T07:30:00+08:00",
            "position": "collar"})
        assert r.status_code == 201, r.text
        yield http


def get(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    r = http.get(path, params=params, headers=OFFICER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_personal_noise_per_shift_impulses_and_a_six_day_lex_w(api: httpx.Client) -> None:
    got = get(api, f"/api/v1/workers/{A}/noise", start=str(MON), end=str(WEEK[-1]))
    assert got["basis"] == "site-shifts"  # the demo plant declares 白班/中班/夜班
    shifts = {s["day"]: s for s in got["shifts"]}
    assert sorted(shifts) == [str(d) for d in WEEK]  # one worn shift a day, 白班
    thu = shifts[str(THU)]
    assert thu["shift"] == "白班" and thu["source"] == "personal"
    assert thu["instruments"] == ["ASV-2207"] and thu["worn_hours"] == pytest.approx(8.0)
    assert thu["lex_8h"] == pytest.approx(THU_LEX, abs=0.01)
    assert thu["dose_pct"] == pytest.approx(THU_DOSE, abs=0.1)
    assert thu["laeq_worn"] == pytest.approx(THU_LEX, abs=0.01)
    assert thu["verdict"] == "fail"
    assert thu["impulses"] == IMPULSES and thu["impulse_limit"] == 130.0
    assert thu["lcpeak_max"] == PEAK and thu["impulses_over"] == 1
    assert thu["impulse_verdict"] == "fail"
    assert shifts[str(WEEK[2])]["lex_8h"] == pytest.approx(82.0, abs=0.01)
    assert shifts[str(WEEK[2])]["verdict"] == "pass"
    assert shifts[str(WEEK[0])]["impulses"] == 0  # no LCpeak readings that day
    [week] = got["weeks"]
    assert week["week"] == "2026-W22" and week["days"] == 6 and week["lex_w_applies"]
    assert week["lex_w"] == pytest.approx(LEX_W, abs=0.01) and week["verdict"] == "fail"
    assert got["job_based"] == []  # A wore a dosimeter every day: no job-based noise
    rows = list(csv.DictReader(io.StringIO(api.get(
        f"/api/v1/workers/{A}/noise", params={"start": str(THU), "format": "csv"},
        headers=OFFICER).text)))
    assert len(rows) == 1 and float(rows[0]["lex_8h"]) == pytest.approx(THU_LEX, abs=0.01)


def test_job_based_exposure_for_a_worker_without_a_dosimeter(api: httpx.Client) -> None:
    got = get(api, f"/api/v1/workers/{B}/noise", start=str(THU))
    assert got["shifts"] == []
    day_shift = next(j for j in got["job_based"] if j["shift"] == "白班")
    assert day_shift["source"] == "job" and day_shift["job"] == "mill-patrol"
    assert day_shift["lex_8h"] == pytest.approx(JOB_LEX, abs=0.01)
    assert day_shift["verdict"] == "fail"
    hist = get(api, f"/api/v1/workers/{B}/history", start=str(MON), end=str(WEEK[-1]))
    by_agent = {e["agent"]: e for e in hist["entries"]}
    assert set(by_agent) == {"noise", "cement-dust"}
    assert all(e["source"] == "job" for e in hist["entries"])
    assert by_agent["noise"]["max"] == pytest.approx(JOB_LEX, abs=0.01)
    dust = by_agent["cement-dust"]
    assert dust["metric"] == "C_TWA" and dust["max"] == pytest.approx(JOB_TWA)
    assert dust["limit"] == 4 and dust["verdict"] == "pass" and dust["fraction"] == "total"
    assert "mill-dust-total 4 h" in dust["basis"]


def test_history_marks_sources_and_exports_csv(api: httpx.Client) -> None:
    hist = get(api, f"/api/v1/workers/{A}/history", start=str(MON), end=str(WEEK[-1]))
    assert hist["periods"] == [{"from": str(MON), "to": str(WEEK[-1]), "job": "巡检工",
                                "job_id": "mill-patrol"}]
    entries = {(e["agent"], e["source"]): e for e in hist["entries"]}
    # noise is personal every day: the job record's noise is not used; dust is job-based
    assert set(entries) == {("noise", "personal"), ("cement-dust", "job")}
    mine = entries[("noise", "personal")]
    assert mine["count"] == 6 and mine["max"] == pytest.approx(THU_LEX, abs=0.01)
    assert mine["over"] == 3  # Monday 88, Thursday 91.2, Friday 88 > 85
    assert mine["lcpeak_max"] == PEAK and mine["impulse_fails"] == 1
    assert mine["lex_w_max"] == pytest.approx(LEX_W, abs=0.01)
    assert mine["instruments"] == ["ASV-2207"]
    mean = 10 * math.log10(sum(10 ** (x / 10) for x in DAY_LEX) / 6)
    assert mine["mean"] == pytest.approx(mean, abs=0.01)
    text = api.get(f"/api/v1/workers/{A}/history", headers=OFFICER, params={
        "start": str(MON), "end": str(WEEK[-1]), "format": "csv"}).text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["employee", "起始日期", "截止日期", "工种"]
    assert len(rows) == 3 and {r[5] for r in rows[1:]} == {"noise", "cement-dust"}
    en = api.get(f"/api/v1/workers/{A}/history", headers=OFFICER, params={
        "start": str(MON), "end": str(WEEK[-1]), "format": "csv", "lang": "en"}).text
    assert en.lstrip("\ufeff").startswith("employee,from,to,job,hazard")


def test_worker_file_summary_notice_and_access(api: httpx.Client, site: SiteConfig) -> None:
    file = get(api, f"/api/v1/workers/{A}", start=str(MON), end=str(WEEK[-1]))
    summary = file["exposure"]
    assert summary["personal_shifts"] == 6 and summary["shifts_over_85"] == 3
    assert summary["lex_8h_max"] == pytest.approx(THU_LEX, abs=0.01)
    assert summary["lex_w"][0]["lex_w"] == pytest.approx(LEX_W, abs=0.01)
    notice = get(api, f"/api/v1/workers/{A}/notice/2026", format="json")
    assert notice["year"] == 2026 and notice["from"] == "2026-01-01"
    assert {e["agent"] for e in notice["entries"]} == {"noise", "cement-dust"}
    r = api.get(f"/api/v1/workers/{A}/notice/2019", headers=OFFICER)  # joined 2020
    assert r.status_code == 404 and r.json()["detail"]["code"] == "not-employed"
    # the worker reads their own, not another's; staff never; an inspector is logged
    assert api.get(f"/api/v1/workers/{A}/noise", headers=WORKER_A,
                   params={"start": str(THU)}).status_code == 200
    for path in (f"/api/v1/workers/{B}/history", f"/api/v1/workers/{B}/notice/2026"):
        r = api.get(path, headers=WORKER_A)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "own-file-only"
    r = api.get(f"/api/v1/workers/{A}/history", headers=STAFF)
    assert r.status_code == 403 and r.json()["detail"]["code"] == "personal-data"
    assert api.get(f"/api/v1/workers/{A}/notice/2026", headers=INSPECTOR).status_code == 200
    with sqlite3.connect(site.store.path) as conn:
        logged = conn.execute("SELECT role, path, decision FROM access_log").fetchall()
    assert ("worker", f"/api/v1/workers/{B}/history", "refused") in logged
    assert ("staff", f"/api/v1/workers/{A}/history", "refused") in logged
    assert ("inspector", f"/api/v1/workers/{A}/notice/2026", "allowed") in logged
    assert ("worker", f"/api/v1/workers/{A}/noise", "allowed") in logged
