"""The records API over real HTTP: rectification loop, signing and push, CSV, reports."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.daily.close import close_day
from occmon.model import Quality, Reading
from tests.api.serve import serve
from tests.records.support import (
    DAY,
    OFFICER_KEY,
    dust_day,
    local,
    site_config,
    site_doc,
    write,
)
from tests.servers import free_port

NEXT = DAY + dt.timedelta(days=1)
KEY = {"X-API-Key": OFFICER_KEY}


class Archive:
    """A real HTTP endpoint that answers 500 to the first ``fail`` POSTs, then 201."""

    def __init__(self, fail: int) -> None:
        self.fail, self.bodies, self.digests = fail, [], []  # type: ignore[var-annotated]
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if archive.fail > 0:
                    archive.fail -= 1
                    self.send_response(500)
                else:
                    archive.bodies.append(body)
                    archive.digests.append(self.headers["X-Occmon-SHA256"])
                    self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def archive() -> Iterator[Archive]:
    a = Archive(fail=1)
    yield a
    a.close()


@pytest.fixture
def http(tmp_path: Path, archive: Archive) -> Iterator[httpx.Client]:
    doc = site_doc(tmp_path)
    doc["records"]["push"] = {"url": f"http://127.0.0.1:{archive.port}/days",
                              "folder": str(tmp_path / "compliance"), "retries": 2,
                              "backoff_s": 0.05}
    config = site_config(tmp_path, doc)
    write(config, dust_day())
    write(config, dust_day(NEXT, surge=1.0))  # the next day: compliant
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    with serve(create_app(config, config.store.path)) as url, \
            httpx.Client(base_url=url, headers=KEY, timeout=30) as client:
        yield client


def wait(probe: Any, timeout: float = 20.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_rectification_loop_open_action_recheck_closed(http: httpx.Client) -> None:
    (ex,) = http.get("/api/v1/exceedances", params={"status": "open"}).json()["items"]
    path = f"/api/v1/exceedances/{ex['id']}"
    early = http.post(path + "/recheck", json={"who": "王安全"})
    assert early.status_code == 409 and "allowed now: action" in early.json()["detail"]["message"]
    act = http.post(path + "/actions", json={"who": "张班长", "what": "更换磨机密封, 加强喷雾降尘",
                                             "when": "2026-05-12T11:00:00+08:00"})
    assert act.status_code == 200 and act.json()["status"] == "actioned"
    # no later compliant period recorded yet: the next day is not closed
    blocked = http.post(path + "/recheck", json={"who": "王安全"})
    assert blocked.status_code == 409
    assert "no compliant daily record" in blocked.json()["detail"]["message"]
    assert http.post(f"/api/v1/daily-records/{NEXT}/close").status_code == 200
    ok = http.post(path + "/recheck", json={"who": "王安全"})
    assert ok.status_code == 200 and ok.json()["status"] == "rechecked"
    assert http.post(path + "/close", json={"who": "王安全"}).json()["status"] == "closed"
    got = http.get(path).json()
    assert got["status"] == "closed"
    assert [(s["kind"], s["to"]) for s in got["history"]] == [
        ("action", "actioned"), ("recheck", "rechecked"), ("close", "closed")]
    assert got["history"][0]["who"] == "张班长"
    assert got["history"][1]["evidence"]["day"] == NEXT.isoformat()
    assert http.post(path + "/actions", json={"who": "x", "what": "y"}).status_code == 409
    assert http.get("/api/v1/ledger/verify").json()["ok"] is True


def test_sign_pushes_to_the_endpoint_with_retries_and_to_the_folder(
    http: httpx.Client, archive: Archive, tmp_path: Path
) -> None:
    unclosed = http.post("/api/v1/daily-records/2026-05-14/sign", json={"name": "王安全"})
    assert unclosed.status_code == 409
    stranger = http.post(f"/api/v1/daily-records/{DAY}/sign", json={"name": "路人"})
    assert stranger.status_code == 403
    signed = http.post(f"/api/v1/daily-records/{DAY}/sign", json={"name": "王安全"})
    assert signed.status_code == 200
    again = http.post(f"/api/v1/daily-records/{DAY}/sign", json={"name": "王安全"})
    assert again.status_code == 409 and "already signed" in again.json()["detail"]["message"]
    status = wait(lambda: (s := http.get(f"/api/v1/days/{DAY}").json())
                  ["deliveries"][2:] and s)
    attempts = [(d["target"].startswith("http"), d["attempt"], d["ok"], d["status"])
                for d in status["deliveries"]]
    assert attempts == [(False, 1, 1, "written"), (True, 1, 0, "failed"),
                        (True, 2, 1, "delivered")]
    assert status["closure"]["signed_by"] == "王安全"
    (body,) = archive.bodies
    assert hashlib.sha256(body).hexdigest() == archive.digests[0]
    doc = json.loads(body)
    assert doc["day"] == DAY.isoformat() and doc["closure"]["signed_by"] == "王安全"
    assert len(doc["exceedances"]) == 1
    file = tmp_path / "compliance" / f"plant-a-{DAY}.json"
    digest = (tmp_path / "compliance" / f"plant-a-{DAY}.json.sha256").read_text().split()[0]
    assert hashlib.sha256(file.read_bytes()).hexdigest() == digest == archive.digests[0]


def test_daily_records_csv_in_chinese_and_english(http: httpx.Client) -> None:
    zh = http.get("/api/v1/daily-records", params={"start": str(DAY), "format": "csv",
                                                   "point": "mill-dust"})
    assert zh.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(zh.text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["日期", "班次", "车间/工段", "监测点"]
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [(r["班次"], r["结论"], r["C_TWA"]) for r in body] == [
        ("", "超标", "1.5"), ("白班", "超标", "1.5")]
    en = http.get("/api/v1/daily-records", params={"start": str(DAY), "format": "csv",
                                                   "lang": "en", "agent": "h2s"}).text
    header, *lines = list(csv.reader(io.StringIO(en.lstrip("\ufeff"))))
    assert header[:2] == ["date", "shift"] and len(lines) == 2
    ex = http.get("/api/v1/exceedances", params={"format": "csv", "lang": "en"}).text
    assert "2026-05-12T10:00:00+08:00" in ex and ",peak," in ex


def test_today_is_computed_on_demand_and_not_stored(http: httpx.Client, tmp_path: Path) -> None:
    import time

    from tests.records.support import TZ

    now = time.time()
    config = site_config(tmp_path)  # same store file as the served app
    write(config, [Reading(point="pump-h2s", agent="h2s", time=now - 60 * i, value=12.0,
                           unit="mg/m3", quality=Quality.GOOD) for i in range(3)])
    today = dt.datetime.fromtimestamp(now, TZ).date().isoformat()
    rows = http.get("/api/v1/daily-records", params={"start": today, "point": "pump-h2s"}
                    ).json()["records"]
    day = next(r for r in rows if r["shift"] is None)
    assert day["closed"] is False and day["seq"] is None
    assert day["readings"] == 3 and day["max"] == 12.0 and day["verdict"] == "超标"  # > MAC 10
    assert http.get(f"/api/v1/days/{today}").json()["closed"] is False
    stored = http.get("/api/v1/exceedances", params={"point": "pump-h2s",
                                                     "provisional": "false"}).json()
    assert stored["total"] == 0  # an open day's exceedances are not in the ledger yet
    shown = http.get("/api/v1/exceedances", params={"point": "pump-h2s"}).json()["items"]
    assert [(e["type"], e["day"], e["provisional"]) for e in shown] == [("mac", today, True)]


def test_day_report_html_and_pdf(http: httpx.Client, tmp_path: Path) -> None:
    page = http.get("/api/v1/daily-records/report", params={"day": str(DAY)})
    assert page.status_code == 200 and "职业病危害因素日常监测记录" in page.text
    assert "磨机总尘" in page.text and "超标" in page.text
    pdf = http.get("/api/v1/daily-records/report", params={"day": str(DAY), "format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and b"/FontFile2" in pdf.content  # font embedded
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext missing (apt-get install -y poppler-utils poppler-data)")
    file = tmp_path / "day.pdf"
    file.write_bytes(pdf.content)
    done = subprocess.run([tool, str(file), "-"], capture_output=True, timeout=30)
    if b"Missing language pack" in done.stderr:
        pytest.skip("poppler-data missing: CJK text not extractable (apt-get install poppler-data)")
    text = done.stdout.decode()
    assert "日常监测记录" in text and "2026-05-12" in text and "磨机总尘" in text
