"""Acceptance: one electronic dosimeter worn by worker A 08:00-12:00 and by worker B
12:00-17:00, assigned over real HTTP with the officer's key, its readings fed through a real
Mosquitto into the running ingest: each worker's file shows their own dose, a worker key reads
its own file and is refused another's, and the access log holds every read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.store import StoreReader
from ingest.subscriber import Ingest
from occmon import topics
from occmon.payload import encode_batch
from tests.api.serve import serve
from tests.ingest.helpers import SITE, Publisher
from tests.servers import Mosquitto, wait_for
from tests.workers.site import (
    INSPECTOR,
    OFFICER,
    STAFF,
    WORKER_A,
    A,
    B,
    at,
    config,
    hp10,
    worker_body,
)

pytestmark = pytest.mark.server

# raddos-1's running Hp(10) total, uSv, hourly 07:00-18:00 (it is cleared at 14:00)
LOG = [(7, 100.0), (8, 102.0), (9, 105.5), (10, 106.0), (11, 110.0), (12, 112.5),
       (13, 113.0), (14, 0.4), (15, 2.4), (16, 5.0), (17, 6.0), (18, 20.0)]
# By hand, with cumulative_dose's rule (sum of rises, a fall is a reset and adds nothing):
# A, readings 08:00..12:00: 3.5 + 0.5 + 4.0 + 2.5 = 10.5 uSv (= 112.5 - 102.0)
# B, readings 12:00..17:00: 0.5 + (reset, 0) + 2.0 + 2.6 + 1.0 = 6.1 uSv
# 07:00->08:00 (2.0) and 17:00->18:00 (14.0) were worn by nobody: in neither file.
DOSE_A, DOSE_B = 10.5, 6.1


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


def post(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = http.post(path, json=body, headers=OFFICER)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_a_dosimeter_moved_at_noon_gives_each_wearer_their_own_dose(
    running: tuple[str, Publisher, Path],
) -> None:
    url, publisher, store = running
    with httpx.Client(base_url=url, timeout=10) as http:
        post(http, "/api/v1/workers", worker_body(A, "张三"))
        post(http, "/api/v1/workers", worker_body(B, "李四", sex="M"))
        post(http, "/api/v1/instruments", {"serial": "EPD-55120", "type": "EPD",
                                           "device": "raddos-1",
                                           "quantities": ["hp10", "dose_rate"],
                                           "calibrated": "2026-04-30"})
        first = post(http, "/api/v1/assignments", {
            "instrument": "EPD-55120", "worker": A, "start": at(8).isoformat(),
            "end": at(12).isoformat()})
        post(http, "/api/v1/assignments", {
            "instrument": "EPD-55120", "worker": B, "start": at(12).isoformat(),
            "end": at(17).isoformat(), "position": "collar"})
        # the same dosimeter on A again at 11:00: it is on one worker at a time
        r = http.post("/api/v1/assignments", headers=OFFICER, json={
            "instrument": "EPD-55120", "worker": A, "start": at(11).isoformat(),
            "end": at(13).isoformat()})
        assert r.status_code == 409 and r.json()["detail"]["code"] == "assignment-overlap"

        publisher.publish(topics.readings(SITE, "ndt-worker-dose"),
                          encode_batch(SITE, [hp10(h, v) for h, v in LOG]))

        def stored() -> bool:
            with StoreReader(store) as reader:
                return reader.count_readings() == len(LOG)
        wait_for(stored, 20, "ingest to store the 12 dosimeter readings")

        files = {}
        for employee in (A, B):
            r = http.get(f"/api/v1/workers/{employee}", params={"start": "2026-05-28"},
                         headers=OFFICER)
            assert r.status_code == 200, r.text
            files[employee] = r.json()
        assert files[A]["dose_usv"] == pytest.approx(DOSE_A)
        assert files[B]["dose_usv"] == pytest.approx(DOSE_B)
        (day_a,) = files[A]["days"]
        assert day_a["day"] == "2026-05-28" and day_a["dose_usv"] == pytest.approx(DOSE_A)
        (worn_a,) = files[A]["worn"]
        assert worn_a["assignment"] == first["id"] and worn_a["readings"] == 5  # 08..12
        assert worn_a["from"] == at(8).isoformat()
        # the rest of A's day is shown as unassigned: 00:00-08:00 and 12:00-24:00
        assert [u["from"][11:16] for u in files[A]["unassigned"]] == ["00:00", "12:00"]
        assert files[B]["worn"][0]["position"] == "collar"
        assert "id_hash" not in files[A]["worker"]

        # a worker key: its own file, nobody else's, nothing else
        own = http.get(f"/api/v1/workers/{A}", params={"start": "2026-05-28"},
                       headers=WORKER_A)
        assert own.status_code == 200 and own.json()["dose_usv"] == pytest.approx(DOSE_A)
        other = http.get(f"/api/v1/workers/{B}", headers=WORKER_A)
        assert other.status_code == 403
        assert other.json()["detail"]["code"] == "own-file-only"
        for sneaky in (f"/api/v1/workers/{A}/../{B}", f"/api/v1/workers/{A}%2F..%2F{B}",
                       f"/api/v1/workers/{A}/readings/../../{B}"):
            r = http.get(sneaky, headers=WORKER_A)
            assert r.status_code in (403, 404) and "李四" not in r.text, (sneaky, r.text)
        assert http.get("/api/v1/ledger", headers=WORKER_A).status_code == 403
        assert http.get("/api/v1/workers", headers=WORKER_A).status_code == 403
        # inspectors read (logged by api.auth) and never write
        assert http.get(f"/api/v1/workers/{B}", headers=INSPECTOR).status_code == 200
        assert http.post("/api/v1/workers", json=worker_body("E1003", "王五"),
                         headers=INSPECTOR).status_code == 403
        # staff keys run the plant, they do not read personal files
        assert http.get(f"/api/v1/workers/{A}", headers=STAFF).status_code == 403
        # personal data is not on the public board
        assert "张三" not in http.get("/board.json").text

        log = http.get("/api/v1/access-log", headers=OFFICER, params={"limit": 1000})
        assert log.status_code == 200, log.text
        seen = {(e["key"], e["path"], e["decision"]) for e in log.json()["entries"]}
        assert ("worker-a", f"/api/v1/workers/{A}", "allowed") in seen
        assert ("worker-a", f"/api/v1/workers/{B}", "refused") in seen
        assert ("demo-officer", f"/api/v1/workers/{B}", "allowed") in seen
        assert ("demo-staff", f"/api/v1/workers/{A}", "refused") in seen
        assert ("demo-inspector", f"/api/v1/workers/{B}", "allowed") in seen
