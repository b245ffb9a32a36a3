"""Personal noise per shift, LEX,W, job-based exposure and the exposure history, on a real
SQLite store over real HTTP: worker A wears noise dosimeter noisedos-1 (assigned through the
API) Monday 25 to Saturday 30 May 2026, its readings stored as the ingest stores them and
attributed at read time; worker B (same 工种, no dosimeter) gets the job-based figures of
the closed day's job record (fixtures in conftest.py, figures worked by hand in
noise_data.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import sqlite3
from typing import Any

import httpx
import pytest

from ingest.schema import connect
from ingest.store import SqliteStore
from ingest.workers import chemicals, noise, registry
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading
from tests.workers.noise_data import (
    DAY_LEX,
    IMPULSES,
    JOB_LEX,
    JOB_TWA,
    LEX_W,
    MON,
    PEAK,
    THU,
    THU_DOSE,
    THU_LEX,
    WEEK,
    at,
)
from tests.workers.site import INSPECTOR, OFFICER, STAFF, WORKER_A, A, B


def get(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    r = http.get(path, params=params, headers=OFFICER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_personal_noise_per_shift_impulses_and_a_six_day_lex_w(noise_api: httpx.Client) -> None:
    got = get(noise_api, f"/api/v1/workers/{A}/noise", start=str(MON), end=str(WEEK[-1]))
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
    rows = list(csv.DictReader(io.StringIO(noise_api.get(
        f"/api/v1/workers/{A}/noise", params={"start": str(THU), "format": "csv"},
        headers=OFFICER).text)))
    assert len(rows) == 1 and float(rows[0]["lex_8h"]) == pytest.approx(THU_LEX, abs=0.01)


def test_job_based_exposure_for_a_worker_without_a_dosimeter(noise_api: httpx.Client) -> None:
    got = get(noise_api, f"/api/v1/workers/{B}/noise", start=str(THU))
    assert got["shifts"] == []
    day_shift = next(j for j in got["job_based"] if j["shift"] == "白班")
    assert day_shift["source"] == "job" and day_shift["job"] == "mill-patrol"
    assert day_shift["lex_8h"] == pytest.approx(JOB_LEX, abs=0.01)
    assert day_shift["verdict"] == "fail"
    hist = get(noise_api, f"/api/v1/workers/{B}/history", start=str(MON), end=str(WEEK[-1]))
    by_agent = {e["agent"]: e for e in hist["entries"]}
    assert set(by_agent) == {"noise", "cement-dust"}
    assert all(e["source"] == "job" for e in hist["entries"])
    assert by_agent["noise"]["max"] == pytest.approx(JOB_LEX, abs=0.01)
    dust = by_agent["cement-dust"]
    assert dust["metric"] == "C_TWA" and dust["max"] == pytest.approx(JOB_TWA)
    assert dust["limit"] == 4 and dust["verdict"] == "pass" and dust["fraction"] == "total"
    assert "mill-dust-total 4 h" in dust["basis"]


def test_history_marks_sources_and_exports_csv(noise_api: httpx.Client) -> None:
    hist = get(noise_api, f"/api/v1/workers/{A}/history", start=str(MON), end=str(WEEK[-1]))
    assert hist["periods"] == [{"from": str(MON), "to": str(WEEK[-1]), "job": "巡检工",
                                "job_id": "mill-patrol", "profile": [
                                    {"point": "mill-noise-1", "hours": 4.0},
                                    {"point": "mill-dust-total", "hours": 4.0}]}]
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
    text = noise_api.get(f"/api/v1/workers/{A}/history", headers=OFFICER, params={
        "start": str(MON), "end": str(WEEK[-1]), "format": "csv"}).text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["employee", "起始日期", "截止日期", "工种"]
    assert len(rows) == 3 and {r[5] for r in rows[1:]} == {"noise", "cement-dust"}
    en = noise_api.get(f"/api/v1/workers/{A}/history", headers=OFFICER, params={
        "start": str(MON), "end": str(WEEK[-1]), "format": "csv", "lang": "en"}).text
    assert en.lstrip("\ufeff").startswith("employee,from,to,job,hazard")


def test_worker_file_summary_notice_and_access(noise_api: httpx.Client,
                                               noise_site: SiteConfig) -> None:
    file = get(noise_api, f"/api/v1/workers/{A}", start=str(MON), end=str(WEEK[-1]))
    summary = file["exposure"]
    assert summary["personal_shifts"] == 6 and summary["shifts_over_85"] == 3
    assert summary["lex_8h_max"] == pytest.approx(THU_LEX, abs=0.01)
    assert summary["lex_w"][0]["lex_w"] == pytest.approx(LEX_W, abs=0.01)
    notice = get(noise_api, f"/api/v1/workers/{A}/notice/2026", format="json")
    assert notice["year"] == 2026 and notice["from"] == "2026-01-01"
    assert {e["agent"] for e in notice["entries"]} == {"noise", "cement-dust"}
    r = noise_api.get(f"/api/v1/workers/{A}/notice/2019", headers=OFFICER)  # joined 2020
    assert r.status_code == 404 and r.json()["detail"]["code"] == "not-employed"
    # the worker reads their own, not another's; staff never; an inspector is logged
    assert noise_api.get(f"/api/v1/workers/{A}/noise", headers=WORKER_A,
                   params={"start": str(THU)}).status_code == 200
    for path in (f"/api/v1/workers/{B}/history", f"/api/v1/workers/{B}/notice/2026"):
        r = noise_api.get(path, headers=WORKER_A)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "own-file-only"
    r = noise_api.get(f"/api/v1/workers/{A}/history", headers=STAFF)
    assert r.status_code == 403 and r.json()["detail"]["code"] == "personal-data"
    assert noise_api.get(f"/api/v1/workers/{A}/notice/2026", headers=INSPECTOR).status_code == 200
    with sqlite3.connect(noise_site.store.path) as conn:
        logged = conn.execute("SELECT role, path, decision FROM access_log").fetchall()
    assert ("worker", f"/api/v1/workers/{B}/history", "refused") in logged
    assert ("staff", f"/api/v1/workers/{A}/history", "refused") in logged
    assert ("inspector", f"/api/v1/workers/{A}/notice/2026", "allowed") in logged
    assert ("worker", f"/api/v1/workers/{A}/noise", "allowed") in logged


def test_without_site_shifts_the_shift_is_the_calendar_day(noise_api: httpx.Client,
                                                            noise_site: SiteConfig) -> None:
    assert noise_site.records is not None
    calendar = noise_site.model_copy(update={"records": noise_site.records.model_copy(
        update={"shifts": []})})
    conn = connect(noise_site.store.path)
    try:
        worker = registry.worker(conn, A)
        assert worker is not None
        got = noise.noise_file(conn, calendar, worker, THU, THU)
    finally:
        conn.close()
    assert got.basis == "calendar-day"
    [day] = got.shifts
    assert day["shift"] == "day" and day["day"] == str(THU)
    assert day["lex_8h"] == pytest.approx(THU_LEX, abs=0.01)
    assert day["coverage"] == pytest.approx(1.0)  # 8 h worn of the 8-h reference day
    assert day["impulses"] == IMPULSES and day["impulse_verdict"] == "fail"


def test_a_job_change_starts_a_new_period(noise_api: httpx.Client) -> None:
    body = {"employee": B, "name": "李四", "sex": "M", "birth_date": "1990-03-04",
            "job": "探伤工", "category": "A", "joined": "2020-01-01",
            "reason": "调岗 moved to radiography"}
    r = noise_api.post(f"/api/v1/workers/{B}/corrections", json=body, headers=OFFICER)
    assert r.status_code == 201, r.text
    changed = dt.datetime.fromisoformat(r.json()["entered"]).date()  # the site's day
    hist = get(noise_api, f"/api/v1/workers/{B}/history", start=str(MON), end=str(changed))
    assert [(p["from"], p["to"], p["job"], p["job_id"]) for p in hist["periods"]] == [
        (str(MON), str(changed - dt.timedelta(days=1)), "mill-patrol", "mill-patrol"),
        (str(changed), str(changed), "探伤工", None)]
    # the job-based entries belong to the first period only
    assert {e["job"] for e in hist["entries"]} == {"mill-patrol"}


def test_a_worn_gas_detector_gives_personal_chemical_exposure(
    noise_api: httpx.Client, noise_site: SiteConfig,
) -> None:
    # worker C wears the wireless H2S detector wgas-1 08:00-12:00 on Thursday: one reading a
    # minute at 3.0 mg/m3 but 12.0 at 09:00. H2S has a MAC (10) only: the highest worn
    # reading is judged, 12 > 10: fail. C_TWA by hand: (239 x 60 x 3.0 + 60 x 12.0) / 28800
    # = 1.51875 mg/m3. Job 巡检工: the dust and noise of the job still come from the job record.
    body = {"employee": "E1003", "name": "王五", "sex": "M", "birth_date": "1985-07-01",
            "job": "巡检工", "joined": "2024-03-01"}
    assert noise_api.post("/api/v1/workers", json=body, headers=OFFICER).status_code == 201
    assert noise_api.post("/api/v1/instruments", headers=OFFICER, json={
        "serial": "WG4-3310", "type": "gas-detector", "device": "wgas-1",
        "quantities": ["concentration"]}).status_code == 201
    assert noise_api.post("/api/v1/assignments", headers=OFFICER, json={
        "instrument": "WG4-3310", "worker": "E1003", "start": "2026-05-28T08:00:00+08:00",
        "end": "2026-05-28T12:00:00+08:00", "position": "breathing-zone"}).status_code == 201
    readings = [Reading(point="desulf-h2s-w1", agent="h2s", time=at(THU, 8) + 60.0 * i,
                        value=12.0 if i == 60 else 3.0, unit="mg/m3", quality=Quality.GOOD,
                        sensor="w1-h2s", device="wgas-1") for i in range(240)]
    readings.append(Reading(point="desulf-h2s-w1", agent="h2s", time=at(THU, 13), value=50.0,
                            unit="mg/m3", quality=Quality.GOOD, sensor="w1-h2s",
                            device="wgas-1"))  # after the detector was handed back: not C's
    store = SqliteStore(noise_site.store.path)
    try:
        store.write_readings(readings, received=at(THU, 20))
    finally:
        store.close()
    hist = get(noise_api, "/api/v1/workers/E1003/history", start=str(THU), end=str(THU))
    entries = {(e["agent"], e["source"]): e for e in hist["entries"]}
    assert set(entries) == {("h2s", "personal"), ("noise", "job"), ("cement-dust", "job")}
    h2s = entries[("h2s", "personal")]
    assert h2s["metric"] == "MAC max" and h2s["max"] == 12.0 and h2s["limit"] == 10
    assert h2s["verdict"] == "fail" and h2s["over"] == 1 and h2s["count"] == 1
    assert h2s["instruments"] == ["WG4-3310"]
    conn = connect(noise_site.store.path)
    try:
        [row] = chemicals.personal_chemicals(conn, noise_site, "E1003", THU, THU)
    finally:
        conn.close()
    assert row["shift"] == "白班" and row["worn_hours"] == pytest.approx(4.0)
    assert row["c_twa"] == pytest.approx((239 * 60 * 3.0 + 60 * 12.0) / 28800)


def test_bad_requests_are_refused_by_name_and_csv_cells_never_run(
    noise_api: httpx.Client,
) -> None:
    for path, params, parameter in (
        (f"/api/v1/workers/{A}/noise", {"start": "2026-01-01", "end": "2026-04-30"}, "end"),
        (f"/api/v1/workers/{A}/history", {"start": "2026-05-30", "end": "2026-05-01"}, "end"),
        (f"/api/v1/workers/{A}/history", {"start": "2026-02-30"}, "start"),
    ):
        r = noise_api.get(path, params=params, headers=OFFICER)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["detail"]["parameter"] == parameter
    for year in ("1800", "abc"):
        assert noise_api.get(f"/api/v1/workers/{A}/notice/{year}",
                             headers=OFFICER).status_code == 422
    assert noise_api.get("/api/v1/workers/E9999/history", headers=OFFICER).status_code == 404
    # a 工种 typed like a spreadsheet formula is exported as text
    body = {"employee": "E1004", "name": "赵六", "sex": "F", "birth_date": "1991-01-01",
            "job": "=HYPERLINK(\"http://x\")", "joined": "2026-05-01"}
    assert noise_api.post("/api/v1/workers", json=body, headers=OFFICER).status_code == 201
    r = noise_api.post("/api/v1/instruments", headers=OFFICER, json={
        "serial": "ASV-9", "type": "noise-dosimeter", "device": "noisedos-1"})
    assert r.status_code == 201
    assert noise_api.post("/api/v1/assignments", headers=OFFICER, json={
        "instrument": "ASV-9", "worker": "E1004", "start": "2026-05-25T00:00:00+08:00",
        "end": "2026-05-26T00:00:00+08:00"}).status_code == 201  # Monday's readings, 88 dB(A)
    text = noise_api.get("/api/v1/workers/E1004/history", headers=OFFICER, params={
        "start": "2026-05-01", "end": "2026-05-31", "format": "csv"}).text
    [head, row] = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert row[head.index("工种")] == "'=HYPERLINK(\"http://x\")"
    assert float(row[head.index("最高值")]) == pytest.approx(88.0)  # numbers stay numbers
    hist = get(noise_api, "/api/v1/workers/E1004/history", start="2026-05-01", end="2026-05-31")
    assert hist["periods"][0]["job_id"] is None  # no job of records.jobs: no job-based entry
    assert [(e["agent"], e["source"]) for e in hist["entries"]] == [("noise", "personal")]


def test_a_history_window_of_centuries_is_cut_to_the_employment(noise_api: httpx.Client
                                                                  ) -> None:
    """Found by the API fuzz test: 1970..9999 walked every shift of 8,000 years (a worker
    thread tied up for minutes). Worker A joined 2020-01-01 and is still employed."""
    hist = get(noise_api, f"/api/v1/workers/{A}/history", start="1970-01-01", end="9999-12-29")
    today = dt.date.fromisoformat(hist["to"])
    assert hist["from"] == "2020-01-01"
    assert abs((today - dt.date.today()).days) <= 1  # today in the site's zone
    assert {e["agent"] for e in hist["entries"]} >= {"noise"}  # the worn week is still in it
    r = noise_api.get(f"/api/v1/workers/{B}/history", headers=OFFICER,
                      params={"start": "1970-01-01", "end": "2026-01-01"})
    assert r.status_code == 200, r.text  # B joined 2020 too: cut, not refused
