"""The gateway as its own process on either event loop (occmon/eventloop.py): on uvloop (the
default where it is installed) and on asyncio's (``gateway.event_loop: asyncio``) it polls,
raises the leak alarm and starts the accident fans, and its heartbeat says which loop it is.

The gateway runs as ``python -m occmon.cli gateway`` (the multi-process deployment); the
simulators, Mosquitto, ingest and the API are the safety rig's (tests/safety/rig.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from occmon import topics
from tests.safety.rig import (
    PPM,
    PROCESS,
    SITE,
    events_named,
    gateway_process,
    running,
    subscribed,
)
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

LEAK_MG = 49.8  # mg/m3 H2S, 5 x MAC (GBZ 2.1-2019 Table 1: MAC 10 mg/m3)


def loop_reported(beats: list[dict[str, Any]]) -> str | None:
    """The ``event_loop`` figure of the latest heartbeat that has one."""
    for doc in reversed(list(beats)):
        loop = doc.get("figures", {}).get("event_loop")
        if loop is not None:
            return str(loop)
    return None


@pytest.mark.parametrize(("choice", "expected"), [("auto", "uvloop"), ("asyncio", "asyncio")])
def test_the_gateway_process_raises_the_leak_and_starts_the_fans_on_either_loop(
        tmp_path: Path, mosquitto: Mosquitto, choice: str, expected: str) -> None:
    with running(tmp_path, mosquitto) as rig:
        rig.loop.run(rig.gateway.stop())  # the gateway runs as its own process from here
        config = tmp_path / "gateway.yaml"
        doc = yaml.safe_load(config.read_text(encoding="utf-8"))
        doc.setdefault("gateway", {})["event_loop"] = choice
        config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        stop, beats = subscribed(mosquitto, topics.component_status(SITE, "gateway"))
        log = tmp_path / "gateway.log"
        try:
            with gateway_process(config, log) as gateway:
                wait_for(lambda: loop_reported(beats) is not None or gateway.poll() is not None,
                         40, "the gateway's first heartbeat with figures")
                assert gateway.poll() is None, log.read_text(errors="replace")
                assert loop_reported(beats) == expected
                assert not rig.fan_commanded("fan-1")  # a quiet plant: no air demanded
                rig.call(rig.plant.set_value, "gp1-h2s", LEAK_MG / PPM)
                wait_for(lambda: events_named(rig.alarm_events(PROCESS), "raised"), 30,
                         "the leak alarm in the store")
                wait_for(lambda: rig.fan_commanded("fan-1") and rig.fan_running("fan-1"), 30,
                         "the accident fan started by the interlock")
                assert gateway.poll() is None
        finally:
            stop()
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text
