"""A held event loop is seen: the gateway's heartbeat says how late its alarm tick ran.

Everything on the gateway's loop (polls, the alarm engine, the interlock, the queue) waits
while something holds it: a write to a stalled disk, a starved CPU, a blocking call. Before,
nothing said so; a p99 of 360 ms in one bench run (docs/benchmarks.md, session 19) left no
trace. Now the worst lateness of each heartbeat interval is the figure ``loop_late_max_s``
(in ``/healthz`` under the gateway), and a tick a second late or more is logged and counted.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from tests.health.rig import doc, system
from tests.health.test_loud_failures import health
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server


def _late(url: str) -> float | None:
    status, body = health(url)
    gateway: dict[str, Any] = body.get("components", {}).get("gateway") or {}
    value = gateway.get("figures", {}).get("loop_late_max_s")
    return value if status == 200 and isinstance(value, float | int) else None


def test_a_held_loop_is_a_figure_of_the_heartbeat_and_a_logged_stall(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    with system(tmp_path, mosquitto, doc(tmp_path, mosquitto)) as rig:
        wait_for(lambda: _late(rig.url) is not None, 20, "the gateway's first figures")
        caplog.set_level(logging.WARNING, logger="gateway.safety.shell")
        before = rig.counters().get("safety.loop-stalls", 0)
        rig.loop.call(time.sleep, 1.5)  # a blocking call on the gateway's loop
        seen = wait_for(lambda: (v := _late(rig.url)) is not None and v >= 1.0 and v, 10,
                        "the stall in /healthz")
        assert 1.0 <= seen < 10
        # (>=: a busy test machine may add a stall of its own)
        assert rig.counters()["safety.loop-stalls"] >= before + 1
        logged = [r.getMessage() for r in caplog.records if "event loop ran" in r.getMessage()]
        assert logged and "alarms, the interlock and polls waited as long" in logged[0]
        # the figure is per heartbeat: once the loop runs freely, it is small again
        wait_for(lambda: (v := _late(rig.url)) is not None and v < 0.5, 20,
                 "the figure back to normal")
