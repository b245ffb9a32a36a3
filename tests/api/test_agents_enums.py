"""One id per agent everywhere, agent filters by any name, and enums that refuse strangers
(real HTTP over the records tests' plant A, readings stored through ingest's handler).

- every ``agent`` filter takes the catalogue id, the CAS number, the Chinese or the English
  name and answers the same; anything else is a 422 naming ``agent`` and the value;
- a point whose site file writes its agent as a CAS number answers the catalogue id, and a
  reading published with that spelling is stored and answered under the catalogue id;
- an enum-like query parameter (state, event, quantity, type, status, format, lang) refuses
  an unknown value with a 422 naming it.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import thresholds
from api.alarm_models import AlarmEventName, AlarmStateName
from api.app import create_app
from gateway.alarms import actions
from ingest.handler import handle
from ingest.store import SqliteStore
from ingest.validate import Validator
from occmon import topics
from occmon.model import iso_utc
from occmon.quantities import QUANTITIES
from tests.api.records_site import records_site
from tests.api.serve import serve
from tests.records.support import DAY, OFFICER_KEY, local, site_config, site_doc

H2S = thresholds.lookup("h2s")
DUST = thresholds.lookup("cement-dust")


def names(agent: thresholds.Agent) -> list[str]:
    """The four ways a person names an agent."""
    assert agent.cas, f"{agent.id} has a CAS number in the catalogue"
    return [agent.id, agent.cas, agent.zh, agent.en]


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with records_site(tmp_path_factory.mktemp("plant")) as site, httpx.Client(
            base_url=site.url, headers={"X-API-Key": OFFICER_KEY}, timeout=30) as client:
        yield client


def record_keys(http: httpx.Client, agent: str) -> list[tuple[str, str]]:
    r = http.get("/api/v1/daily-records", params={"start": DAY.isoformat(), "agent": agent})
    assert r.status_code == 200, r.text
    rows = r.json()["records"]
    return sorted((row["point"], row.get("shift") or "") for row in rows)


@pytest.mark.parametrize("agent", [H2S, DUST], ids=lambda a: a.id)
def test_daily_records_agent_filter_by_id_cas_zh_en(http: httpx.Client,
                                                    agent: thresholds.Agent) -> None:
    point = "pump-h2s" if agent is H2S else "mill-dust"
    answers = {name: record_keys(http, name) for name in names(agent)}
    by_id = answers[agent.id]
    assert by_id and {p for p, _ in by_id} == {point}
    assert answers == {name: by_id for name in answers}


def test_exceedances_agent_filter_by_id_cas_zh_en(http: httpx.Client) -> None:
    def ids(agent: str) -> list[str]:
        r = http.get("/api/v1/exceedances", params={"agent": agent})
        assert r.status_code == 200, r.text
        return sorted(e["id"] for e in r.json()["items"])

    dust = {name: ids(name) for name in names(DUST)}
    assert dust[DUST.id], "plant A's dust surge is an exceedance"
    assert dust == {name: dust[DUST.id] for name in dust}
    assert {name: ids(name) for name in names(H2S)} == {name: [] for name in names(H2S)}


@pytest.mark.parametrize("path", ["/api/v1/daily-records", "/api/v1/exceedances"])
def test_unknown_agent_is_a_422_naming_the_value(http: httpx.Client, path: str) -> None:
    day = {"start": DAY.isoformat()} if path.endswith("daily-records") else {}
    r = http.get(path, params={**day, "agent": "hydrogen sulfid"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["parameter"] == "agent"
    assert "'hydrogen sulfid'" in detail["message"] and "h2s" in detail["message"]


BAD_ENUMS = [
    ("/api/v1/alarms", {"state": "panic"}, "state"),
    ("/api/v1/alarms/history", {"event": "exploded"}, "event"),
    ("/api/v1/points/mill-dust/readings", {"start": f"{DAY}T00:00:00+08:00",
                                           "end": f"{DAY}T01:00:00+08:00",
                                           "quantity": "humidity"}, "quantity"),
    ("/api/v1/exceedances", {"type": "ceiling"}, "type"),
    ("/api/v1/exceedances", {"status": "forgotten"}, "status"),
    ("/api/v1/exceedances", {"format": "xml"}, "format"),
    ("/api/v1/daily-records", {"start": DAY.isoformat(), "lang": "fr"}, "lang"),
    ("/api/v1/daily-records/report", {"day": DAY.isoformat(), "format": "docx"}, "format"),
]


@pytest.mark.parametrize(("path", "params", "parameter"), BAD_ENUMS,
                         ids=[f"{p}:{n}" for p, _, n in BAD_ENUMS])
def test_an_unknown_enum_value_is_a_422_naming_it(http: httpx.Client, path: str,
                                                  params: dict[str, str],
                                                  parameter: str) -> None:
    r = http.get(path, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["parameter"] == parameter


def test_known_enum_values_are_answered(http: httpx.Client) -> None:
    for state in (*typing.get_args(AlarmStateName), "all"):
        assert http.get("/api/v1/alarms", params={"state": state}).status_code == 200, state
    for event in typing.get_args(AlarmEventName):
        r = http.get("/api/v1/alarms/history", params={"event": event})
        assert r.status_code == 200, event


def test_the_api_enums_are_the_gateways_and_the_quantities() -> None:
    """The API does not import the gateway; its written-out lists must not drift from it."""
    assert set(typing.get_args(AlarmStateName)) == {s.value for s in actions.AlarmState}
    emitted = {c.name for c in vars(actions).values()
               if isinstance(c, type) and issubclass(c, actions.AlarmEvent)
               and c is not actions.AlarmEvent}
    assert set(typing.get_args(AlarmEventName)) == emitted | {"closed"}  # closed: ingest's


def test_the_schema_lists_every_enum(http: httpx.Client) -> None:
    """The readings' quantity is checked in the handler (its 422 names the value) and listed
    in the schema like the typed ones, so clients and schemathesis see the choices."""
    paths = http.get("/openapi.json").json()["paths"]

    def choices(path: str, name: str) -> set[str]:
        (param,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == name]
        schema = param["schema"]
        found = set(schema.get("enum", []))
        for option in schema.get("anyOf", []):
            found |= set(option.get("enum", []))
        return found

    assert choices("/api/v1/points/{point_id}/readings", "quantity") == set(QUANTITIES)
    assert choices("/api/v1/alarms", "state") == {*typing.get_args(AlarmStateName), "all"}
    assert choices("/api/v1/alarms/history", "event") == set(typing.get_args(AlarmEventName))


def test_an_agent_written_as_its_cas_is_answered_and_stored_as_the_catalogue_id(
        tmp_path: Path) -> None:
    doc = site_doc(tmp_path)
    (pump,) = [p for p in doc["points"] if p["id"] == "pump-h2s"]
    pump["agent"] = H2S.cas  # the site file's spelling
    config = site_config(tmp_path, doc)
    check = Validator.from_config(config)
    at = local(DAY, 9)
    payload = json.dumps({"v": 1, "site": "plant-a", "readings": [
        {"point": "pump-h2s", "agent": H2S.cas, "time": iso_utc(at), "value": 2.5,
         "unit": "mg/m3", "quality": "good", "quantity": "concentration",
         "sensor": "g1", "device": "gas-1"}]}).encode()
    outcome = handle(check, topics.readings("plant-a"), payload, at + 1)
    assert [r.agent for r in outcome.readings] == ["h2s"]
    store = SqliteStore(config.store.path)
    try:
        store.write_readings(outcome.readings, received=at + 1)
    finally:
        store.close()
    app = create_app(config, config.store.path)
    with serve(app) as url, httpx.Client(base_url=url,
                                         headers={"X-API-Key": OFFICER_KEY}) as client:
        points: list[dict[str, Any]] = client.get("/api/v1/points").json()
        one = client.get("/api/v1/points/pump-h2s").json()
        readings = client.get("/api/v1/points/pump-h2s/readings", params={
            "start": iso_utc(at - 60), "end": iso_utc(at + 60)}).json()["readings"]
    assert {p["id"]: p["agent"] for p in points} == {"pump-h2s": "h2s",
                                                     "mill-dust": "cement-dust"}
    assert one["agent"] == "h2s"
    assert [(r["agent"], r["value"]) for r in readings] == [("h2s", 2.5)]
