"""The gateway killed (SIGKILL: no flush, no goodbye) mid-alarm and started again as its own
process: the API's alarm list equals the gateway's retained ``state/{point}`` snapshots, and
every listed alarm can be acknowledged.

The gateway runs as ``python -m occmon.cli gateway`` (the multi-process deployment); the
simulators, Mosquitto, ingest and the API are the safety rig's (tests/safety/rig.py).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from occmon import topics
from tests.safety.rig import (
    FAILURE,
    PPM,
    PROCESS,
    SITE,
    Rig,
    events_named,
    gateway_process,
    running,
    subscribed,
)
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

LEAK_MG = 49.8  # mg/m3 H2S, 5 x MAC


class States:
    """The retained ``state/#`` documents, as a late subscriber (or ingest) gets them."""

    def __init__(self, broker: Mosquitto) -> None:
        self.stop, self._got = subscribed(broker, topics.point_state(SITE, "+"))

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        """The latest document of each point."""
        return {doc["point"]: doc for doc in list(self._got)}

    def open_alarms(self) -> set[tuple[str, str]]:
        return {(a["alarm_id"], a["state"]) for d in self.docs.values()
                for a in d["alarms"] if a["state"] != "normal"}


def listed(rig: Rig) -> set[tuple[str, str]]:
    return {(a["alarm_id"], a["state"]) for a in rig.api.get("/api/v1/alarms").json()}


def test_gateway_killed_mid_alarm_list_equals_its_retained_state(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        rig.loop.run(rig.gateway.stop())  # the gateway runs as its own process from here
        config = tmp_path / "gateway.yaml"
        states = States(mosquitto)
        try:
            with gateway_process(config, tmp_path / "gateway-1.log") as first:
                rig.call(rig.plant.set_fault, "fan-1", True)
                rig.call(rig.plant.set_value, "gp1-h2s", LEAK_MG / PPM)
                wait_for(lambda: events_named(rig.alarm_events(FAILURE), "raised"), 40,
                         "the ventilation-failure alarm")
                rig.call(rig.plant.set_fault, "fan-1", False)  # repaired: latched
                wait_for(lambda: (FAILURE, "cleared-unacknowledged") in listed(rig), 20,
                         "the latched failure alarm")
                wait_for(lambda: (PROCESS, "active-unacknowledged") in listed(rig), 20,
                         "the gas alarm")
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            restarted = time.time()
            with gateway_process(config, tmp_path / "gateway-2.log"):
                def agreed() -> set[tuple[str, str]] | None:
                    truth = states.open_alarms()
                    fresh = states.docs and all(d["time"] >= restarted
                                                for d in states.docs.values())
                    ok = fresh and (PROCESS, "active-unacknowledged") in truth
                    return truth if ok and listed(rig) == truth else None

                truth = wait_for(agreed, 40, "the API's list to equal the retained states")
                assert FAILURE not in {alarm for alarm, _ in truth}
                closed = rig.alarm_events(FAILURE)[-1]
                assert (closed.event, closed.body["reason"]) == ("closed", "gateway-restarted")
                for alarm in rig.api.get("/api/v1/alarms").json():
                    answer = rig.api.post(f"/api/v1/alarms/{alarm['alarm_id']}/acknowledge",
                                          json={"user": "wang", "comment": "after the kill"})
                    assert answer.status_code == 200, (alarm["alarm_id"], answer.text)
        finally:
            states.stop()
