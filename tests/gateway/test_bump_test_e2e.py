"""Issue 16's acceptance: a bump test on a simulated Honeywell XNX, end to end.

The simulated plant serves the XNX register map (``honeywell-xnx``) from a real pymodbus
server; the real gateway polls it, runs alarms and the ventilation interlock, and publishes
through Mosquitto to ingest's SQLite store. A technician applies 50 ppm H2S test gas with
the detector in bump test (40007 iMonitoringState = 10): 50 ppm is 70.9 mg/m3, over three
times the GBZ/T 223 high-alarm set-point (20 mg/m3), so a detector map without states
would raise the alarm and start the fans. With the state read, nothing happens but the
record: the readings are stored bad ``check-function:bump-test`` with their raw 50 ppm, no
exposure figure sees them, and the test interval is an instrument event.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.daily.close import load_series
from tests.safety.rig import FAULT, PROCESS, SITE, Rig, running, site_doc
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

POINT = "desulf-h2s-1"
BUMP = "check-function:bump-test"
TEST_GAS_PPM = 50.0


def xnx_doc(tmp_path: Path, broker_port: int) -> dict[str, Any]:
    doc = site_doc(tmp_path, broker_port)
    detector = doc["devices"][0]
    assert detector["id"] == "gas-panel-1"
    detector["profile"] = "honeywell-xnx"
    doc["sensors"] = [{"id": "gp1-h2s", "point": POINT, "device": "gas-panel-1",
                       "register": "gas", "unit": "ppm", "range": [0, 100]}]
    return doc


def rows(rig: Rig, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(rig.config.store.path) as conn:
        return conn.execute(sql, args).fetchall()


def instrument_events(rig: Rig) -> list[dict[str, Any]]:
    return [json.loads(body) for (body,) in rows(
        rig, "SELECT body FROM events WHERE kind = 'instrument' ORDER BY id")]


def set_state(rig: Rig, state: str) -> None:
    image = rig.plant.modbus["gas-panel-1"].image
    rig.call(setattr, image, "state", state)


def test_bump_test_is_recorded_but_never_alarms_ventilates_or_counts(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    doc = xnx_doc(tmp_path, mosquitto.port)
    with running(tmp_path, mosquitto, doc=doc) as rig:
        # normal monitoring first: good readings of the clean air (0.3 ppm) reach the store
        wait_for(lambda: rows(rig, "SELECT 1 FROM readings WHERE point = ? AND quality = "
                              "'good'", POINT), 20, "good readings of the XNX")
        # the technician starts the bump test, then applies the test gas
        set_state(rig, BUMP)
        rig.call(rig.plant.set_value, "gp1-h2s", TEST_GAS_PPM)
        start = time.time()
        wait_for(lambda: len(rows(rig, "SELECT 1 FROM readings WHERE reason = ? AND "
                                  "raw_value = ?", BUMP, TEST_GAS_PPM)) >= 8, 20,
                 "readings of the test gas stored")
        time.sleep(3.5)  # past the alarm on-delay (0.5 s) and the stale window (3 s)
        # the test ends: gas off, back to normal monitoring
        rig.call(rig.plant.set_value, "gp1-h2s", 0.3)
        set_state(rig, "normal")
        end = time.time()
        wait_for(lambda: [e for e in instrument_events(rig) if e["event"] == "bump-test"], 20,
                 "the bump-test event stored")
        wait_for(lambda: rows(rig, "SELECT 1 FROM readings WHERE point = ? AND quality = "
                              "'good' AND time > ?", POINT, end), 20, "good readings again")
        time.sleep(1.0)

        # no process alarm, no fault alarm, no fan command
        assert rig.alarm_events(PROCESS) == []
        assert rig.alarm_events(FAULT) == []
        assert not rig.fan_commanded("fan-1") and not rig.fan_commanded("fan-2")
        assert [r.event for r in rig.ventilation_log()] == ["unit-state"]  # only the start

        # the test gas is stored, bad, with its raw value and the reason; never as a value
        test_gas = rows(rig, "SELECT quality, value, raw_value, raw_unit, reason FROM readings"
                        " WHERE point = ? AND raw_value = ?", POINT, TEST_GAS_PPM)
        assert len(test_gas) >= 8
        assert set(test_gas) == {("bad", None, TEST_GAS_PPM, "ppm", BUMP)}
        high = 20.0  # mg/m3, GBZ/T 223 high alarm; 50 ppm = 50 x 34.08 / 24.04 = 70.9 mg/m3
        assert rows(rig, "SELECT 1 FROM readings WHERE point = ? AND value > ?", POINT,
                    high) == []

        # exposure: the daily record's series has a gap (NaN) where the bump test was
        with sqlite3.connect(rig.config.store.path) as conn:
            times, values = load_series(conn, POINT, "concentration", start - 60, end + 60)
        during = values[(times > start + 0.5) & (times < end - 0.5)]
        assert during.size >= 4 and all(math.isnan(v) for v in during)
        finite = values[np.isfinite(values)]
        assert finite.size > 0 and float(finite.max()) < 1.0  # only the clean air, ~0.43

        # the instrument events: into the bump test, out of it, and the test interval
        events = instrument_events(rig)
        changed = [(e["previous"], e["state"]) for e in events if e["event"] == "state-changed"]
        assert changed == [("normal", BUMP), (BUMP, "normal")]
        [bump] = [e for e in events if e["event"] == "bump-test"]
        assert bump["site"] == SITE and bump["device"] == "gas-panel-1"
        assert bump["points"] == [POINT] and bump["sensors"] == ["gp1-h2s"]
        assert bump["after"] == "normal" and bump["who"] is None
        assert 2.0 <= bump["duration_s"] <= end - start + 5
        assert rig.counters().get("safety.alarm.late-sample", 0) == 0
