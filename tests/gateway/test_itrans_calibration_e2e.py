"""A span calibration on a simulated Oldham iTrans 2, end to end (issue 16, the new states).

The simulated plant serves the ``oldham-itrans-2`` map (Instrument Mode 40113, Status Bits
40114, manual p. 56) from a real pymodbus server; the real gateway polls it, runs alarms
and the ventilation interlock, and publishes through Mosquitto to ingest's SQLite store.
The technician puts channel 1 in calibration (Instrument Mode $0002) and applies 50 ppm
H2S span gas: 50 ppm is 50 x 34.08 / 24.04 = 70.9 mg/m3, over three times the GBZ/T 223
high alarm (20 mg/m3). Before the map had the mode register, this span gas was a good
reading that raised the alarm and started the fans; now it is stored bad
``check-function:span-calibration`` with its raw 50 ppm, and the calibration interval is an
instrument event.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.safety.rig import FAULT, PROCESS, Rig, running, site_doc
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

POINT = "desulf-h2s-1"
SPAN = "check-function:span-calibration"
SPAN_GAS_PPM = 50.0


def itrans_doc(tmp_path: Path, broker_port: int) -> dict[str, Any]:
    doc = site_doc(tmp_path, broker_port)
    detector = doc["devices"][0]
    assert detector["id"] == "gas-panel-1"
    detector["profile"] = "oldham-itrans-2"
    doc["sensors"] = [{"id": "gp1-h2s", "point": POINT, "device": "gas-panel-1",
                       "register": "gas_1", "range": [0, 100]}]  # ppm: the profile's unit
    return doc


def rows(rig: Rig, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(rig.config.store.path) as conn:
        return conn.execute(sql, args).fetchall()


def set_state(rig: Rig, state: str) -> None:
    image = rig.plant.modbus["gas-panel-1"].image
    rig.call(setattr, image, "state", state)


def words(rig: Rig) -> tuple[int, int]:
    """Instrument Mode and Status Bits of channel 1 as the simulator serves them."""
    image = rig.plant.modbus["gas-panel-1"].image
    profile = image.profile
    mode, status = profile.register("mode_1"), profile.register("status_1")
    return (image.cells[mode.kind][mode.address], image.cells[status.kind][status.address])


def test_span_calibration_is_recorded_but_never_alarms_ventilates_or_counts(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    doc = itrans_doc(tmp_path, mosquitto.port)
    with running(tmp_path, mosquitto, doc=doc) as rig:
        wait_for(lambda: rows(rig, "SELECT 1 FROM readings WHERE point = ? AND quality = "
                              "'good'", POINT), 20, "good readings of the iTrans 2")
        assert rig.call(words, rig) == (1, 0)  # $0001 normal, no status bit
        set_state(rig, SPAN)
        rig.call(rig.plant.set_value, "gp1-h2s", SPAN_GAS_PPM)
        wait_for(lambda: rig.call(words, rig) == (2, 0), 10, "Instrument Mode $0002 served")
        start = time.time()
        wait_for(lambda: len(rows(rig, "SELECT 1 FROM readings WHERE reason = ? AND "
                                  "raw_value = ?", SPAN, SPAN_GAS_PPM)) >= 8, 20,
                 "readings of the span gas stored")
        time.sleep(3.5)  # past the alarm on-delay (0.5 s) and the stale window (3 s)
        rig.call(rig.plant.set_value, "gp1-h2s", 0.3)
        set_state(rig, "normal")
        end = time.time()
        events: list[dict[str, Any]] = []

        def calibration_stored() -> bool:
            events[:] = [json.loads(body) for (body,) in rows(
                rig, "SELECT body FROM events WHERE kind = 'instrument' ORDER BY id")]
            return any(e["event"] == "calibration" for e in events)

        wait_for(calibration_stored, 20, "the calibration event stored")
        wait_for(lambda: rows(rig, "SELECT 1 FROM readings WHERE point = ? AND quality = "
                              "'good' AND time > ?", POINT, end), 20, "good readings again")
        time.sleep(1.0)

        # no process alarm, no fault alarm, no fan command
        assert rig.alarm_events(PROCESS) == []
        assert rig.alarm_events(FAULT) == []
        assert not rig.fan_commanded("fan-1") and not rig.fan_commanded("fan-2")
        assert [r.event for r in rig.ventilation_log()] == ["unit-state"]  # only the start

        # the span gas is stored bad with its raw value and the state; never as a value
        span_gas = rows(rig, "SELECT quality, value, raw_value, raw_unit, reason FROM readings"
                        " WHERE point = ? AND raw_value = ?", POINT, SPAN_GAS_PPM)
        assert len(span_gas) >= 8
        assert set(span_gas) == {("bad", None, SPAN_GAS_PPM, "ppm", SPAN)}
        high = 20.0  # mg/m3; 50 ppm H2S = 70.9 mg/m3
        assert rows(rig, "SELECT 1 FROM readings WHERE point = ? AND value > ?", POINT,
                    high) == []

        # into calibration, out of it, and the calibration interval as an instrument event
        changed = [(e["previous"], e["state"]) for e in events if e["event"] == "state-changed"]
        assert changed[:2] == [("normal", SPAN), (SPAN, "normal")]
        [calibration] = [e for e in events if e["event"] == "calibration"]
        assert calibration["device"] == "gas-panel-1" and calibration["points"] == [POINT]
        assert calibration["after"] == "normal"
        assert 2.0 <= calibration["duration_s"] <= end - start + 5
