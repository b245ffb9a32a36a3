"""When things fail: a fan that does not start, the broker down during a leak, a chattering
reading, a dead gas sensor, a coil write the device refuses. Real simulators, broker,
gateway, ingest and store throughout."""

from __future__ import annotations

import copy
import shutil
import time
from pathlib import Path

import pytest
import yaml

from gateway.modbus.profile import load_profile
from tests.safety.rig import (
    ALARM_PPM,
    FAILURE,
    FAULT,
    PROCESS,
    events_named,
    running,
    site_doc,
)
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

FEEDBACK_TIMEOUT = 2.0  # ventilation.units[0].feedback_timeout in site_doc


def test_fan_fails_raises_ventilation_failure_and_starts_the_standby(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto, scenario="fan-fails", speed=60, initial={}) as rig:
        rig.call(rig.plant.set_fault, "fan-2", False)  # only the duty fan is tripped
        started = wait_for(lambda: [r for r in rig.ventilation_log() if r.event == "started"],
                           40, "the interlock to start ventilation")[0]
        raised = wait_for(lambda: events_named(rig.alarm_events(FAILURE), "raised"), 15,
                          "the ventilation-failure alarm")[0]
        assert raised.level == "high_alarm"
        # within T s of the run command (plus one tick of the shell)
        assert raised.time - started.time <= FEEDBACK_TIMEOUT + 1.0
        wait_for(lambda: [r for r in rig.ventilation_log() if r.event == "standby-started"], 10,
                 "the standby start")
        wait_for(lambda: rig.fan_running("fan-2"), 10, "fan-2 running")
        assert rig.fan_commanded("fan-2")
        assert not rig.fan_running("fan-1")  # tripped: it never ran
        log = [r.event for r in rig.ventilation_log()]
        assert log.index("ventilation-failure") < log.index("standby-started")
        faults = [r for r in rig.ventilation_log() if r.event == "fan-fault"]
        assert faults and faults[0].body["device"] == "fan-1"
        active = {a["alarm_id"]: a for a in rig.api.get("/api/v1/alarms").json()}
        assert active[FAILURE]["state"] == "active-unacknowledged"
        units = rig.api.get("/api/v1/ventilation").json()
        assert units[0]["unit"] == "desulf-exhaust" and units[0]["failure"] is True


def test_broker_down_interlock_still_switches_and_events_arrive_later(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        wait_for(lambda: rig.counters().get("publisher.rows_acked", 0) > 0, 10, "first publish")
        mosquitto.stop()
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        wait_for(lambda: rig.fan_commanded("fan-1"), 15, "the run coil written without broker")
        wait_for(lambda: rig.fan_running("fan-1"), 10, "fan-1 running")
        assert rig.alarm_events(PROCESS) == []  # nothing reached the store yet
        # raised, started, confirmed wait in the gateway's queue
        wait_for(lambda: rig.counters()["queue.rows.event"] >= 3, 10, "queued events")
        mosquitto.start()
        wait_for(lambda: len(rig.ventilation_log()) >= 3, 30, "events after the broker is back")
        names = [r.event for r in rig.alarm_events(PROCESS)]
        assert names[:2] == ["raised", "escalated"] or names[:1] == ["raised"]
        log = [r.event for r in rig.ventilation_log()]
        # the unit's state at start went out before the broker stopped
        assert log[:3] == ["unit-state", "started", "confirmed"]
        ids = [r.event_id for r in rig.alarm_events()]
        assert ids == sorted(ids) and len(ids) == len(set(ids))


def test_a_reading_oscillating_around_the_set_point_gives_one_alarm(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        # 9.6 .. 10.4 mg/m3 around the 10 mg/m3 alarm set-point, inside the 0.5 deadband
        for i in range(24):
            rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * (0.96 if i % 2 else 1.04))
            time.sleep(0.3)
        wait_for(lambda: events_named(rig.alarm_events(PROCESS), "escalated", "raised"), 10,
                 "the alarm")
        time.sleep(1.0)
        records = rig.alarm_events(PROCESS)
        assert [r.event for r in records] in (["raised"], ["raised", "escalated"])
        assert records[-1].level == "alarm"
        assert {r.occurrence for r in records} == {1}  # one alarm, never cleared and re-raised
        started = [r for r in rig.ventilation_log() if r.event == "started"]
        assert len(started) == 1


def test_a_dead_gas_sensor_is_a_fault_alarm_and_starts_ventilation(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        wait_for(lambda: rig.alarm_events() == [] and rig.counters().get(
            "publisher.rows_acked", 0) > 3, 10, "normal operation")
        assert not rig.fan_commanded("fan-1")
        stopped_at = time.time()
        rig.loop.run(rig.plant.stop_device("gas-panel-1"))
        fault = wait_for(lambda: events_named(rig.alarm_events(FAULT), "fault-raised"), 15,
                         "the fault alarm")[0]
        polls = (fault.time - stopped_at) / 0.25
        assert polls <= 3 + 4  # stale_after_polls 3, with a margin for a busy machine
        assert fault.body["reason"] in ("device-offline", "stale")
        wait_for(lambda: rig.fan_commanded("fan-1"), 10, "fail-safe ventilation")
        # the coil is written at the edge first; the log entry follows through broker and ingest
        started = wait_for(lambda: [r for r in rig.ventilation_log() if r.event == "started"],
                           10, "the ventilation start in the log")[0]
        assert "fail-safe" in started.body["cause"]
        # the value of a dead sensor is not shown as live
        state = rig.api.get(f"/api/v1/alarms/{FAULT}").json()
        assert state["alarm"]["state"] == "active-unacknowledged"


def test_a_coil_write_refused_by_the_device_is_counted_and_retried(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    doc = site_doc(tmp_path, mosquitto.port)
    # the gateway's register map puts the run coil where the fan has nothing: exception 0x02
    profile = load_profile("ventilation-fan", ()).model_dump(exclude_none=True)
    for register in profile["registers"]:
        if register["name"] == "run_command":
            register["address"] = 9
    (tmp_path / "wrong-fan.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    wrong = copy.deepcopy(doc)
    for device in wrong["devices"]:
        if device["id"] == "fan-1":
            device["profile"] = "wrong-fan.yaml"
    with running(tmp_path, mosquitto, doc=doc, gateway_doc=wrong) as rig:
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        failed = wait_for(lambda: [r for r in rig.ventilation_log()
                                   if r.event == "coil-write-failed"
                                   and r.body["device"] == "fan-1"], 20, "a failed write")
        assert "exception" in failed[0].body["error"].lower()
        counters = rig.counters()
        assert counters["safety.coil-write-failed.modbus-exception"] >= 1
        # the interlock keeps running: it retries, raises the failure, starts the standby
        wait_for(lambda: len([r for r in rig.ventilation_log() if r.event ==
                              "coil-write-failed" and r.body["device"] == "fan-1"]) >= 2,
                 20, "a retry")
        wait_for(lambda: events_named(rig.alarm_events(FAILURE), "raised"), 15, "failure")
        wait_for(lambda: rig.fan_running("fan-2"), 15, "the standby fan")
        assert not rig.fan_commanded("fan-1")
    shutil.rmtree(tmp_path / "mosquitto", ignore_errors=True)
