"""A quiet day: each ventilation unit's state is reported as the gateway starts.

Before, a unit had no log line until an alarm demanded air, so the API answered nulls and
the board said "no state reported" (无状态数据) for a unit that was simply idle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.safety.rig import running, switch
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


def test_a_fan_started_by_hand_is_logged_and_shown_running(tmp_path: Path,
                                                           mosquitto: Mosquitto) -> None:
    """An operator starts fan-1 at the panel (its run coil, as a gateway restarted with the
    coil latched on would find it): the unit stays idle (nothing demands air, and nothing
    stops the fan), the log says the fan runs though the interlock did not start it, and
    the API and the board say it runs; stopped again, it is logged and shown stopped."""
    with running(tmp_path, mosquitto) as rig:
        wait_for(lambda: [r for r in rig.ventilation_log() if r.event == "unit-state"], 20,
                 "the start report")
        # the gateway has polled fan-1 (stopped): a fan found running at its first poll
        # would be "running at its first poll since the gateway started", the next test
        wait_for(lambda: [d for d in rig.api.get("/api/v1/devices").json()
                          if d["id"] == "fan-1" and d["online"]], 20, "fan-1 polled")
        switch(rig.loop, rig.plant, "fan-1", True)  # by hand at the panel
        line = wait_for(lambda: [r for r in rig.ventilation_log()
                                 if r.event == "uncommanded-run"], 10, "the log line")[0]
        assert line.body["running"] is True and line.body["device"] == "fan-1"
        assert line.body["at_start"] is False
        assert line.body["snapshot"]["uncommanded"] == ["primary"]
        assert line.body["snapshot"]["found_running"] == []
        unit = rig.api.get("/api/v1/ventilation").json()[0]
        assert unit["uncommanded"] == ["primary"] and unit["state"] == "idle"
        assert unit["found_running"] == []
        assert unit["primary"] == "stopped" and unit["ventilating"] is False
        board = rig.api.get("/board").text
        assert "主风机 运行 (非联锁启动)" in board
        assert "待机, 风机在运行 (非联锁启动)" in board
        assert rig.fan_commanded("fan-1")  # the gateway did not switch it off
        switch(rig.loop, rig.plant, "fan-1", False)
        wait_for(lambda: [r for r in rig.ventilation_log()
                          if r.event == "uncommanded-run" and not r.body["running"]],
                 10, "the stop logged")
        assert rig.api.get("/api/v1/ventilation").json()[0]["uncommanded"] == []
        assert "主风机 停止" in rig.api.get("/board").text


def test_a_fan_left_running_across_a_restart_is_not_said_to_be_started_by_hand(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """fan-1's run coil is on before the gateway starts (the interlock latched it before a
    restart, or a hand did): the gateway does not know which, so the log, the API and the
    board say it was running at its first poll, not "not started by the interlock";
    the unit stays idle and leaves the fan running."""
    with running(tmp_path, mosquitto, fans_on=("fan-1",)) as rig:
        line = wait_for(lambda: [r for r in rig.ventilation_log()
                                 if r.event == "uncommanded-run"], 20, "the log line")[0]
        assert line.body["running"] is True and line.body["at_start"] is True
        assert "fan-1 was running at its first poll since the gateway started" in line.body["cause"]
        assert "not started by the interlock" not in line.body["cause"]
        assert line.body["snapshot"]["found_running"] == ["primary"]
        unit = rig.api.get("/api/v1/ventilation").json()[0]
        assert (unit["uncommanded"], unit["found_running"]) == (["primary"], ["primary"])
        assert unit["state"] == "idle" and unit["primary"] == "stopped"
        board = rig.api.get("/board").text
        assert "主风机 运行 (网关启动后首次读取时已在运行)" in board
        assert "待机, 风机在运行 (网关启动后首次读取时已在运行)" in board
        assert "非联锁启动" not in board
        english = rig.api.get("/board", params={"lang": "en"}).text
        assert ("primary fan running (already running at its first poll since the gateway started)"
                in english)
        assert "not started by the interlock" not in english
        assert rig.fan_commanded("fan-1")  # left running: an operator decides


def test_a_fan_whose_device_stops_answering_is_not_shown_stopped_or_running(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """fan-1, found running, stops answering: the log does not say it stopped, it says
    that whether it runs is not known; the board no longer lists it as running and
    marks the fan's word (the interlock's command) as unknown in fact."""
    with running(tmp_path, mosquitto, fans_on=("fan-1",)) as rig:
        wait_for(lambda: rig.api.get("/api/v1/ventilation").json()[0]["found_running"], 20,
                 "fan-1 found running")
        rig.loop.run(rig.plant.stop_device("fan-1"))
        lost = wait_for(lambda: [r for r in rig.ventilation_log()
                                 if r.event == "uncommanded-run" and not r.body["running"]],
                        20, "the line of the silence")[0]
        assert "fan-1 does not answer: whether it still runs is not known" in lost.body["cause"]
        assert "stopped running" not in lost.body["cause"]
        assert lost.body["at_start"] is True
        wait_for(lambda: [d for d in rig.api.get("/api/v1/devices").json()
                          if d["id"] == "fan-1" and d["online"] is False], 20,
                 "fan-1 offline")
        unit = rig.api.get("/api/v1/ventilation").json()[0]
        assert (unit["uncommanded"], unit["found_running"]) == ([], [])
        board = rig.api.get("/board").text
        assert "主风机 停止 (<span class=\"silent\">设备无应答, 实际状态未知</span>)" in board
        assert "备用风机 停止 (" not in board  # fan-2 answers: its word stands alone
        english = rig.api.get("/board", params={"lang": "en"}).text
        assert "device not answering, actual state unknown" in english
        assert rig.fan_running("fan-1")  # it still runs: what the board may no longer claim
