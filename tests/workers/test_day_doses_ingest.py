"""A late electronic-dosimeter reading through the real path: readings published to a real
Mosquitto, stored by the running ingest, the worker's dose file read over real HTTP (which
stores the closed days), then a reading held back for two days ago arrives the same way:
the stored days from its day on are dropped by the store's triggers and the next read of
the file shows it."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.store import StoreReader
from ingest.subscriber import Ingest
from occmon import topics
from occmon.model import Quality, Reading
from occmon.payload import encode_batch
from tests.api.serve import serve
from tests.ingest.helpers import SITE, Publisher
from tests.servers import Mosquitto, wait_for
from tests.workers.site import OFFICER, TZ, A, config, worker_body

pytestmark = pytest.mark.server



def the_days() -> tuple[dt.date, dt.date, dt.date]:
    """D-3, D-2 and D-1 of the site's today, taken when the test starts (not when the
    module is collected: a run that crosses local midnight closes one more day). A test
    that starts in the last minute before midnight waits for it."""
    now = dt.datetime.now(TZ)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0), tzinfo=TZ)
    if (midnight - now).total_seconds() < 60:
        time.sleep((midnight - now).total_seconds() + 1)
    today = dt.datetime.now(TZ).date()
    return today - dt.timedelta(days=3), today - dt.timedelta(days=2), today - dt.timedelta(days=1)


def hp10(day: dt.date, hour: int, value: float) -> Reading:
    at = dt.datetime.combine(day, dt.time(hour), tzinfo=TZ).timestamp()
    return Reading(point="ndt-worker-dose", agent="ionising-radiation", time=at, value=value,
                   unit="uSv", quality=Quality.GOOD, quantity="hp10", sensor="rd1-hp10",
                   device="raddos-1")


def dose_log(d3: dt.date, d2: dt.date, d1: dt.date) -> tuple[list[Reading], Reading]:
    """raddos-1's running total (uSv), and the reading held back.

    By hand, the sum of rises from each day's baseline: D-3 1 -> 3: 2; D-2 3 -> 4 -> 10: 7;
    D-1 10 -> 11: 1. Together 10 uSv. Held back, D-2 23:00 at 20: D-2 gains 10 -> 20 (10,
    so 17), D-1 falls 20 -> 11 (a reset: 0). Together 2 + 17 + 0 = 19 uSv."""
    log = [hp10(d3, 8, 1.0), hp10(d3, 12, 3.0), hp10(d2, 9, 4.0), hp10(d2, 15, 10.0),
           hp10(d1, 10, 11.0)]
    return log, hp10(d2, 23, 20.0)


@pytest.fixture
def running(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[str, Publisher, Path]]:
    site = config(tmp_path, mosquitto.port)
    worker = Ingest(site, broker_host=mosquitto.host, broker_port=mosquitto.port)
    worker.start()
    publisher = Publisher(mosquitto.port)
    try:
        assert worker.wait_ready(20), "ingest did not subscribe within 20 s"
        with serve(create_app(site, site.store.path)) as url:
            yield url, publisher, site.store.path
    finally:
        publisher.close()
        worker.stop()


def epd_usv(http: httpx.Client) -> float:
    r = http.get(f"/api/v1/workers/{A}", headers=OFFICER)
    assert r.status_code == 200, r.text
    periods: list[dict[str, Any]] = r.json()["dose"]["periods"]
    return round(sum(p["hp10_msv"] for p in periods if p["source"] == "EPD") * 1000.0, 6)


def stored_days(store: Path) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        return [r[0] for r in conn.execute("SELECT day FROM day_doses ORDER BY day")]
    finally:
        conn.close()


def publish(publisher: Publisher, store: Path, readings: list[Reading], total: int) -> None:
    publisher.publish(topics.readings(SITE, "ndt-worker-dose"), encode_batch(SITE, readings))

    def stored() -> bool:
        with StoreReader(store) as reader:
            return reader.count_readings() == total
    wait_for(stored, 20, f"ingest to store {total} dosimeter readings")


def test_a_late_reading_through_ingest_is_in_the_next_read_of_the_file(
    running: tuple[str, Publisher, Path],
) -> None:
    url, publisher, store = running
    d3, d2, d1 = the_days()
    log, late = dose_log(d3, d2, d1)
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/api/v1/workers", json=worker_body(A, "张三"),
                         headers=OFFICER).status_code == 201
        r = http.post("/api/v1/instruments", headers=OFFICER, json={
            "serial": "EPD-55120", "type": "EPD", "device": "raddos-1",
            "quantities": ["hp10", "dose_rate"], "calibrated": "2026-04-30"})
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/assignments", headers=OFFICER, json={
            "instrument": "EPD-55120", "worker": A,
            "start": dt.datetime.combine(d3, dt.time(0), tzinfo=TZ).isoformat()})
        assert r.status_code == 201, r.text
        publish(publisher, store, log, len(log))
        assert epd_usv(http) == pytest.approx(10.0)
        days = [d.isoformat() for d in (d3, d2, d1)]
        assert stored_days(store) == days  # the closed days; today is read live
        assert epd_usv(http) == pytest.approx(10.0)  # from the stored days

        publish(publisher, store, [late], len(log) + 1)
        assert stored_days(store) == [d3.isoformat()]  # dropped as ingest stored it
        assert epd_usv(http) == pytest.approx(19.0)
        assert stored_days(store) == days
        assert epd_usv(http) == pytest.approx(19.0)
