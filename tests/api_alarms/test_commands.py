"""Alarm and ventilation endpoints against a running gateway: commands and their errors."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from occmon.config import load
from occmon.model import iso_utc
from tests.api.serve import serve
from tests.safety.rig import (
    ALARM_PPM,
    KEY,
    PROCESS,
    events_named,
    running,
    site_doc,
    write_config,
)
from tests.servers import Mosquitto, free_port, wait_for

pytestmark = pytest.mark.server


def test_commands_and_their_errors(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        api = rig.api
        # unknown alarm id: 404 with the gateway's code
        answer = api.post("/api/v1/alarms/nope:process/acknowledge", json={"user": "li"})
        assert answer.status_code == 404
        assert answer.json()["detail"]["code"] == "unknown-alarm"
        assert "nope:process" in answer.json()["detail"]["message"]
        assert api.get("/api/v1/alarms/nope:process").status_code == 404

        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        wait_for(lambda: events_named(rig.alarm_events(PROCESS), "raised"), 15, "the alarm")
        # acknowledging twice: the second is a conflict, and changes nothing
        first = api.post(f"/api/v1/alarms/{PROCESS}/acknowledge",
                         json={"user": "li", "comment": "on it"})
        assert first.status_code == 200, first.text
        assert first.json()["events"][0]["event"] == "acknowledged"
        second = api.post(f"/api/v1/alarms/{PROCESS}/acknowledge", json={"user": "li"})
        assert second.status_code == 409
        assert second.json()["detail"]["code"] == "already-acknowledged"
        # shelving needs an expiry: absent (schema) or not in the future (gateway) -> 422
        missing = api.post(f"/api/v1/alarms/{PROCESS}/shelve",
                           json={"user": "li", "reason": "maintenance"})
        assert missing.status_code == 422
        assert "until" in missing.text
        past = api.post(f"/api/v1/alarms/{PROCESS}/shelve",
                        json={"user": "li", "reason": "work", "until": iso_utc(time.time() - 60)})
        assert past.status_code == 422
        assert past.json()["detail"]["code"] == "shelve-needs-expiry"
        # a shelve with an expiry works, and shelving does not stop the fan
        ok = api.post(f"/api/v1/alarms/{PROCESS}/shelve",
                      json={"user": "li", "reason": "work", "until": iso_utc(time.time() + 600)})
        assert ok.status_code == 200, ok.text
        assert rig.fan_commanded("fan-1")
        assert api.post(f"/api/v1/alarms/{PROCESS}/unshelve",
                        json={"user": "li"}).status_code == 200
        # resolving an active alarm is a conflict; an unknown reason code is a 422
        active = api.post(f"/api/v1/alarms/{PROCESS}/resolve",
                          json={"user": "li", "reason_code": "real-release"})
        assert active.status_code == 409
        assert active.json()["detail"]["code"] == "still-active"
        assert api.post(f"/api/v1/alarms/{PROCESS}/resolve",
                        json={"user": "li", "reason_code": "bored"}).status_code == 422

        # manual override: who and why, logged; unknown unit 404; forced off is logged
        assert api.post("/api/v1/ventilation/desulf-exhaust/override",
                        json={"mode": "off", "user": "li"}).status_code == 422
        assert api.post("/api/v1/ventilation/nope/override",
                        json={"mode": "off", "user": "li", "reason": "x"}).status_code == 404
        off = api.post("/api/v1/ventilation/desulf-exhaust/override",
                       json={"mode": "off", "user": "wang", "reason": "belt guard open"})
        assert off.status_code == 200, off.text
        assert "inhibited" in [e["event"] for e in off.json()["events"]]
        wait_for(lambda: not rig.fan_commanded("fan-1"), 10, "the forced stop")
        auto = api.post("/api/v1/ventilation/desulf-exhaust/override",
                        json={"mode": "auto", "user": "wang", "reason": "guard closed"})
        assert auto.status_code == 200
        wait_for(lambda: rig.fan_commanded("fan-1"), 10, "the interlock back in charge")
        again = api.post("/api/v1/ventilation/desulf-exhaust/override",
                         json={"mode": "auto", "user": "wang", "reason": "again"})
        assert again.status_code == 409

        # the record of it all
        wait_for(lambda: any(r.event == "override" for r in rig.ventilation_log()), 10, "log")
        log = api.get("/api/v1/ventilation/log", params={"unit": "desulf-exhaust"}).json()
        overrides = [e for e in log if e["event"] == "override"]
        assert [o["body"]["user"] for o in overrides] == ["wang", "wang"]
        history = api.get("/api/v1/alarms/history", params={"alarm_id": PROCESS,
                                                             "limit": 2}).json()
        assert len(history["events"]) == 2 and history["next"]
        older = api.get("/api/v1/alarms/history", params={
            "alarm_id": PROCESS, "cursor": history["next"]}).json()
        ids = [e["event_id"] for e in history["events"] + older["events"]]
        assert ids == sorted(ids, reverse=True)
        assert "acknowledged" in [e["event"] for e in older["events"] + history["events"]]
        # the interlock kept running through all the refused commands
        assert rig.counters()["safety.commands.error.already-acknowledged"] == 1


def test_gateway_unreachable_is_a_503_with_a_clear_message(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, site_doc(tmp_path, free_port())))
    app = create_app(config, config.store.path)
    with serve(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": KEY},
                                         timeout=15) as api:
        answer = api.post(f"/api/v1/alarms/{PROCESS}/acknowledge", json={"user": "li"})
        assert answer.status_code == 503
        assert answer.json()["detail"]["code"] == "gateway-unreachable"
        assert "nothing was changed" in answer.json()["detail"]["message"]
        assert api.get("/api/v1/alarms").json() == []  # reads still work from the store
    app.state.gateway_commands.stop()


def test_gateway_silent_is_a_503(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A broker but no gateway: the API waits its bounded time and says so."""
    config = load(write_config(tmp_path, site_doc(tmp_path, mosquitto.port)))
    app = create_app(config, config.store.path)
    with serve(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": KEY},
                                         timeout=15) as api:
        answer = api.post("/api/v1/ventilation/desulf-exhaust/reset", json={"user": "li"})
        assert answer.status_code == 503
        assert "did not answer" in answer.json()["detail"]["message"]
    app.state.gateway_commands.stop()
