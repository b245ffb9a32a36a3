"""Every time the API answers is ISO 8601 with an offset: no epoch seconds in the exceedance,
device, dead-letter and ventilation responses, event bodies included (real HTTP, the demo
plant's store written as ingest writes it)."""

from __future__ import annotations

import datetime as dt
import time

import httpx

from ingest.records import DeadLetter, DeviceState, Event
from ingest.store import SqliteStore
from tests.api.epochs import epoch_numbers
from tests.ingest.helpers import SITE, reading


def has_offset(text: str) -> bool:
    return dt.datetime.fromisoformat(text).utcoffset() is not None


def test_no_epoch_seconds_in_exceedances_devices_dead_letters_ventilation(
    client: httpx.Client, store: SqliteStore
) -> None:
    now = time.time()
    store.write_readings([reading("desulf-h2s-1", 0, value=30.0, time=now)])
    store.write_device_status([DeviceState("gas-panel-1", False, now, "timeout", SITE)])
    store.write_dead_letters([DeadLetter(now, "occmon/v1/demo-plant/x", "malformed-json",
                                         "not JSON", b"{", site=SITE)])
    body = {"id": "ev-1", "unit": "fan-1", "event": "hold-started", "state": "hold",
            "priority": "log", "time": now, "until": now + 600,
            "snapshot": {"state": "hold", "hold_until": now + 600, "hold_time": 600}}
    store.write_events([Event("ventilation", now, body, SITE)])

    exceedances = client.get("/api/v1/exceedances").json()
    (event,) = exceedances["items"]
    one = client.get(f"/api/v1/exceedances/{event['id']}").json()
    log = client.get("/api/v1/ventilation/log").json()
    answers = {
        "exceedances": exceedances, "exceedance": one, "log": log,
        "devices": client.get("/api/v1/devices").json(),
        "dead-letters": client.get("/api/v1/dead-letters").json(),
        "ventilation": client.get("/api/v1/ventilation").json(),
    }
    assert {name: epoch_numbers(a) for name, a in answers.items()} == {
        name: [] for name in answers}
    assert has_offset(event["start"]) and has_offset(event["end"])
    assert dt.datetime.fromisoformat(event["start"]).timestamp() == round(now, 3)
    (line,) = log
    assert has_offset(line["body"]["time"]) and has_offset(line["body"]["until"])
    hold = dt.datetime.fromisoformat(line["body"]["snapshot"]["hold_until"]).timestamp()
    assert abs(hold - (now + 600)) < 0.001  # the same instant, to the millisecond
    assert line["body"]["snapshot"]["hold_time"] == 600  # a duration stays a number


def test_iso_fields_converts_only_the_named_times() -> None:
    from api.isotimes import iso_fields

    row = {"day": "2026-05-12", "closed_at": 1_778_603_400.25, "signed_at": None,
           "close_seq": 1_778_603_400}
    # 1_778_603_400 s = 20585 days (2026-05-12) + 16:30:00 UTC, by hand
    assert iso_fields(row, "closed_at", "signed_at") == {
        "day": "2026-05-12", "closed_at": "2026-05-12T16:30:00.250Z", "signed_at": None,
        "close_seq": 1_778_603_400}
