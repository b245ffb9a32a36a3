"""Instrument events end to end: published on ``events/instrument`` through a real Mosquitto
into a real ingest, then read over real HTTP (filters, pages, CSV, roles), noted by an
officer (ledger entries, verified), and the calibration they report carried into the daily
record and the device's calibration record.

Plant A of the records tests: gas-1's sensor g1 (point pump-h2s) has a site-file
calibration of 2025-01-01 (due 2026-01-01: overdue on DAY, 2026-05-12); dust-1's d1 of
2026-01-20 (due 2027-01-20).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from ingest.subscriber import Ingest
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.ingest.helpers import Publisher
from tests.records.support import (
    DAY,
    INSPECTOR_KEY,
    OFFICER_KEY,
    OTHER_INSPECTOR_KEY,
    STAFF_KEY,
    dust_day,
    local,
    site_config,
    site_doc,
    write,
)
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

NEXT = DAY + dt.timedelta(days=1)
TOPIC = "occmon/v1/plant-a/events/instrument"


def utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


def finished(ident: str, name: str, device: str, sensor: str, point: str, start: float,
               end: float, result: str | None) -> dict[str, Any]:
    """A finished test as ``gateway.modbus.device`` publishes it."""
    return {"v": 1, "site": "plant-a", "id": ident, "event": name, "device": device,
            "profile": "generic", "sensors": [sensor], "points": [point], "start": utc(start),
            "end": utc(end), "time": utc(end), "duration_s": end - start, "result": result,
            "after": "normal", "who": None}


EVENTS = [
    {"v": 1, "site": "plant-a", "id": "e1", "event": "state-changed", "device": "gas-1",
     "profile": "generic", "sensors": ["g1"], "points": ["pump-h2s"],
     "state": "check-function:calibration", "category": "check-function",
     "previous": "normal", "time": utc(local(DAY, 9)), "since": utc(local(DAY, 8)),
     "duration_s": 3600.0},
    finished("e2", "calibration", "gas-1", "g1", "pump-h2s", local(DAY, 9),
               local(DAY, 9, 30), None),
    finished("e3", "bump-test", "gas-1", "g1", "pump-h2s", local(DAY, 11),
               local(DAY, 11, 2), "passed"),
    finished("e4", "calibration", "dust-1", "d1", "mill-dust", local(DAY, 12),
               local(DAY, 12, 20), "failed"),
    # the next day's calibration: not in DAY's record, but the last one of the device's
    finished("e5", "calibration", "gas-1", "g1", "pump-h2s", local(NEXT, 10),
               local(NEXT, 10, 15), "passed"),
]


@pytest.fixture
def plant(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[SiteConfig, str]]:
    """Plant A with the events published through the broker into ingest (one twice, as
    at-least-once delivery may), DAY's dust readings, and DAY closed; the API served."""
    doc = site_doc(tmp_path)
    doc["broker"] = {"host": mosquitto.host, "port": mosquitto.port}
    doc["trust"] = {"max_age_days": (dt.date.today() - DAY).days + 30}
    config = site_config(tmp_path, doc)
    write(config, dust_day())
    worker = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port)
    worker.start()
    try:
        assert worker.wait_ready(20), "ingest did not subscribe within 20 s"
        publisher = Publisher(mosquitto.port)
        try:
            for body in [*EVENTS, EVENTS[2]]:
                publisher.publish(TOPIC, json.dumps(body).encode())
        finally:
            publisher.close()

        def stored() -> bool:
            with sqlite3.connect(config.store.path) as conn:
                (n,) = conn.execute("SELECT count(*) FROM events WHERE kind = 'instrument'"
                                    ).fetchone()
            return bool(n == len(EVENTS) + 1)
        wait_for(stored, 20, "the instrument events in ingest's store")
    finally:
        worker.stop()
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    with serve(create_app(config, config.store.path)) as url:
        yield config, url


def get(url: str, path: str, key: str = OFFICER_KEY, **params: Any) -> httpx.Response:
    return httpx.get(f"{url}{path}", params=params, headers={"X-API-Key": key}, timeout=30)


def post(url: str, path: str, body: dict[str, Any], key: str = OFFICER_KEY) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers={"X-API-Key": key}, timeout=30)


def test_listed_filtered_paged_and_exported(plant: tuple[SiteConfig, str]) -> None:
    _config, url = plant
    everything = get(url, "/api/v1/instrument-events").json()
    # five events, the one delivered twice listed once, newest first
    assert everything["total"] == 5
    assert [i["id"] for i in everything["items"]] == ["e5", "e4", "e3", "e2", "e1"]
    e3 = everything["items"][2]
    assert e3["time"] == f"{DAY}T11:02:00.000+08:00"  # the site's offset, like exceedances
    assert e3["start"] == f"{DAY}T11:00:00.000+08:00"
    assert (e3["result"], e3["result_source"], e3["who"], e3["who_source"]) \
        == ("passed", "instrument", None, None)

    def ids(**params: Any) -> list[str]:
        return [i["id"] for i in get(url, "/api/v1/instrument-events", **params).json()["items"]]
    assert ids(device="gas-1") == ["e5", "e3", "e2", "e1"]
    assert ids(point="mill-dust") == ["e4"]
    assert ids(sensor="g1", event="calibration") == ["e5", "e2"]
    assert ids(event="state-changed") == ["e1"]
    # DAY 09:30 inclusive .. 12:20 exclusive: the calibration that ended 09:30 and the
    # bump test, not the dust calibration that ended at 12:20
    assert ids(start=f"{DAY}T09:30:00+08:00", end=f"{DAY}T12:20:00+08:00") == ["e3", "e2"]
    bad = get(url, "/api/v1/instrument-events", event="inhibit")
    assert bad.status_code == 422
    backwards = get(url, "/api/v1/instrument-events", start=f"{NEXT}T00:00:00+08:00",
                    end=f"{DAY}T00:00:00+08:00")
    assert backwards.status_code == 422
    assert backwards.json()["detail"]["parameter"] == "end"

    first = get(url, "/api/v1/instrument-events", limit=2).json()
    assert ([i["id"] for i in first["items"]], first["next_offset"]) == (["e5", "e4"], 2)
    last = get(url, "/api/v1/instrument-events", limit=2, offset=4).json()
    assert ([i["id"] for i in last["items"]], last["next_offset"]) == (["e1"], None)

    exported = get(url, "/api/v1/instrument-events", format="csv", lang="en", device="gas-1")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [r["event id"] for r in rows] == ["e5", "e3", "e2", "e1"]
    assert rows[1]["event"] == "bump-test" and rows[1]["result"] == "passed"
    assert rows[1]["time"] == f"{DAY}T11:02:00.000+08:00"
    zh = get(url, "/api/v1/instrument-events", format="csv").text.lstrip("\ufeff")
    assert zh.splitlines()[0].startswith("事件编号,时间,事件,设备")


def test_roles(plant: tuple[SiteConfig, str]) -> None:
    config, url = plant
    assert get(url, "/api/v1/instrument-events", STAFF_KEY).status_code == 200
    assert get(url, "/api/v1/instrument-events", INSPECTOR_KEY).json()["total"] == 5
    assert get(url, "/api/v1/instrument-events", OTHER_INSPECTOR_KEY).status_code == 403
    assert httpx.get(f"{url}/api/v1/instrument-events").status_code == 401
    with sqlite3.connect(config.store.path) as conn:
        logged = conn.execute("SELECT key, path, decision FROM access_log WHERE path = "
                              "'/api/v1/instrument-events' ORDER BY id").fetchall()
    assert logged == [("inspector-1", "/api/v1/instrument-events", "allowed"),
                      ("inspector-2", "/api/v1/instrument-events", "refused")]
    note = {"who": "张工", "result": "passed"}
    for key, code in ((STAFF_KEY, "acknowledge-only"), (INSPECTOR_KEY, "read-only")):
        refused = post(url, "/api/v1/instrument-events/e2/notes", note, key)
        assert (refused.status_code, refused.json()["detail"]["code"]) == (403, code)


def test_officer_notes_are_ledgered_and_complete_the_record(
        plant: tuple[SiteConfig, str]) -> None:
    config, url = plant
    path = "/api/v1/instrument-events/e2/notes"
    first = post(url, path, {"who": "张工"})
    assert first.status_code == 201, first.text
    second = post(url, path, {"result": "passed", "note": "span gas 25 ppm, lot 7731",
                              "when": f"{DAY}T09:10:00+08:00"})
    assert second.status_code == 201, second.text
    e2 = get(url, "/api/v1/instrument-events/e2").json()
    assert (e2["who"], e2["who_source"], e2["result"], e2["result_source"]) \
        == ("张工", "officer", "passed", "officer")
    assert [n["seq"] for n in e2["notes"]] == [first.json()["seq"], second.json()["seq"]]
    assert e2["notes"][1]["when"] == f"{DAY}T09:10:00+08:00"
    assert e2["notes"][0]["key"] == "officer"

    # the instrument said passed: a note may not say failed; a state change takes no note
    contradict = post(url, "/api/v1/instrument-events/e3/notes", {"result": "failed"})
    assert (contradict.status_code, contradict.json()["detail"]["code"]) \
        == (409, "result-from-instrument")
    assert post(url, "/api/v1/instrument-events/e3/notes", {"who": "李工"}).status_code == 201
    state = post(url, "/api/v1/instrument-events/e1/notes", {"who": "张工"})
    assert (state.status_code, state.json()["detail"]["code"]) == (409, "not-a-test")
    unknown = post(url, "/api/v1/instrument-events/nope/notes", {"who": "张工"})
    assert (unknown.status_code, unknown.json()["detail"]["code"]) \
        == (404, "unknown-instrument-event")
    assert post(url, path, {}).status_code == 422
    assert post(url, path, {"who": "张工", "when": f"{DAY}T09:10:00"}).status_code == 422

    # append-only ledger entries, chained: the second note on e2 refers to the first
    with RecordsStore(config.store.path) as store:
        assert store.verify().ok
        rows = store.conn.execute("SELECT seq, ref, point, day, content FROM ledger WHERE "
                                  "kind = 'instrument-note' ORDER BY seq").fetchall()
        # ledgered under the point and the event's local day
        assert [(s, r, p, d) for s, r, p, d, _c in rows] == [
            (first.json()["seq"], None, "pump-h2s", DAY.isoformat()),
            (second.json()["seq"], first.json()["seq"], "pump-h2s", DAY.isoformat()),
            (rows[2][0], None, "pump-h2s", DAY.isoformat())]
        assert json.loads(rows[0][4])["who"] == "张工"
        # an edited note breaks the chain
        store.conn.execute("UPDATE ledger SET content = replace(content, '张工', '王工') "
                           "WHERE seq = ?", (first.json()["seq"],))
        assert not store.verify().ok


def test_daily_record_takes_the_calibration_event(plant: tuple[SiteConfig, str]) -> None:
    config, url = plant
    records = get(url, "/api/v1/daily-records", start=DAY.isoformat()).json()["records"]
    (h2s,) = [r for r in records if r["point"] == "pump-h2s" and not r.get("shift")]
    (g1,) = h2s["instruments"]
    # 2025-01-01 in the site file (overdue on DAY); the calibration that ended DAY 09:30
    # is later: it dates the record, due a year (365 days) after it
    assert (g1["calibrated"], g1["calibration_due"], g1["calibration_current"]) \
        == (DAY.isoformat(), (DAY + dt.timedelta(days=365)).isoformat(), True)
    assert (g1["calibration_source"], g1["calibration_event"]) == ("event", "e2")
    (dust,) = [r for r in records if r["point"] == "mill-dust" and not r.get("shift")]
    (d1,) = dust["instruments"]
    # the dust calibration failed: the site file's date stays, in the record's old form
    assert (d1["calibrated"], d1["calibration_due"]) == ("2026-01-20", "2027-01-20")
    assert "calibration_source" not in d1
    text = get(url, "/api/v1/daily-records", start=DAY.isoformat(), format="csv",
               lang="en").text
    assert f"GT-2000 GT20-1 ({DAY} instrument event, current)" in text
    assert "LD-5R LD5R-0042 (2026-01-20, current)" in text
    for lang, marked, plain in (
            ("en", f"GT-2000 GT20-1, calibrated {DAY} [instrument event] (current)",
             "LD-5R LD5R-0042, calibrated 2026-01-20 (current)"),
            ("zh", f"GT-2000 GT20-1, 校准 {DAY} [仪器事件] (有效)",
             "LD-5R LD5R-0042, 校准 2026-01-20 (有效)")):
        printed = get(url, "/api/v1/daily-records/report", day=DAY.isoformat(), lang=lang).text
        assert marked in printed and plain in printed
    # re-closing the day writes nothing: the record's content is stable
    assert not close_day(config.store.path, config, DAY, now=local(NEXT, 1)).changed


def test_calibration_record_of_a_device(plant: tuple[SiteConfig, str]) -> None:
    _config, url = plant
    assert post(url, "/api/v1/instrument-events/e2/notes", {"who": "张工"}).status_code == 201
    record = get(url, "/api/v1/devices/gas-1/calibration", INSPECTOR_KEY).json()
    (g1,) = record["sensors"]
    assert (g1["sensor"], g1["serial"], g1["site_file_calibrated"], g1["interval_days"]) \
        == ("g1", "GT20-1", "2025-01-01", 365)
    # the last calibration is the next day's (e5), due 365 days after
    assert (g1["calibrated"], g1["calibration_due"], g1["calibration_source"],
            g1["calibration_event"]) == (NEXT.isoformat(),
                                         (NEXT + dt.timedelta(days=365)).isoformat(),
                                         "event", "e5")
    assert [c["id"] for c in g1["calibrations"]] == ["e2", "e5"]
    assert g1["calibrations"][0]["who"] == "张工"
    assert g1["calibrations"][0]["end"] == f"{DAY}T09:30:00.000+08:00"
    assert [b["id"] for b in g1["bump_tests"]] == ["e3"]
    (d1,) = get(url, "/api/v1/devices/dust-1/calibration").json()["sensors"]
    assert (d1["calibrated"], d1["calibration_source"]) == ("2026-01-20", "site-file")
    assert [c["result"] for c in d1["calibrations"]] == ["failed"]
    missing = get(url, "/api/v1/devices/nope/calibration")
    assert (missing.status_code, missing.json()["detail"]["code"]) == (404, "unknown-device")
