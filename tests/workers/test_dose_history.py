"""The exposure history and the yearly notice take their radiation from the personal dose file
(lab results, a nominal dose, the below-MDL rule, as the dose file counts them), and the
printed personal dose record (个人剂量档案, GBZ 128-2019) renders: the PDF through poppler
(pdftoppm: ink on an A4 landscape page; pdftotext: the sums), the HTML in headless Chromium.
Real HTTP, a real SQLite store; every sum worked by hand below."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.schema import connect
from ingest.schema import migrate as migrate_store
from ingest.store import SqliteStore
from ingest.workers import doses, history, registry
from ingest.workers.schema import migrate
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.board.dom import headless, parse
from tests.workers.site import (
    INSPECTOR,
    OFFICER,
    STAFF,
    WORKER_A,
    WORKER_B,
    A,
    B,
    at,
    config,
    hp10,
)
from tests.workers.test_history_printed import ink, keep, render

HEADER = "employee,dosimeter,start,end,hp10,hp007,hp3,mdl_msv,lab,report\n"
RAD = "ionising-radiation"
# worker A, lab results (mSv) in two years; 2025 Q2's dosimeter was lost (nominal 0.9)
LAB = (f"{A},T1,2024-01-01,2024-03-31,1.2,5.0,2.0,0.1,市疾控中心,R24-1\n"
       f"{A},T2,2024-04-01,2024-06-30,ND,,,0.1,市疾控中心,R24-2\n"
       f"{A},T3,2024-07-01,2024-09-30,0.8,,,0.1,市疾控中心,R24-3\n"
       f"{A},T4,2024-10-01,2024-12-31,1.5,,1.0,0.1,市疾控中心,R24-4\n"
       f"{A},T5,2025-01-01,2025-03-31,0.6,,,0.1,市疾控中心,R25-1\n"
       f"{A},T7,2025-07-01,2025-09-30,2.0,,,0.1,市疾控中心,R25-3\n"
       f"{A},T8,2025-10-01,2025-12-31,<0.2,,,,市疾控中心,R25-4\n")
# By hand. Below detection enters as half the limit: ND (MDL 0.1) -> 0.05; <0.2 -> 0.1.
Y2024 = 1.2 + 0.05 + 0.8 + 1.5          # Hp(10) 3.55
Y2024_HP3 = 2.0 + 1.0                   # Hp(3) 3.0 (reported in Q1 and Q4 only)
Y2024_HP007 = 5.0                       # Hp(0.07) 5.0 (Q1 only)
NOMINAL = 0.9
Y2025 = 0.6 + NOMINAL + 2.0 + 0.1       # 3.6
FIVE = Y2024 + Y2025                    # 7.15: fewer than 5 years on file, one run 2024-2025
# worker B, born 2008-06-01: 18 on 2026-06-01, so all of 2025 is held to 6 mSv (B1.1.1.2)
B_2025 = 4 * 2.0                        # 8.0 > 6 (under 18), <= 50 (adult)


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return config(tmp_path)


@pytest.fixture
def http(site: SiteConfig) -> Iterator[httpx.Client]:
    with serve(create_app(site, site.store.path)) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        for body in ({"employee": A, "name": "张三", "sex": "F", "birth_date": "1990-03-04",
                      "job": "探伤工", "category": "A", "joined": "2024-01-01"},
                     {"employee": B, "name": "李四", "sex": "M", "birth_date": "2008-06-01",
                      "job": "探伤工", "category": "B", "joined": "2025-01-01"}):
            ok(client.post("/api/v1/workers", json=body, headers=OFFICER))
        quarters = (("01-01", "03-31"), ("04-01", "06-30"), ("07-01", "09-30"),
                    ("10-01", "12-31"))
        lab_b = "".join(f"{B},TB{q},2025-{a},2025-{b},2.0,,,,lab,RB-{q}\n"
                        for q, (a, b) in enumerate(quarters))
        ok(post_csv(client, HEADER + LAB + lab_b))
        ok(client.post(f"/api/v1/workers/{A}/doses/nominal", headers=OFFICER, json={
            "dosimeter": "T6", "start": "2025-04-01", "end": "2025-06-30", "method": "given",
            "hp10_msv": NOMINAL, "reason": "T6 lost in the laundry; colleagues' mean"}))
        f = ok(client.get(f"/api/v1/workers/{A}/doses", headers=OFFICER))
        q3 = next(p for p in f["periods"] if p["start"] == "2025-07-01")
        assert q3["investigate"]  # 2.0 > 1.25 mSv, the quarter's investigation level
        ok(client.post(f"/api/v1/workers/{A}/doses/{q3['period']}/investigation",
                       headers=OFFICER,
                       json={"findings": "窗口检修时佩戴; dose confirmed, shielding fixed"}))
        yield client


def ok(r: httpx.Response) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


def post_csv(http: httpx.Client, text: str) -> httpx.Response:
    return http.post("/api/v1/workers/doses", content=text.encode("utf-8"),
                     headers={**OFFICER, "Content-Type": "text/csv"})


def radiation(entries: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    return {(e["year"], e["quantity"]): e for e in entries if e["agent"] == RAD}


def test_history_radiation_is_the_dose_files_by_year(http: httpx.Client) -> None:
    hist = ok(http.get(f"/api/v1/workers/{A}/history", headers=OFFICER,
                       params={"start": "2024-01-01", "end": "2026-06-30"}))
    rows = radiation(hist["entries"])
    assert sorted(rows) == [(2024, "hp007"), (2024, "hp10"), (2024, "hp3"), (2025, "hp10")]
    h24, h25 = rows[(2024, "hp10")], rows[(2025, "hp10")]
    assert h24["sum"] == pytest.approx(Y2024) and h24["year_sum"] == pytest.approx(Y2024)
    assert rows[(2024, "hp3")]["sum"] == pytest.approx(Y2024_HP3)
    assert rows[(2024, "hp007")]["sum"] == pytest.approx(Y2024_HP007)
    assert (h24["unit"], h24["limit"], h24["count"], h24["verdict"]) == ("mSv", 50.0, 4, "pass")
    assert (rows[(2024, "hp3")]["limit"], rows[(2024, "hp007")]["limit"]) == (150.0, 500.0)
    # Hp(3) was reported in Q1 and Q4 only, Hp(0.07) in Q1 only: those are its sources
    assert rows[(2024, "hp3")]["count"] == 2 and rows[(2024, "hp3")]["max"] == 2.0
    assert rows[(2024, "hp007")]["instruments"] == ["T1"]
    assert h24["five_year_sum"] is None  # the run on file ends in 2025
    assert h25["sum"] == pytest.approx(Y2025) and h25["count"] == 4
    assert h25["five_year_sum"] == pytest.approx(FIVE) and h25["five_years"] == "2024-2025"
    assert h25["five_year_limit"] == 100.0 and h25["source"] == "personal"
    assert "R25-1" in h25["basis"] and "nominal given" in h25["basis"]
    assert "T6 lost in the laundry" in h25["basis"] and "T6" in h25["instruments"]
    assert not any(e["agent"] == RAD for e in hist["entries"] if e["year"] == 2026)

    years = {y["year"]: y for y in hist["radiation"]}
    assert sorted(years) == [2024, 2025]
    assert years[2024]["hp10_msv"] == pytest.approx(Y2024)
    assert years[2024]["hp3_msv"] == pytest.approx(Y2024_HP3)
    assert years[2025]["hp3_msv"] is None and years[2025]["hp007_msv"] is None
    assert [s["report"] or s["source"] for s in years[2025]["sources"]] == [
        "R25-1", "nominal", "R25-3", "R25-4"]
    nd = next(s for s in years[2024]["sources"] if s["report"] == "R24-2")
    assert nd["hp10_msv"] == pytest.approx(0.05) and nd["below_mdl"] == ["hp10"]
    assert years[2025]["five_years"]["hp10_msv"] == pytest.approx(FIVE)
    assert years[2025]["verdict"] == "pass" and years[2024]["limits"]["hp10_msv"] == 50.0

    # the same figures in the CSV export (English column names)
    text = http.get(f"/api/v1/workers/{A}/history", headers=OFFICER, params={
        "start": "2024-01-01", "end": "2026-06-30", "format": "csv", "lang": "en"}).text
    lines = [r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
             if r["agent id"] == RAD]
    assert [(r["from"], r["metric"][:6]) for r in lines] == [
        ("2024-01-01", "Hp(10)"), ("2024-01-01", "Hp(3) "), ("2024-01-01", "Hp(0.0"),
        ("2025-01-01", "Hp(10)")]
    assert float(lines[0]["sum"]) == pytest.approx(Y2024)
    assert float(lines[3]["sum"]) == pytest.approx(Y2025)
    assert float(lines[3]["5-year sum"]) == pytest.approx(FIVE)
    assert lines[3]["limit"] == "50.0" and lines[3]["verdict"] == "pass"

    # a worker under 18: the 16-18 limit of B1.1.1.2 is the one applied (8.0 > 6)
    hist_b = ok(http.get(f"/api/v1/workers/{B}/history", headers=WORKER_B,
                         params={"start": "2025-01-01", "end": "2025-12-31"}))
    b = radiation(hist_b["entries"])[(2025, "hp10")]
    assert b["sum"] == pytest.approx(B_2025) and b["limit"] == 6.0 and b["verdict"] == "fail"
    (yb,) = hist_b["radiation"]
    assert yb["verdicts"]["year"] == "pass" and yb["verdicts"]["under_18"] == "fail"
    assert yb["broken"] == ["effective_under_18"]


def test_notice_carries_the_years_dose(http: httpx.Client, tmp_path: Path) -> None:
    notice = ok(http.get(f"/api/v1/workers/{A}/notice/2025", headers=WORKER_A,
                         params={"format": "json"}))
    (year,) = notice["radiation"]
    assert year["year"] == 2025 and year["hp10_msv"] == pytest.approx(Y2025)
    assert year["five_years"]["hp10_msv"] == pytest.approx(FIVE)
    assert [e["quantity"] for e in notice["entries"] if e["agent"] == RAD] == ["hp10"]
    r = http.get(f"/api/v1/workers/{A}/notice/2024", headers=WORKER_A, params={"format": "pdf"})
    assert r.status_code == 200
    png, text = render(r.content, tmp_path, "notice-2024")
    assert ink(png) > 0.01
    flat = " ".join(text.split())
    for label in ("2024 年个人剂量 Personal dose 2024", "3.55", "3.00", "5.00", "R24-4",
                  "Hp(10)", "GB 18871-2002"):
        assert label in flat, f"{label!r} not in the notice's text"


def test_dose_record_pdf_is_the_workers_to_download(http: httpx.Client, site: SiteConfig,
                                                    tmp_path: Path) -> None:
    r = http.get(f"/api/v1/workers/{A}/doses", headers=WORKER_A, params={"format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment")
    png, text = render(r.content, tmp_path, "dose-record")
    assert 0.01 < ink(png) < 0.5, "the page is blank or solid"
    flat = " ".join(text.split())
    for label in ("个人剂量档案", "Personal dose record", "张三", A, "R24-1", "ND", "3.55",
                  "3.60", "7.15", "0.900", "T6 lost in the laundry", "demo-officer",
                  "窗口检修时佩戴", "调查记录", "名义剂量", "GB 18871-2002"):
        assert label in flat, f"{label!r} not in the dose record's text"
    assert "national" not in flat.lower()
    # another worker's record: refused; staff: refused; an inspector reads, logged
    r = http.get(f"/api/v1/workers/{A}/doses", headers=WORKER_B, params={"format": "pdf"})
    assert r.status_code == 403 and r.json()["detail"]["code"] == "own-file-only"
    r = http.get(f"/api/v1/workers/{A}/doses", headers=STAFF, params={"format": "html"})
    assert r.status_code == 403 and r.json()["detail"]["code"] == "personal-data"
    assert http.get(f"/api/v1/workers/{A}/doses", headers=INSPECTOR,
                    params={"format": "pdf"}).status_code == 200
    with sqlite3.connect(site.store.path) as conn:
        logged = set(conn.execute("SELECT role, path, query, decision FROM access_log"))
    path = f"/api/v1/workers/{A}/doses"
    assert ("worker", path, "format=pdf", "allowed") in logged
    assert ("worker", path, "format=pdf", "refused") in logged
    assert ("inspector", path, "format=pdf", "allowed") in logged
    assert ("staff", path, "format=html", "refused") in logged


def test_dose_record_html_in_chromium(http: httpx.Client, tmp_path: Path) -> None:
    r = http.get(f"/api/v1/workers/{A}/doses", headers=OFFICER, params={"format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = tmp_path / "dose-record.html"
    page.write_text(r.text, encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    shot = tmp_path / "dose-record.png"
    headless(profile, f"--screenshot={shot}", page.as_uri(), width=1123, height=1600)
    keep(shot)
    assert 0.01 < ink(shot) < 0.5
    dom = parse(headless(profile, "--dump-dom", page.as_uri(), width=1123, height=794))

    def rows(table_id: str) -> list[str]:
        table = dom.by_id(table_id)
        assert table is not None, table_id
        return [n.text for n in table.walk() if n.tag == "tr"][1:]

    periods = rows("periods")
    assert len(periods) == 8 and "below MDL: hp10" in periods[1] and "R24-2" in periods[1]
    years = rows("years")
    assert len(years) == 2 and "3.55" in years[0] and "3.00" in years[0]
    assert "3.60" in years[1] and "合格 pass" in years[1]
    (five,) = rows("five-years")
    assert "2024-2025" in five and "7.15" in five and "100" in five
    investigations = rows("investigations")
    assert len(investigations) == 2  # above 1.25 mSv: 2024 Q4 1.5 and 2025 Q3 2.0
    done = next(t for t in investigations if "2025-07-01" in t)
    assert "窗口检修时佩戴" in done and "已记录 recorded" in done
    (nominal,) = rows("nominal")
    assert "T6" in nominal and "0.900" in nominal and "demo-officer" in nominal
    assert rows("special")[0].strip().startswith("无")


def test_a_declared_pregnancy_is_the_limit_the_history_applies(http: httpx.Client,
                                                               tmp_path: Path) -> None:
    ok(http.post(f"/api/v1/workers/{A}/pregnancy", headers=OFFICER,
                 json={"declared": "2025-07-01"}))
    hist = ok(http.get(f"/api/v1/workers/{A}/history", headers=OFFICER,
                       params={"start": "2024-01-01", "end": "2025-12-31"}))
    rows = radiation(hist["entries"])
    # from 2025-07-01 on (to the last period on file): Q3 2.0 + Q4 0.1 = 2.1 > 1 mSv
    (preg,) = next(y for y in hist["radiation"] if y["year"] == 2025)["pregnancies"]
    assert preg["dose"]["hp10_msv"] == pytest.approx(2.0 + 0.1) and preg["limit_msv"] == 1.0
    assert rows[(2025, "hp10")]["verdict"] == "fail"
    assert rows[(2025, "hp10")]["pregnancy_limit"] == 1.0
    assert rows[(2024, "hp10")]["verdict"] == "pass"  # before the declaration
    r = http.get(f"/api/v1/workers/{A}/doses", headers=WORKER_A, params={"format": "html"})
    assert r.status_code == 200
    assert "孕期 pregnancy" in r.text and "2.10" in r.text and "超标 fail" in r.text
    r = http.get(f"/api/v1/workers/{A}/history", headers=WORKER_A, params={
        "start": "2024-01-01", "end": "2025-12-31", "format": "pdf"})
    png, text = render(r.content, tmp_path, "history-dose")
    assert ink(png) > 0.01
    flat = " ".join(text.split())
    for label in ("三、个人剂量 (按年) Personal dose by year", "3.55", "3.60", "7.15", "R25-3",
                  "孕期 pregnancy", "2025-07-01", "2.10", "超标 fail"):
        assert label in flat, f"{label!r} not in the history's text"
    # a reason typed like a spreadsheet formula is written as text in the dose file's CSV
    ok(http.post(f"/api/v1/workers/{A}/doses/nominal", headers=OFFICER, json={
        "dosimeter": "T9", "start": "2026-01-01", "end": "2026-03-31", "method": "given",
        "hp10_msv": 0.2, "reason": "=HYPERLINK(\"http://x\")"}))
    text = http.get(f"/api/v1/workers/{A}/doses", headers=WORKER_A,
                    params={"format": "csv"}).text
    (line,) = [r for r in csv.DictReader(io.StringIO(text)) if r["dosimeter"] == "T9"]
    assert line["reason"] == "'=HYPERLINK(\"http://x\")"


def test_an_epd_month_enters_the_history_as_the_dose_file_counts_it(
    site: SiteConfig,
) -> None:
    conn = connect(Path(site.store.path))
    migrate_store(conn)
    migrate(conn)
    try:
        registry.put_worker(conn, registry.WorkerIn.model_validate({
            "employee": A, "name": "张三", "sex": "F", "birth_date": "1990-03-04",
            "job": "探伤工", "category": "A", "joined": "2026-01-01"}), site="demo-plant",
            by="officer", now=1.0)
        registry.put_instrument(conn, registry.InstrumentIn(
            serial="EPD-1", type="EPD", device="raddos-1", quantities=["hp10"]),
            site="demo-plant", by="officer", now=1.0, devices=[d.id for d in site.devices])
        registry.put_assignment(conn, registry.AssignmentIn(
            instrument="EPD-1", worker=A, start=at(8), end=at(17)), site="demo-plant",
            by="officer", now=1.0)
        store = SqliteStore(Path(site.store.path))
        store.write_readings([hp10(8, 100.0), hp10(12, 130.0), hp10(17, 145.0)])
        store.close()
        worker = registry.worker(conn, A)
        assert worker is not None
        may = (dt.date(2026, 5, 1), dt.date(2026, 5, 31))
        now = at(18).timestamp()
        hist = history.exposure_history(conn, site, worker, *may, now)
        # worn on 05-28 only: 145 - 100 = 45 uSv = 0.045 mSv, the month's EPD period
        (e,) = [e for e in hist["entries"] if e["agent"] == RAD]
        assert e["sum"] == pytest.approx(0.045) and e["unit"] == "mSv"
        assert e["basis"] == "EPD 2026-05" and e["instruments"] == ["EPD-1"]
        # a lab result for May is the dose of record: the EPD month no longer counts
        doses.import_lab_csv(conn, HEADER + f"{A},TLD-5,2026-05-01,2026-05-31,0.06,,,,lab,R5\n",
                             site="demo-plant", by="officer", now=2.0,
                             today=dt.date(2026, 12, 1), factor=0.5)
        hist = history.exposure_history(conn, site, worker, *may, now)
        (e,) = [e for e in hist["entries"] if e["agent"] == RAD]
        assert e["sum"] == pytest.approx(0.06) and e["basis"] == "检测报告 lab R5 (lab)"
        (y,) = hist["radiation"]
        assert [s["source"] for s in y["sources"]] == ["lab"]
    finally:
        conn.close()
