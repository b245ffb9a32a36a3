"""``/api/v1/points`` judges each value against the catalogue's limits and the alarm set-points;
``/api/v1/alarms`` says where an alarm is and what it measures. Expected figures are computed
here from the catalogue file and GBZ/T 223-2009's rules, not taken from the code under test."""

from __future__ import annotations

import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import yaml

from api.app import create_app
from ingest.records import Event
from ingest.store import SqliteStore
from occmon.model import Quality, Reading
from tests.api.serve import serve
from tests.records.support import OFFICER_KEY, site_config, site_doc


def catalogue_row(agent: str) -> dict[str, Any]:
    doc = yaml.safe_load(files("thresholds").joinpath("catalogue.yaml").read_text("utf-8"))
    rows = [r for r in doc["agents"] if r["id"] == agent]
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


def reading(point: str, agent: str, value: float, at: float, sensor: str,
            device: str) -> Reading:
    return Reading(point=point, agent=agent, time=at, value=value, unit="mg/m3",
                   quality=Quality.GOOD, sensor=sensor, device=device)


def points(tmp_path: Path, doc: dict[str, Any], h2s: float) -> dict[str, dict[str, Any]]:
    config = site_config(tmp_path, doc)
    now = time.time()
    store = SqliteStore(config.store.path)
    try:
        store.write_readings([reading("pump-h2s", "h2s", h2s, now - 2, "g1", "gas-1"),
                              reading("mill-dust", "cement-dust", 3.0, now - 2, "d1", "dust-1")])
    finally:
        store.close()
    with serve(create_app(config, config.store.path)) as url:
        answer = httpx.get(url + "/api/v1/points", headers={"X-API-Key": OFFICER_KEY})
    assert answer.status_code == 200, answer.text
    return {p["id"]: p for p in answer.json()}


def test_h2s_limits_and_setpoints_against_the_catalogue(tmp_path: Path) -> None:
    row = catalogue_row("h2s")
    mac = float(row["mac"])  # 10 mg/m3 in GBZ 2.1-2019 Table 1
    assert mac == 10.0 and row["source"]["standard"] == "GBZ 2.1-2019"
    got = points(tmp_path, site_doc(tmp_path), h2s=1.2 * mac)
    q = got["pump-h2s"]["quantities"][0]
    (limit,) = q["limits"]  # H2S has a MAC only: no PC-TWA, no PC-STEL
    assert (limit["kind"], limit["value"], limit["unit"]) == ("MAC", mac, "mg/m3")
    assert "GBZ 2.1-2019" in limit["source"] and "硫化氢" in limit["source"]
    assert limit["edition"] == str(row["source"]["edition"])
    sp = q["setpoints"]  # GBZ/T 223-2009: pre-alarm 1/2 MAC, alarm MAC, high 2 x alarm
    assert (sp["pre_alarm"], sp["alarm"], sp["high_alarm"]) == (mac / 2, mac, 2 * mac)
    assert sp["profile"] == "GBZ/T 223" and "MAC" in sp["derivation"]["alarm"]
    assert q["level"] == "alarm"  # 12 mg/m3: at or over the 10 alarm, under the 20 high
    today = got["pump-h2s"]["today"]
    assert today["provisional"] is True and today["verdict"] == "超标"  # 12 > MAC 10
    dust = got["mill-dust"]["quantities"][0]
    twa = float(catalogue_row("cement-dust")["pc_twa_total"])  # the point measures total dust
    assert [(lim["kind"], lim["value"]) for lim in dust["limits"]] == [
        ("PC-TWA (total dust)", twa)]
    # PC-TWA only: GBZ 2.1-2019's peak threshold 3 x PC-TWA as alarm, half of it pre-alarm
    dsp = dust["setpoints"]
    assert (dsp["pre_alarm"], dsp["alarm"]) == (1.5 * twa, 3 * twa)
    assert dust["level"] == "normal"  # 3.0 mg/m3 < 1.5 x 4


def test_site_override_and_the_levels_it_gives(tmp_path: Path) -> None:
    doc = site_doc(tmp_path)
    doc["alarms"] = {"points": [{"point": "pump-h2s", "pre_alarm": 3.0}]}
    q = points(tmp_path, doc, h2s=4.0)["pump-h2s"]["quantities"][0]
    assert q["setpoints"]["pre_alarm"] == 3.0 and q["setpoints"]["alarm"] == 10.0
    assert "override" in q["setpoints"]["derivation"]["pre_alarm"]
    assert q["level"] == "pre-alarm"  # 4 >= the site's 3, < 10


def test_alarms_carry_point_name_area_and_agent(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    store = SqliteStore(config.store.path)
    now = time.time()
    body = {"v": 1, "site": "plant-a", "id": "1795486046206-000000003", "event": "raised",
            "alarm_id": "pump-h2s:process", "point": "pump-h2s", "kind": "process",
            "level": "alarm", "value": 12.76, "setpoint": 10.0, "unit": "mg/m3", "time": now,
            "state": "active-unacknowledged", "occurrence": 1, "cause": "test"}
    try:
        store.write_events([Event("alarm", now, body, "plant-a")])
    finally:
        store.close()
    with serve(create_app(config, config.store.path)) as url:
        listed = httpx.get(url + "/api/v1/alarms", headers={"X-API-Key": OFFICER_KEY}).json()
        one = httpx.get(url + "/api/v1/alarms/pump-h2s:process",
                        headers={"X-API-Key": OFFICER_KEY}).json()
        schema = httpx.get(url + "/openapi.json").json()
    (alarm,) = listed
    assert alarm["point_name"] == {"zh": "泵房硫化氢", "en": "Pump house H2S"}
    assert alarm["area"] == "desulf" and alarm["area_name"]["zh"] == "脱硫工段"
    assert alarm["agent"] == "h2s" and alarm["agent_name"]["zh"] == "硫化氢"
    assert alarm["source"] == "point" and one["alarm"]["agent"] == "h2s"
    models = schema["components"]["schemas"]
    for name, fields in (("AlarmOut", ("point_name", "area", "agent")),
                         ("LatestReading", ("limits", "setpoints", "level")),
                         ("PointOut", ("today", "personal")), ("LimitOut", ("source",))):
        assert set(fields) <= set(models[name]["properties"]), name
