"""Every GET route of a running app (real HTTP, a store with a closed and signed day, alarm
and ventilation events, a push delivery and an inspector's request in it) answers its times
as ISO 8601 with an offset: no number that looks like epoch seconds anywhere, except under
the keys documented as epoch (the ledger's hashed entry ``time`` and ``content``, the signed
anchors), and each of those carries its ISO copy."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from ingest.records import Event
from ingest.store import SqliteStore
from occmon import keys
from occmon.config.schema import SiteConfig
from tests.api.epochs import epoch_numbers
from tests.api.serve import serve
from tests.records.support import (
    DAY,
    INSPECTOR_KEY,
    OFFICER_KEY,
    dust_day,
    local,
    site_config,
    site_doc,
    write,
)

EPOCHS = (1e9, 4e9)  # 2001-09-09 .. 2096-10-02: a number there is a time
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# keys whose numbers are epoch seconds by documentation: the ledger's entries are hashed as
# written (``time`` beside ``time_iso``, ``content`` beside ``content_times``); the anchors
# file is signed as written (``exported_at``, each anchor's ``time``)
DOCUMENTED_EPOCH = (
    re.compile(r"^/api/v1/ledger\.entries\[\d+\]\.(time|content\..*)$"),
    re.compile(r"^/api/v1/ledger/anchors\.(exported_at|head\.time|anchors\[\d+\]\.time)$"),
)


def iso_without_offset(value: Any, where: str) -> list[str]:
    """JSON paths of strings that read as an ISO time but carry no offset."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in iso_without_offset(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in iso_without_offset(v, f"{where}[{i}]")]
    if isinstance(value, str) and ISO.match(value):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return [f"{where}={value!r} (not ISO 8601)"]
        return [] if moment.utcoffset() is not None else [f"{where}={value!r}"]
    return []


@dataclass
class Plant:
    config: SiteConfig
    url: str


def alarm(event_id: str, event: str, state: str, at: float, **extra: Any) -> Event:
    return Event("alarm", at, {"id": event_id, "event": event, "alarm_id": "mill-dust:process",
                               "point": "mill-dust", "kind": "process", "level": "alarm",
                               "state": state, "occurrence": 1, "value": 25.0,
                               "setpoint": 10.0, "unit": "mg/m3", "time": at, **extra},
                 "plant-a")


@contextmanager
def plant(tmp_path: Path) -> Iterator[Plant]:
    """Plant A of the records tests with a closed, signed day: every kind of time in it."""
    doc = site_doc(tmp_path)
    doc["security"] = {"ledger_key": str(tmp_path / "keys" / "ledger.pem"),
                       "ledger_verify_key": str(tmp_path / "keys" / "ledger.pub.pem")}
    config = site_config(tmp_path, doc)
    keys.ensure_ledger(config)
    write(config, dust_day())
    t = local(DAY, 10, 1)
    store = SqliteStore(config.store.path)
    try:
        store.write_events([
            alarm("0000000001000-000000001", "raised", "active-unacknowledged", t),
            alarm("0000000001000-000000002", "shelved", "shelved", t + 60, user="王安全",
                  until=t + 3600),
            Event("ventilation", t, {"id": "v-1", "unit": "mill-exhaust", "event": "hold",
                                     "state": "hold", "priority": "log", "time": t,
                                     "until": t + 600, "snapshot": {"hold_until": t + 600}},
                  "plant-a"),
            Event("instrument", t, {"id": "i-1", "event": "calibration", "device": "gas-1",
                                    "sensors": ["g1"], "points": ["pump-h2s"],
                                    "start": t - 600, "end": t, "time": t, "result": None,
                                    "who": None}, "plant-a"),
        ])
    finally:
        store.close()
    after = local(DAY + dt.timedelta(days=1), 0, 30)
    close_day(config.store.path, config, DAY, now=after)
    with RecordsStore(config.store.path) as records:
        records.sign(DAY.isoformat(), "王安全", after + 60, seal=keys.ledger_signing_key(config))
        records.log_delivery(DAY.isoformat(), "https://authority.example/push", 1, after + 120,
                             True, "200", "ok", "0" * 64)
    app = create_app(config, config.store.path)
    with serve(app) as url:
        httpx.get(f"{url}/api/v1/days/{DAY}", headers={"X-API-Key": INSPECTOR_KEY})
        yield Plant(config, url)


def get_paths(http: httpx.Client, ids: dict[str, str]) -> list[str]:
    """Every GET route of the app's OpenAPI, its path and required query filled in."""
    required = {"start": DAY.isoformat(), "day": DAY.isoformat()}
    spec = http.get("/openapi.json").json()
    out = []
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        if op is None or path.endswith("/stream"):
            continue
        query = {p["name"]: required.get(p["name"], "") for p in op.get("parameters", [])
                 if p["in"] == "query" and p.get("required")}
        if path.endswith("/readings") and "{point_id}" in path:  # start and end are times
            query = {"start": f"{DAY}T00:00:00+08:00", "end": f"{DAY}T23:59:59+08:00"}
        url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        out.append(url + ("?" + str(httpx.QueryParams(query)) if query else ""))
    return out


def test_no_epoch_seconds_in_any_get_answer(tmp_path: Path) -> None:
    with plant(tmp_path) as site, httpx.Client(base_url=site.url, timeout=30,
                                               headers={"X-API-Key": OFFICER_KEY}) as http:
        exceedances = http.get("/api/v1/exceedances").json()["items"]
        assert exceedances, "the surge of the day must have left an exceedance"
        # the registries' routes too: one worker wearing one dosimeter on the day
        for path, body in (
            ("/api/v1/workers", {"employee": "E1", "name": "王工", "sex": "M",
                                 "birth_date": "1980-01-02", "job": "磨工"}),
            ("/api/v1/instruments", {"serial": "TLD-1", "type": "TLD"}),
            ("/api/v1/assignments", {"instrument": "TLD-1", "worker": "E1",
                                     "start": f"{DAY}T08:00:00+08:00",
                                     "end": f"{DAY}T17:00:00+08:00"})):
            made = http.post(path, json=body)
            assert made.status_code == 201, made.text
        ids = {"point_id": "mill-dust", "alarm_id": "mill-dust:process", "day": DAY.isoformat(),
               "quarter_id": "2026-Q2", "exceedance_id": exceedances[0]["id"],
               "employee": "E1", "serial": "TLD-1", "year": str(DAY.year),
               "device": "gas-1", "event_id": "i-1"}
        answers: dict[str, Any] = {}
        for url in get_paths(http, ids):
            r = http.get(url)
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
            if r.headers["content-type"].startswith("application/json"):
                answers[url.split("?")[0]] = r.json()
        stream = _first_sse(http)

    assert {"/api/v1/alarms/history", "/api/v1/days/2026-05-12", "/api/v1/ledger",
            "/api/v1/access-log", "/api/v1/daily-records"} <= set(answers)
    epochs = [p for url, body in answers.items() for p in epoch_numbers(body, url, EPOCHS)
              if not any(d.match(p) for d in DOCUMENTED_EPOCH)]
    assert epochs == []
    assert epoch_numbers(stream, "stream", EPOCHS) == []
    naive = [p for url, body in answers.items() for p in iso_without_offset(body, url)]
    assert naive == []

    # what the walk must have seen, converted (not merely absent)
    history = answers["/api/v1/alarms/history"]["events"]
    shelved = next(e for e in history if e["event"] == "shelved")
    until = dt.datetime.fromisoformat(shelved["body"]["until"]).timestamp()
    assert until == pytest.approx(local(DAY, 11, 1), abs=0.001)  # 10:01 + 3600 s
    day = answers["/api/v1/days/2026-05-12"]
    signed = dt.datetime.fromisoformat(day["closure"]["signed_at"]).timestamp()
    assert signed == pytest.approx(local(DAY + dt.timedelta(days=1), 0, 31), abs=0.001)
    # the records' times carry the site's offset, like the exceedances and closable_from
    assert [day["closable_from"][-6:], day["closure"]["closed_at"][-6:],
            day["closure"]["signed_at"][-6:], day["deliveries"][0]["time"][-6:]] \
        == ["+08:00"] * 4
    (calibration,) = answers["/api/v1/instrument-events"]["items"]
    assert [calibration["start"], calibration["end"]] \
        == [f"{DAY}T09:51:00.000+08:00", f"{DAY}T10:01:00.000+08:00"]  # 10:01 - 600 s
    access = answers["/api/v1/access-log"]["entries"]
    assert access and all(row["time"].endswith("+08:00") for row in access)
    (record,) = [r for r in answers["/api/v1/daily-records"]["records"]
                 if r["point"] == "mill-dust" and not r.get("shift")]
    assert [dt.datetime.fromisoformat(a["time"]).timestamp() for a in record["alarms"]] \
        == pytest.approx([local(DAY, 10, 1), local(DAY, 10, 2)], abs=0.001)
    ledger = answers["/api/v1/ledger"]["entries"]
    assert ledger and all(
        dt.datetime.fromisoformat(e["time_iso"]).timestamp() == pytest.approx(e["time"],
                                                                             abs=0.001)
        for e in ledger)
    for e in ledger:  # each epoch time of the hashed content has its ISO copy, by path
        inside = [p.removeprefix("content.")
                  for p in epoch_numbers(e["content"], "content", EPOCHS)]
        assert sorted(inside) == sorted(e["content_times"]), e["kind"]
    signature = next(e for e in ledger if e["kind"] == "signature")
    assert dt.datetime.fromisoformat(signature["content_times"]["signed_at"]).timestamp() \
        == pytest.approx(signature["content"]["signed_at"], abs=0.001)
    assert signature["time_iso"] == "2026-05-13T00:31:00.000+08:00"  # signed at 00:31 local


def _first_sse(http: httpx.Client) -> list[Any]:
    """The alarm stream's events from the start (``Last-Event-ID: 0``), as JSON."""
    out: list[Any] = []
    with http.stream("GET", "/api/v1/alarms/stream", headers={"Last-Event-ID": "0"}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if len(out) == 2:
                    break
    assert [e["event"] for e in out] == ["raised", "shelved"]
    return out
