"""A quiet day: each ventilation unit's state is reported as the gateway starts.

Before, a unit had no log line until an alarm demanded air, so the API answered nulls and
the board said "no state reported" (无状态数据) for a unit that was simply idle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.safety.rig import running
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server


def test_a_quiet_unit_is_shown_idle_from_the_start(tmp_path: Path,
                                                   mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        units = wait_for(lambda: [u for u in rig.api.get("/api/v1/ventilation").json()
                                  if u["state"] is not None], 20, "the unit's state")
        unit = units[0]
        assert unit["unit"] == "desulf-exhaust"
        assert unit["state"] == "idle" and unit["demanded"] is False
        assert unit["ventilating"] is False and unit["failure"] is False
        assert unit["primary"] == "stopped" and unit["last_event"] == "unit-state"
        log = rig.ventilation_log()
        assert [r.event for r in log] == ["unit-state"]
        assert log[0].body["cause"] == "gateway started"
        assert log[0].body["priority"] == "log"  # a log line, never pushed
        board = rig.api.get("/board").text
        assert 'class="unit vent-idle" data-unit="desulf-exhaust"' in board
        assert "无状态数据" not in board
