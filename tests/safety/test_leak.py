"""The H2S leak end to end: simulators -> gateway (alarms, interlock) -> broker -> ingest ->
store -> API, with the annunciator push and the live alarm stream."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.safety.rig import (
    FAILURE,
    KEY,
    PROCESS,
    annunciations,
    events_named,
    running,
)
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server


def _stream(url: str, got: list[dict[str, Any]], stop: threading.Event) -> None:
    """A live console: reads the SSE stream until told to stop (or the server goes)."""
    try:
        with httpx.Client(base_url=url, timeout=60, headers={"X-API-Key": KEY}) as http, \
                http.stream(
                "GET", "/api/v1/alarms/stream") as response:
            got.append({"content-type": response.headers["content-type"]})
            for line in response.iter_lines():
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                if stop.is_set():
                    return
    except httpx.HTTPError:
        return  # the server stopped at the end of the test


def test_h2s_leak_alarm_ventilation_latch_and_hold(tmp_path: Path, mosquitto: Mosquitto) -> None:
    stop_annunciator, pushed = annunciations(mosquitto)
    with running(tmp_path, mosquitto, scenario="h2s-leak", speed=60, initial={}) as rig:
        streamed: list[dict[str, Any]] = []
        stop = threading.Event()
        reader = threading.Thread(target=_stream, args=(rig.url, streamed, stop), daemon=True)
        reader.start()
        # pre-alarm, then alarm: the interlock writes the coil and sees the feedback
        wait_for(lambda: events_named(rig.alarm_events(PROCESS), "escalated"), 40,
                 "the alarm level")
        wait_for(lambda: rig.fan_running("fan-1"), 10, "fan-1 running")
        wait_for(lambda: [r for r in rig.ventilation_log() if r.event == "confirmed"], 10,
                 "the running feedback")
        # the fan vents the room: the alarm clears but stays latched until acknowledged
        cleared = wait_for(lambda: events_named(rig.alarm_events(PROCESS), "cleared"), 60,
                           "the alarm to clear")
        assert cleared[-1].state == "cleared-unacknowledged"
        rig.call(rig.plant.set_value, "gp1-h2s", 0.3)  # the leak is repaired
        active = rig.api.get("/api/v1/alarms").json()
        assert [a["state"] for a in active if a["alarm_id"] == PROCESS] == [
            "cleared-unacknowledged"]
        # ventilation stops only after the hold time
        stopped = wait_for(lambda: [r for r in rig.ventilation_log() if r.event == "stopped"],
                           30, "ventilation to stop")
        hold = [r for r in rig.ventilation_log() if r.event == "hold-started"][-1]
        assert stopped[-1].time - hold.time >= 3.0 - 0.05
        wait_for(lambda: not rig.fan_commanded("fan-1"), 10, "the run coil off")
        # acknowledge: back to normal, off the active list
        # staff may acknowledge (API key roles)
        answer = rig.staff.post(f"/api/v1/alarms/{PROCESS}/acknowledge",
                                json={"user": "li.wei", "comment": "fan cleared it"})
        assert answer.status_code == 200, answer.text
        assert [e["event"] for e in answer.json()["events"]] == ["acknowledged", "returned"]
        wait_for(lambda: events_named(rig.alarm_events(PROCESS), "returned"), 10, "returned")
        active = rig.api.get("/api/v1/alarms").json()
        assert PROCESS not in [a["alarm_id"] for a in active]
        wait_for(lambda: any(e.get("event") == "returned" for e in streamed), 10,
                 "the SSE event")
        assert streamed[0]["content-type"].startswith("text/event-stream")
        stop.set()

        # the record, in order
        names = [(r.event, r.level) for r in rig.alarm_events(PROCESS)]
        assert names[:2] == [("raised", "pre_alarm"), ("escalated", "alarm")]
        assert names[-2:] == [("acknowledged", names[-2][1]), ("returned", names[-1][1])]
        assert names.index(("escalated", "alarm")) < [n[0] for n in names].index("cleared")
        log = [r.event for r in rig.ventilation_log() if r.unit == "desulf-exhaust"]
        for earlier, later in [("started", "confirmed"), ("confirmed", "hold-started"),
                               ("hold-started", "stopped")]:
            assert log.index(earlier) < log.index(later), log
        assert not rig.alarm_events(FAILURE)  # the fan answered in time
        times = [r.time for r in rig.alarm_events(PROCESS)]
        assert times == sorted(times)
        # pushed to people: the annunciator got the raise, the delivery log says sent
        assert any(a["alarm_id"] == PROCESS for p in pushed for a in p["alarms"])
        with rig.reader() as reader:
            sent = [d for d in reader.alarms().deliveries() if d.status == "sent"]
        assert sent and sent[0].kind == "mqtt"
    stop_annunciator()
