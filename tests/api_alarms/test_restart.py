"""After a gateway restart the API's alarm list is the gateway's, and every listed alarm can be
acknowledged (never a 404 on a listed alarm).

Real simulators, Mosquitto, gateway, ingest and API over HTTP (tests/safety/rig.py); commands
are signed by the API with the rig's Ed25519 key. Mid-alarm the gateway is stopped and a new
one started on the same config and queue: its fresh engine no longer has the latched
ventilation-failure alarm (closed by ingest, reason ``gateway-restarted``) and raises the
gas alarm again because the leak is still there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from occmon.config import load
from tests.safety.rig import FAILURE, PPM, PROCESS, Rig, events_named, running
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

LEAK_MG = 49.8  # mg/m3 H2S, 5 x MAC: a high alarm


def listed(rig: Rig) -> set[tuple[str, str]]:
    return {(a["alarm_id"], a["state"]) for a in rig.api.get("/api/v1/alarms").json()}


def engine_view(rig: Rig, gateway: Gateway) -> set[tuple[str, str]]:
    """What the gateway's engine has open now (the truth the list must equal)."""
    return rig.call(lambda: {(a.alarm_id, str(a.state))
                             for a in gateway.safety.engine.active()})


def test_gateway_restart_mid_alarm_list_equals_engine_and_every_alarm_acknowledges(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        rig.call(rig.plant.set_fault, "fan-1", True)  # the duty fan will not start
        rig.call(rig.plant.set_value, "gp1-h2s", LEAK_MG / PPM)
        wait_for(lambda: events_named(rig.alarm_events(FAILURE), "raised"), 30,
                 "the ventilation-failure alarm")
        wait_for(lambda: any(r.level == "high_alarm" for r in rig.alarm_events(PROCESS)), 20,
                 "the high alarm")
        rig.call(rig.plant.set_fault, "fan-1", False)  # repaired: the failure clears, latched
        wait_for(lambda: (FAILURE, "cleared-unacknowledged") in listed(rig), 20,
                 "the latched failure alarm")
        ack = rig.api.post(f"/api/v1/alarms/{PROCESS}/acknowledge",
                           json={"user": "li", "comment": "evacuating"})
        assert ack.status_code == 200, ack.text
        wait_for(lambda: (PROCESS, "active-acknowledged") in listed(rig), 10, "the ack")
        before = listed(rig)
        assert before == engine_view(rig, rig.gateway)

        rig.loop.run(rig.gateway.stop())  # mid-alarm: the leak is still there
        restarted = rig.call(lambda: Gateway(load(tmp_path / "gateway.yaml"),
                                             tmp_path / "gateway.yaml",
                                             broker_host=rig.broker.host,
                                             broker_port=rig.broker.port))
        try:
            rig.loop.run(restarted.start())
            wait_for(lambda: (PROCESS, "active-unacknowledged") in engine_view(rig, restarted),
                     20, "the new engine to raise the gas alarm again")

            def agreed() -> set[tuple[str, str]] | None:
                truth = engine_view(rig, restarted)
                return truth if listed(rig) == truth else None

            truth = wait_for(agreed, 20, "the API's alarm list to equal the gateway's")
            assert (FAILURE, "cleared-unacknowledged") not in truth
            assert FAILURE not in {alarm for alarm, _ in truth}
            closed = rig.alarm_events(FAILURE)[-1]
            assert closed.event == "closed" and closed.state == "normal"
            assert closed.body["reason"] == "gateway-restarted"
            every = {a["alarm_id"]: a for a in rig.api.get("/api/v1/alarms",
                                                           params={"state": "all"}).json()}
            assert every[FAILURE]["reason"] == "gateway-restarted"
            # the acknowledged occurrence of the previous run was closed, then raised anew
            history = [r.event for r in rig.alarm_events(PROCESS)]
            assert "closed" in history and history[-1] in ("raised", "escalated")
            answers: dict[str, Any] = {}
            for alarm in rig.api.get("/api/v1/alarms").json():
                answer = rig.api.post(f"/api/v1/alarms/{alarm['alarm_id']}/acknowledge",
                                      json={"user": "wang", "comment": "after restart"})
                answers[alarm["alarm_id"]] = answer.status_code
                assert answer.status_code == 200, (alarm, answer.text)
            assert PROCESS in answers
            # the closed alarm is not listed, so there is nothing to 404 on
            assert FAILURE not in {a["alarm_id"] for a in rig.api.get("/api/v1/alarms").json()}
        finally:
            rig.loop.run(restarted.stop())
