"""Acceptance: a future day and the running day cannot be closed or signed, by the CLI
(a real subprocess) or the API (real HTTP, officer key); the ledger does not change.

The store already holds a closed past day (so the ledger has rows to count); the refusals
are judged on the real clock, in the site's time zone (Asia/Shanghai).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.app import create_app
from ingest.daily.close import close_day
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.records.support import DAY, OFFICER_KEY, dust_day, local, site_config, write

NEXT = DAY + dt.timedelta(days=1)
ROOT = Path(__file__).resolve().parents[2]


def counts(db: Path) -> tuple[int, int, int]:
    """Ledger entries, day closures and stored records, read with sqlite3 itself."""
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # type: ignore[return-value]
                     for table in ("ledger", "day_closures", "daily_records"))
    finally:
        conn.close()


def records_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "occmon.cli", "records", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    config = site_config(tmp_path)
    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    today = dt.datetime.now(ZoneInfo(config.site.timezone)).date()
    write(config, dust_day(today))  # the running day has data: there would be records
    return config


def _days(config: SiteConfig) -> dict[str, str]:
    today = dt.datetime.now(ZoneInfo(config.site.timezone)).date()
    return {"today": today.isoformat(), "future": (today + dt.timedelta(days=3)).isoformat()}


def test_cli_refuses_to_close_or_sign_a_future_and_the_running_day(
    site: SiteConfig, tmp_path: Path
) -> None:
    before = counts(site.store.path)
    assert before[0] > 0 and before[1] == 1
    for name, day in _days(site).items():
        done = records_cli("close", str(tmp_path / "site.yaml"), "--date", day)
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        assert "day-open" in done.stderr and f"day {day} has not ended" in done.stderr
        assert "Asia/Shanghai" in done.stderr and "close_grace_min" in done.stderr
        assert done.stdout == ""
        signed = records_cli("sign", str(tmp_path / "site.yaml"), "--date", day,
                             "--name", "王安全")
        assert signed.returncode == 1 and "day-open" in signed.stderr, signed.stderr
    assert counts(site.store.path) == before


@pytest.fixture
def http(site: SiteConfig) -> Iterator[httpx.Client]:
    with serve(create_app(site, site.store.path)) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": OFFICER_KEY}, timeout=30) as c:
        yield c


def test_api_refuses_to_close_or_sign_a_future_and_the_running_day(
    site: SiteConfig, http: httpx.Client
) -> None:
    before = counts(site.store.path)
    for name, day in _days(site).items():
        r = http.post(f"/api/v1/daily-records/{day}/close")
        assert r.status_code == 409, (name, r.text)
        assert r.json()["detail"]["code"] == "day-open"
        detail = r.json()["detail"]["message"]
        assert detail.startswith("day-open:") and f"day {day} has not ended" in detail
        assert "Asia/Shanghai" in detail and "close_grace_min = 15 min" in detail
        s = http.post(f"/api/v1/daily-records/{day}/sign", json={"name": "王安全"})
        assert s.status_code == 409 and s.json()["detail"]["code"] == "day-open"
        assert s.json()["detail"]["message"].startswith("day-open:")
    for bad_day in ("9999-12-31", "0001-01-01"):
        bad = http.post(f"/api/v1/daily-records/{bad_day}/close")
        assert bad.status_code == 422 and bad.json()["detail"]["parameter"] == "day"
    assert http.get("/api/v1/days/9999-12-31").status_code == 422
    assert http.get("/api/v1/daily-records/report", params={"day": "1969-12-31"}
                    ).status_code == 422
    assert counts(site.store.path) == before
    # the past day is still closable: the same route, the same rule, an idempotent re-close
    again = http.post(f"/api/v1/daily-records/{DAY}/close")
    assert again.status_code == 200 and again.json()["entries"] == []
    assert counts(site.store.path) == before


def test_the_running_day_is_provisional_in_json_csv_and_report(
    site: SiteConfig, http: httpx.Client
) -> None:
    today = _days(site)["today"]
    body = http.get("/api/v1/daily-records", params={"start": str(DAY), "end": today}).json()
    by_day = {r["day"]: r["provisional"] for r in body["records"] if r["shift"] is None}
    assert by_day[str(DAY)] is False and by_day[today] is True
    assert today in body["provisional_days"] and str(DAY) not in body["provisional_days"]
    status = http.get(f"/api/v1/days/{today}").json()
    assert status["open"] is True and status["provisional"] is True
    assert http.get(f"/api/v1/days/{DAY}").json()["provisional"] is False

    csv_zh = http.get("/api/v1/daily-records", params={
        "start": str(DAY), "end": today, "format": "csv", "point": "mill-dust"}).text
    header, *rows = list(csv.reader(io.StringIO(csv_zh.lstrip("\ufeff"))))
    status = {r[0]: r[header.index("记录状态")] for r in rows if r[1] == ""}  # day rows
    # the ended days between are not closed either: computed on demand, provisional too
    assert status.pop(str(DAY)) == "已日结" and status.pop(today) == "临时"
    assert set(status.values()) <= {"临时"}
    csv_en = http.get("/api/v1/daily-records", params={
        "start": today, "format": "csv", "lang": "en", "point": "mill-dust"}).text
    header, *rows = list(csv.reader(io.StringIO(csv_en.lstrip("\ufeff"))))
    assert header[-1] == "record status" and rows
    assert {r[-1] for r in rows} == {"provisional"}

    page = http.get("/api/v1/daily-records/report", params={"day": today}).text
    assert "（临时）" in page and "不可签署" in page
    closed_page = http.get("/api/v1/daily-records/report", params={"day": str(DAY)}).text
    assert "临时" not in closed_page
    en = http.get("/api/v1/daily-records/report", params={"day": today, "lang": "en"}).text
    assert "(provisional)" in en
    pdf = http.get("/api/v1/daily-records/report", params={"day": today, "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
