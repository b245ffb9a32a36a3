"""The interlock remembers each unit's state across a gateway restart.

Real simulators, broker, gateway, ingest, store and API: the gateway is stopped and a new
one started on the same files while the fan runs, as a supervisor restarts it after a crash.
Before, the new gateway started every unit idle: the hold was forgotten (the fan ran on,
with nobody to stop it) and a latch waiting for an operator's reset was lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.safety.memory import Suppression, UnitMemoryFile
from occmon.model import iso_utc
from tests.safety.rig import ALARM_PPM, FAULT, PROCESS, Rig, running, site_doc
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

UNIT = "desulf-exhaust"


def _unit(rig: Rig) -> dict[str, object]:
    units: list[dict[str, object]] = rig.api.get("/api/v1/ventilation").json()
    return units[0]


def _leak_then_clear(rig: Rig) -> None:
    rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
    wait_for(lambda: rig.logged("confirmed"), 30, "fan-1 running on the leak")
    rig.call(rig.plant.set_value, "gp1-h2s", 0.3)


def test_a_hold_goes_on_across_a_restart_and_ends_when_it_would_have(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    doc = site_doc(tmp_path, mosquitto.port, hold_time=12)
    with running(tmp_path, mosquitto, doc=doc) as rig:
        _leak_then_clear(rig)
        held = wait_for(lambda: rig.logged("hold-started"), 20, "the hold")[0]
        until = held.body["until"]
        rig.restart_gateway()
        restored = wait_for(lambda: rig.logged("restored"), 10, "the restored line")[0]
        assert restored.body["was"] == "hold" and restored.body["restored"] is True
        assert restored.body["until"] == until
        assert restored.body["cause"] == ("restored after a gateway restart: holding after "
                                          "the zone cleared")
        unit = _unit(rig)
        assert unit["state"] == "hold" and unit["hold_until"] == iso_utc(until)
        assert unit["demanded"] is True and unit["found_running"] == []
        assert rig.fan_commanded("fan-1")
        started = rig.logged("unit-state")[-1]
        assert started.body["state"] == "hold"  # the start report says the same
        local_end = dt.datetime.fromtimestamp(until, ZoneInfo(rig.config.site.timezone))
        board = rig.api.get("/board").text  # the floor sees when the fan will stop
        assert f"各点已低于复位值, 保持通风至 {local_end:%H:%M:%S}" in board
        english = rig.api.get("/board", params={"lang": "en"}).text
        assert f"every point under the reset level, ventilating until {local_end:%H:%M:%S}" \
            in english
        stopped = wait_for(lambda: rig.logged("stopped"), until - time.time() + 10,
                           "the hold's end")[0]
        assert stopped.time >= until  # not earlier: the hold was kept, not restarted
        assert stopped.time < until + 3  # nor later: not a new hold from the restart
        wait_for(lambda: not rig.fan_commanded("fan-1"), 10, "fan-1 switched off")
        board = rig.api.get("/board").text
        assert 'class="unit vent-idle"' in board


def test_a_latch_awaiting_reset_survives_a_restart_and_the_reset_stops_the_fan(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    doc = site_doc(tmp_path, mosquitto.port, hold_time=1, reset="operator")
    with running(tmp_path, mosquitto, doc=doc) as rig:
        _leak_then_clear(rig)
        wait_for(lambda: rig.logged("awaiting-reset"), 20, "the latch")
        rig.restart_gateway()
        wait_for(lambda: rig.logged("restored"), 10, "the restored line")
        assert _unit(rig)["state"] == "await-reset"
        time.sleep(1.5)  # clear for longer than the hold: still latched, the fan still runs
        assert _unit(rig)["state"] == "await-reset" and rig.fan_commanded("fan-1")
        assert "等待人工复位, 复位后停止" in rig.api.get("/board").text
        reset = rig.api.post(f"/api/v1/ventilation/{UNIT}/reset", json={"user": "li.wei"})
        assert reset.status_code == 200, reset.text
        wait_for(lambda: rig.logged("stopped"), 10, "stopped by the reset")
        wait_for(lambda: not rig.fan_commanded("fan-1"), 10, "fan-1 switched off")
        assert _unit(rig)["state"] == "idle"


def test_a_manual_off_is_not_kept_across_a_restart_and_a_leak_starts_the_fan(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        wait_for(lambda: rig.logged("unit-state"), 20, "the start report")
        forced = rig.api.post(f"/api/v1/ventilation/{UNIT}/override",
                              json={"mode": "off", "user": "zhao.lei", "reason": "maintenance"})
        assert forced.status_code == 200, forced.text
        assert _unit(rig)["state"] == "manual-off"
        assert "手动强制关闭 (zhao.lei), 联锁不启动风机" in rig.api.get("/board").text
        rig.restart_gateway()
        line = wait_for(lambda: rig.logged("restored"), 10, "the restored line")[0]
        assert line.body["restored"] is False and line.body["was"] == "manual-off"
        assert "ventilation forced off by zhao.lei; the interlock is automatic again" in \
            line.body["cause"]
        assert _unit(rig)["state"] == "idle"
        assert "手动强制关闭" not in rig.api.get("/board").text
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        wait_for(lambda: rig.logged("started"), 20, "the leak starting the fan")


def test_a_memory_the_gateway_cannot_keep_is_a_health_problem_and_a_system_alarm(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A folder where the memory file should be (a wrong permission, a read-only mount are
    alike): the interlock runs as ever, and the gateway's health names the problem and
    raises it as a system alarm, since a restart would then forget a hold or a latch."""
    doc = site_doc(tmp_path, mosquitto.port)
    (tmp_path / "queue.db-interlock").mkdir()
    with running(tmp_path, mosquitto, doc=doc) as rig:
        problems, _ = rig.call(rig.gateway.health.check, time.time())
        [problem] = [p for p in problems if p.code == "interlock-memory-failing"]
        assert problem.message.startswith(
            f"the interlock cannot open its memory {tmp_path / 'queue.db-interlock'} (")
        rig.call(rig.gateway.health.beat, time.time())
        assert "interlock-memory-failing" in rig.gateway.health.active
        alarm = wait_for(lambda: [e for e in rig.alarm_events(
            "system:gateway:interlock-memory-failing") if e.event == "raised"], 10,
            "the system alarm stored")[0]
        assert "a restart would start every ventilation unit idle" in alarm.body["cause"]
        # the floor is told it is the monitoring system, not the air: no evacuation order
        board = wait_for(lambda: [b for b in [rig.api.get("/board").text]
                                  if "data-alarm=\"system:gateway:interlock-memory" in b],
                         10, "the system alarm on the board")[0]
        card = board[board.index('data-alarm="system:gateway:interlock-memory'):]
        card = card[:card.index("</li>")]
        assert "监测系统报警 · 采集网关" in card and 'data-level="system"' in card
        assert "监测系统自身故障, 不是现场气体报警" in card
        assert "a restart would start every ventilation unit idle" in card
        assert "撤离" not in card and "未在配置中" not in card
        english = rig.api.get("/board", params={"lang": "en"}).text
        assert "monitoring system alarm · gateway" in english
        assert "not a gas alarm here" in english
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)  # the interlock works
        wait_for(lambda: rig.logged("confirmed"), 30, "fan-1 running on the leak")


def test_a_system_alarm_of_the_run_before_is_closed_by_a_restart_without_its_problem(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The memory could not be kept in one run (a system alarm, open and unacknowledged);
    the cause is fixed and the gateway restarted. Before, the board went on showing "the
    interlock cannot read its memory" from the run before: nothing in the new run had it
    open, so nothing ever cleared it. Now the start-up snapshot lists the gateway's own
    alarms too and ingest closes it (gateway-restarted); a problem still there is raised
    again by the new run's first check."""
    alarm_id = "system:gateway:interlock-memory-failing"
    doc = site_doc(tmp_path, mosquitto.port)
    (tmp_path / "queue.db-interlock").mkdir()  # the memory cannot be opened in this run
    with running(tmp_path, mosquitto, doc=doc) as rig:
        rig.call(rig.gateway.health.beat, time.time())
        wait_for(lambda: _alarm_state(rig, alarm_id) == "active-unacknowledged", 10,
                 "the system alarm listed")
        (tmp_path / "queue.db-interlock").rmdir()  # fixed
        rig.restart_gateway()
        rig.call(rig.gateway.health.beat, time.time())
        wait_for(lambda: _alarm_state(rig, alarm_id) == "normal", 15,
                 "the system alarm closed by the restart")
        closed = rig.alarm_events(alarm_id)[-1]
        assert (closed.event, closed.body["reason"]) == ("closed", "gateway-restarted")
        listed = {a["alarm_id"] for a in rig.api.get("/api/v1/alarms").json()}
        assert alarm_id not in listed
        assert 'data-alarm="system:gateway:interlock-memory' not in rig.api.get("/board").text
        # a problem still there after a restart is raised again, by the new run
        (tmp_path / "queue.db-interlock").unlink()
        (tmp_path / "queue.db-interlock").mkdir()
        rig.restart_gateway()
        rig.call(rig.gateway.health.beat, time.time())
        wait_for(lambda: _alarm_state(rig, alarm_id) == "active-unacknowledged", 15,
                 "the system alarm raised again by the new run")


def _alarm_state(rig: Rig, alarm_id: str) -> str | None:
    answer = rig.api.get(f"/api/v1/alarms/{alarm_id}")
    return str(answer.json()["alarm"]["state"]) if answer.status_code == 200 else None


def test_a_shelve_and_an_out_of_service_are_kept_across_a_restart(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A detector taken out for repair and its gas alarm shelved for a calibration gas test:
    a restarted gateway takes both up again, before its start-up snapshot (so ingest closes
    neither), and the leak that follows starts the fan without a push. Before, both ended at
    the restart: the fault and the gas alarm annunciated as if nobody had acted."""
    with running(tmp_path, mosquitto) as rig:
        wait_for(lambda: rig.logged("unit-state"), 20, "the start report")
        until = time.time() + 600
        shelved = rig.api.post(f"/api/v1/alarms/{PROCESS}/shelve", json={
            "user": "li.wei", "reason": "calibration gas test", "until": iso_utc(until)})
        assert shelved.status_code == 200, shelved.text
        out = rig.api.post(f"/api/v1/alarms/{FAULT}/out-of-service",
                           json={"user": "wang", "reason": "detector off for repair"})
        assert out.status_code == 200, out.text
        shelved_at = shelved.json()["events"][0]["time"]
        restart = time.time()
        rig.restart_gateway()
        wait_for(lambda: _alarm_state(rig, FAULT) == "out-of-service" and [
            e for e in rig.alarm_events(FAULT) if e.time >= restart], 15,
            "the out-of-service taken up")
        alarm = rig.api.get(f"/api/v1/alarms/{PROCESS}").json()["alarm"]
        assert alarm["state"] == "shelved"
        # when li.wei shelved it, not when the restart took the shelve up again
        assert alarm["suppressed"] == {"by": "li.wei", "reason": "calibration gas test",
                                       "since": shelved_at, "until": iso_utc(until)}
        kept = [e for e in rig.alarm_events(PROCESS) if e.time >= restart]
        assert [e.event for e in kept] == ["shelved"]  # taken up, and nothing closed
        assert kept[0].body["user"] == "li.wei"
        assert abs(kept[0].body["until"] - until) < 0.001  # the API takes it to the ms
        assert kept[0].body["reason"] == "calibration gas test"
        assert kept[0].body["cause"] == (  # when it ends, readable (it was "1.79661e+09")
            f"shelved by li.wei until {iso_utc(kept[0].body['until'])}: calibration gas test "
            "(kept across a gateway restart)")
        back = next(e for e in rig.alarm_events(FAULT) if e.time >= restart)
        assert (back.event, back.body["user"]) == ("out-of-service", "wang")
        # shelving silences the alarm, never the interlock: the leak starts the fan
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        wait_for(lambda: rig.logged("started"), 20, "the leak starting the fan")
        time.sleep(1.0)  # past the alarm's on-delay (0.5 s)
        assert [e.event for e in rig.alarm_events(PROCESS) if e.time >= restart] == ["shelved"]
        # unshelved and returned to service by hand: a later restart takes up neither
        assert rig.api.post(f"/api/v1/alarms/{PROCESS}/unshelve",
                            json={"user": "li.wei"}).status_code == 200
        assert rig.api.post(f"/api/v1/alarms/{FAULT}/in-service",
                            json={"user": "wang", "reason": "repaired"}).status_code == 200
        wait_for(lambda: _alarm_state(rig, FAULT) == "normal", 15, "back in service")
        again = time.time()
        rig.restart_gateway()
        wait_for(lambda: [e for e in rig.alarm_events(PROCESS)
                          if e.time >= again and e.event == "raised"], 15,
                 "the leak's alarm, raised by the new engine")
        assert not [e for e in rig.alarm_events() if e.time >= again
                    and e.event in ("shelved", "out-of-service")]


def test_an_ended_shelve_and_an_alarm_the_site_no_longer_has_are_not_taken_up(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """The memory holds a shelve that ended while the gateway was stopped and the
    out-of-service of an alarm the site file no longer has: neither is taken up (the second
    is logged and counted), both are dropped from the file, and the alarm in service runs."""
    now = time.time()
    memory = UnitMemoryFile(tmp_path / "queue.db-interlock", Counter())
    memory.keep_suppression(Suppression(PROCESS, "shelved", "li.wei", "gas test", now - 5,
                                        now - 600), now - 600)
    memory.keep_suppression(Suppression("old-point:fault", "out-of-service", "wang",
                                        "removed", None, now - 900), now - 900)
    memory.close()
    with caplog.at_level(logging.WARNING, "gateway.safety.shell"), \
            running(tmp_path, mosquitto) as rig:
        wait_for(lambda: rig.logged("unit-state"), 20, "the start report")
        assert rig.counters()["safety.alarm.suppression-not-restored"] == 1
        assert not [e for e in rig.alarm_events() if e.event in ("shelved", "out-of-service")]
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        wait_for(lambda: [e for e in rig.alarm_events(PROCESS) if e.event == "raised"], 15,
                 "the alarm raised: the ended shelve was not taken up")
    assert "out-of-service of alarm old-point:fault by wang not taken up" in caplog.text
    assert UnitMemoryFile(tmp_path / "queue.db-interlock", Counter()).load_suppressions() == []
