"""Out of service and back, through the API, the broker and the gateway's alarm engine.

Every request goes over real HTTP to the API, as an MQTT command to the gateway's command
listener, and the state is read back from the store ingest writes (``GET /alarms/{id}``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.safety.rig import (
    ALARM_PPM,
    PROCESS,
    SITE,
    Rig,
    client,
    events_named,
    running,
    site_doc,
)
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

INSPECTOR_KEY = "safety-inspector-key"
OOS = f"/api/v1/alarms/{PROCESS}/out-of-service"
BACK = f"/api/v1/alarms/{PROCESS}/in-service"


def state_of(api: httpx.Client, alarm_id: str) -> str | None:
    """The alarm's state as the API reports it (None before anything was recorded)."""
    answer = api.get(f"/api/v1/alarms/{alarm_id}")
    return str(answer.json()["alarm"]["state"]) if answer.status_code == 200 else None


def settles_at(api: httpx.Client, alarm_id: str, state: str) -> None:
    wait_for(lambda: state_of(api, alarm_id) == state, 15, f"{alarm_id} {state} in the API")


def commands_seen(rig: Rig) -> dict[str, int]:
    """The gateway's command counters: ok, and errors by code."""
    return {k: v for k, v in rig.counters().items() if k.startswith("safety.commands.")}


def test_out_of_service_and_back_while_normal(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        api = rig.api
        out = api.post(OOS, json={"user": "wang", "reason": "detector off for repair"})
        assert out.status_code == 200, out.text
        assert [(e["event"], e["state"]) for e in out.json()["events"]] == [
            ("out-of-service", "out-of-service")]
        assert out.json()["events"][0]["user"] == "wang"
        settles_at(api, PROCESS, "out-of-service")
        detail = api.get(f"/api/v1/alarms/{PROCESS}").json()
        recorded = detail["events"][0]
        assert recorded["event"] == "out-of-service" and recorded["user"] == "wang"
        assert recorded["body"]["reason"] == "detector off for repair"
        assert "detector off for repair" in detail["alarm"]["cause"]
        # the operator's list shows it (not normal), and it can be filtered on
        listed = api.get("/api/v1/alarms", params={"state": "out-of-service"}).json()
        assert [a["alarm_id"] for a in listed] == [PROCESS]

        back = api.post(BACK, json={"user": "wang", "reason": "detector refitted"})
        assert back.status_code == 200, back.text
        # nothing present while it was out: back to normal, not raised again
        assert [(e["event"], e["state"]) for e in back.json()["events"]] == [
            ("in-service", "normal")]
        settles_at(api, PROCESS, "normal")
        history = api.get("/api/v1/alarms/history", params={"alarm_id": PROCESS}).json()
        assert [e["event"] for e in history["events"]] == ["in-service", "out-of-service"]
        assert history["events"][0]["body"]["reason"] == "detector refitted"
        assert commands_seen(rig) == {"safety.commands.ok": 2}


def test_out_of_service_while_active_is_silent_and_returns_raised(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with running(tmp_path, mosquitto) as rig:
        api = rig.api
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        wait_for(lambda: events_named(rig.alarm_events(PROCESS), "raised"), 15, "the alarm")
        wait_for(lambda: rig.fan_commanded("fan-1"), 10, "the fan started")

        out = api.post(OOS, json={"user": "wang", "reason": "known leak, repair crew on it"})
        assert out.status_code == 200, out.text
        settles_at(api, PROCESS, "out-of-service")
        # out of service silences the alarm, not the interlock: the fan keeps running
        assert rig.fan_commanded("fan-1")
        # no operator command but "return to service" applies now: 409 with the engine's code
        for path, body in ((OOS, {"user": "li", "reason": "again"}),
                           (f"/api/v1/alarms/{PROCESS}/acknowledge", {"user": "li"})):
            refused = api.post(path, json=body)
            assert refused.status_code == 409, (path, refused.text)
            assert refused.json()["detail"]["code"] == "out-of-service"
            assert PROCESS in refused.json()["detail"]["message"]

        back = api.post(BACK, json={"user": "wang"})  # the note is optional
        assert back.status_code == 200, back.text
        # the condition is still present: returned and raised again, to be acknowledged
        events = back.json()["events"]
        assert [e["event"] for e in events] == ["in-service", "raised"]
        assert events[-1]["state"] == "active-unacknowledged"
        assert events[-1]["occurrence"] == 2
        settles_at(api, PROCESS, "active-unacknowledged")
        assert api.post(f"/api/v1/alarms/{PROCESS}/acknowledge",
                        json={"user": "li"}).status_code == 200
        assert commands_seen(rig) == {"safety.commands.ok": 3,
                                      "safety.commands.error.out-of-service": 2}


def test_refusals(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """404 unknown alarm, 409 in service already, 422 without who or why, 403 for roles
    that may not: the last two never reach the gateway."""
    doc = site_doc(tmp_path, mosquitto.port)
    doc["auth"]["keys"].append({"name": "inspector", "role": "inspector", "sites": [SITE],
                                "sha256": hashlib.sha256(INSPECTOR_KEY.encode()).hexdigest()})
    with running(tmp_path, mosquitto, doc=doc) as rig, \
            client(rig.url, INSPECTOR_KEY) as inspector:
        api = rig.api
        for suffix, body in (("out-of-service", {"user": "li", "reason": "x"}),
                             ("in-service", {"user": "li"})):
            unknown = api.post(f"/api/v1/alarms/nope:process/{suffix}", json=body)
            assert unknown.status_code == 404, unknown.text
            assert unknown.json()["detail"]["code"] == "unknown-alarm"
            assert "nope:process" in unknown.json()["detail"]["message"]

        in_service = api.post(BACK, json={"user": "li", "reason": "it is in service"})
        assert in_service.status_code == 409, in_service.text
        assert in_service.json()["detail"]["code"] == "in-service"

        reached = commands_seen(rig)
        assert reached == {"safety.commands.error.unknown-alarm": 2,
                           "safety.commands.error.in-service": 1}
        missing: list[tuple[str, dict[str, Any], str]] = [
            (OOS, {"user": "li"}, "reason"),
            (OOS, {"reason": "repair"}, "user"),
            (OOS, {"user": "li", "reason": ""}, "reason"),
            (OOS, {"user": "li", "reason": "   "}, "reason"),
            (OOS, {"user": " ", "reason": "repair"}, "user"),
            (BACK, {"reason": "refitted"}, "user"),
            (BACK, {}, "user"),
        ]
        for path, body, field in missing:
            answer = api.post(path, json=body)
            assert answer.status_code == 422, (path, body, answer.text)
            assert [e["loc"][-1] for e in answer.json()["detail"]["errors"]] == [field], \
                answer.text

        good = {"user": "li", "reason": "repair"}
        for who, name in ((rig.staff, "staff"), (inspector, "inspector")):
            for path in (OOS, BACK):
                refused = who.post(path, json=good)
                assert refused.status_code == 403, (name, path, refused.text)
                assert f"key {name!r}" in refused.json()["detail"]["message"]
        # refused before the gateway: it saw nothing more, and the alarm never left service
        assert commands_seen(rig) == reached
        assert state_of(api, PROCESS) is None
        assert rig.alarm_events(PROCESS) == []
        log = api.get("/api/v1/access-log").json()["entries"]
        assert sorted((e["path"], e["decision"]) for e in log if e["key"] == "inspector") == [
            (BACK, "refused"), (OOS, "refused")]
