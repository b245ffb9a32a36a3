"""Fans behind drives, over real Modbus sockets: the gateway starts a simulated ABB ACS580
through its control-word sequence and an Inovance MD500 by a command value, sees the
running feedback in the status word, and treats a drive's fault bit as a ventilation
failure at once. Real simulators, broker, gateway, ingest and store throughout."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from simulators.drive import AbbDrive, DriveServer, Md500Drive
from tests.safety.drives import with_drives
from tests.safety.rig import ALARM_PPM, FAILURE, LoopThread, Rig, events_named, running, site_doc
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

START_DELAY = 0.5  # s: the simulated drives' start-up delay
FEEDBACK_TIMEOUT = 4.0  # s: generous under load; a trip must be seen well before it


@contextmanager
def drives(gateway_doc: dict[str, Any],
           models: dict[str, AbbDrive | Md500Drive]) -> Iterator[dict[str, DriveServer]]:
    """Each fan device of ``gateway_doc`` served by its drive model on its own loop."""
    loop = LoopThread()
    ports = {d["id"]: d["port"] for d in gateway_doc["devices"]}
    servers = {name: DriveServer(name, model, "127.0.0.1", ports[name])
               for name, model in models.items()}
    try:
        for server in servers.values():
            loop.run(server.start())
        yield servers
    finally:
        for server in servers.values():
            loop.run(server.stop())
        loop.close()


def _docs(tmp_path: Path, port: int, fan: str, standby: str) -> tuple[dict[str, Any],
                                                                        dict[str, Any]]:
    """(the plant's doc: the gas panel only; the gateway's: both fans as drives)."""
    gateway = with_drives(site_doc(tmp_path, port, feedback_timeout=FEEDBACK_TIMEOUT),
                          fan, standby)
    plant = copy.deepcopy(gateway)
    plant["devices"] = [d for d in plant["devices"] if d["id"] == "gas-panel-1"]
    del plant["ventilation"]
    return plant, gateway


def _leak(rig: Rig) -> None:
    rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)


def test_the_leak_alarm_starts_an_acs580_through_its_control_word_sequence(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    plant_doc, gateway_doc = _docs(tmp_path, mosquitto.port, "acs580", "md500")
    fan, standby = AbbDrive(start_delay=START_DELAY), Md500Drive(start_delay=START_DELAY)
    with drives(gateway_doc, {"fan-1": fan, "fan-2": standby}), running(
            tmp_path, mosquitto, doc=plant_doc, gateway_doc=gateway_doc) as rig:
        assert fan.history == [] and not fan.running
        _leak(rig)
        confirmed = wait_for(lambda: rig.logged("confirmed"), 30, "running feedback")[0]
        assert confirmed.body["device"] == "fan-1" and fan.running
        # 0x0476 (ready to switch on), then 0x047F (operation enabled): nothing else
        assert fan.history == [0x0476, 0x047F]
        started = rig.logged("started")[0]
        # the drive's start-up delay passed before the status word said running
        assert confirmed.time - started.time >= START_DELAY
        assert confirmed.time - started.time < FEEDBACK_TIMEOUT
        assert standby.history == []  # the duty drive ran: no standby
        counters = rig.counters()
        assert counters["safety.drive-writes"] == 1
        assert not any(k.startswith("safety.drive-write-failed") for k in counters)
        assert rig.alarm_events(FAILURE) == []


def test_a_drive_fault_is_a_ventilation_failure_and_the_md500_standby_starts(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    plant_doc, gateway_doc = _docs(tmp_path, mosquitto.port, "acs580", "md500")
    fan, standby = AbbDrive(start_delay=START_DELAY), Md500Drive(start_delay=START_DELAY)
    with drives(gateway_doc, {"fan-1": fan, "fan-2": standby}) as servers, running(
            tmp_path, mosquitto, doc=plant_doc, gateway_doc=gateway_doc) as rig:
        _leak(rig)
        wait_for(lambda: rig.logged("confirmed"), 30, "fan-1 running")
        tripped_at = time.time()
        rig.call(servers["fan-1"].trip)  # the ACS580 trips (overload): status bit 3
        raised = wait_for(lambda: events_named(rig.alarm_events(FAILURE), "raised"), 15,
                          "the ventilation-failure alarm")[0]
        assert raised.level == "high_alarm"
        # the fault bit fails the fan at once, not after the feedback timeout
        assert raised.time - tripped_at < FEEDBACK_TIMEOUT
        assert "reports a fault" in raised.body["cause"], raised.body
        fault = wait_for(lambda: rig.logged("fan-fault"), 10, "the fan-fault event")[0]
        assert fault.body["cause"] == "fan-1: drive fault (tripped)"
        wait_for(lambda: rig.logged("standby-started"), 10, "the standby start")
        wait_for(lambda: standby.running, 10, "the MD500 running")
        # MD500: frequency setting 1000H = 100.00 %, then 2000H = 1 (forward run)
        assert standby.setting == 10000 and standby.history == [1]
        confirmed = wait_for(lambda: [r for r in rig.logged("confirmed")
                                      if r.body["device"] == "fan-2"], 10, "fan-2 confirmed")
        assert confirmed
        log = [r.event for r in rig.ventilation_log()]
        assert log.index("ventilation-failure") < log.index("standby-started")
        # while the cause persists the retries reset in vain and are counted as failures
        wait_for(lambda: rig.counters().get("safety.drive-write-failed.not-confirmed", 0) > 0,
                 15, "a failed retry")
        assert 0x04F6 in fan.history and not fan.running
        # the cause is cleared: the next retry resets the trip and restarts the ACS580
        servers["fan-1"].clear()
        wait_for(lambda: fan.running, 20, "fan-1 restarted after the reset")
        assert 0x04F6 in fan.history, fan.history
        tail = fan.history[len(fan.history) - 1 - fan.history[::-1].index(0x04F6):]
        assert tail == [0x04F6, 0x0476, 0x047F], fan.history
        wait_for(lambda: events_named(rig.alarm_events(FAILURE), "cleared", "returned"), 15,
                 "the failure alarm clearing")
        # a retry still pending (they back off to retry_max, 2 s) finds the fan running and
        # writes nothing: 0x0476 again would be OFF1, a ramp stop mid-leak
        time.sleep(2.5)
        assert fan.running and fan.history[-1] == 0x047F, fan.history
        assert fan.history[len(fan.history) - len(tail):] == tail, fan.history


def test_an_md500_duty_fan_is_started_by_a_command_value(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    plant_doc, gateway_doc = _docs(tmp_path, mosquitto.port, "md500", "acs580")
    fan, standby = Md500Drive(start_delay=START_DELAY), AbbDrive(start_delay=START_DELAY)
    with drives(gateway_doc, {"fan-1": fan, "fan-2": standby}), running(
            tmp_path, mosquitto, doc=plant_doc, gateway_doc=gateway_doc) as rig:
        _leak(rig)
        confirmed = wait_for(lambda: rig.logged("confirmed"), 30, "running feedback")[0]
        assert confirmed.body["device"] == "fan-1" and fan.running
        assert fan.history == [1] and standby.history == []
        # the leak clears: after the hold the unit stops the drive by value 6
        rig.call(rig.plant.set_value, "gp1-h2s", 0.3)
        wait_for(lambda: rig.logged("stopped"), 40, "ventilation stopped after the hold")
        wait_for(lambda: not fan.running, 10, "the MD500 stopped")
        assert fan.history == [1, 6]
