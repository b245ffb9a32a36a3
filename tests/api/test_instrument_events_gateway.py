"""A span calibration on a simulated Honeywell XNX, through the running gateway, Mosquitto,
ingest and the API: the calibration the instrument reports (post-span, passed: 40007 = 17)
is listed with its result, noted by an officer with who performed it, and dates the
calibration record and today's daily record instead of the site file's 2025-01-01."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.safety.rig import Rig, running, site_doc
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

POINT = "desulf-h2s-1"


def xnx_doc(tmp_path: Path, broker_port: int) -> dict[str, Any]:
    doc = site_doc(tmp_path, broker_port)
    doc["devices"][0]["profile"] = "honeywell-xnx"
    doc["sensors"] = [{"id": "gp1-h2s", "point": POINT, "device": "gas-panel-1",
                       "register": "gas", "unit": "ppm", "range": [0, 100],
                       "instrument": {"model": "XNX", "serial": "XNX-0001",
                                      "calibrated": "2025-01-01",
                                      "calibration_interval_days": 180}}]
    return doc


def set_state(rig: Rig, state: str) -> None:
    rig.call(setattr, rig.plant.modbus["gas-panel-1"].image, "state", state)


def calibrations(rig: Rig) -> list[dict[str, Any]]:
    r = rig.api.get("/api/v1/instrument-events", params={"event": "calibration"})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_a_reported_calibration_dates_the_record(tmp_path: Path,
                                                 mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto, doc=xnx_doc(tmp_path, mosquitto.port)) as rig:
        tz = ZoneInfo(rig.config.site.timezone)
        wait_for(lambda: rig.api.get("/api/v1/points").status_code == 200, 20, "the API")
        set_state(rig, "check-function:span-calibration")
        time.sleep(1.5)
        set_state(rig, "check-function:span-calibration-passed")
        time.sleep(1.0)
        set_state(rig, "normal")
        wait_for(lambda: calibrations(rig), 20, "the calibration event through the API")
        (cal,) = calibrations(rig)
        # the site-local day the calibration ended on (its end carries the site's offset)
        today = dt.datetime.fromisoformat(cal["end"]).astimezone(tz).date()
        assert (cal["device"], cal["sensors"], cal["points"]) \
            == ("gas-panel-1", ["gp1-h2s"], [POINT])
        assert (cal["result"], cal["result_source"], cal["who"]) == ("passed", "instrument", None)
        assert cal["duration_s"] >= 2.0
        assert cal["end"].endswith("+08:00")
        states = rig.api.get("/api/v1/instrument-events",
                             params={"event": "state-changed", "point": POINT}).json()
        assert states["total"] >= 2  # into the calibration, and back to normal

        noted = rig.api.post(f"/api/v1/instrument-events/{cal['id']}/notes",
                             json={"who": "张工", "note": "span gas 25 ppm"})
        assert noted.status_code == 201, noted.text
        refused = rig.staff.post(f"/api/v1/instrument-events/{cal['id']}/notes",
                                 json={"who": "李工"})
        assert refused.status_code == 403

        record = rig.api.get("/api/v1/devices/gas-panel-1/calibration").json()
        (sensor,) = record["sensors"]
        due = (today + dt.timedelta(days=180)).isoformat()
        assert (sensor["calibrated"], sensor["calibration_due"], sensor["calibration_source"],
                sensor["calibration_event"], sensor["overdue"]) \
            == (today.isoformat(), due, "event", cal["id"], False)
        assert [(c["who"], c["who_source"], c["result"]) for c in sensor["calibrations"]] \
            == [("张工", "officer", "passed")]

        records = rig.api.get("/api/v1/daily-records",
                              params={"start": today.isoformat()}).json()["records"]
        (day,) = [r for r in records if r["point"] == POINT and not r.get("shift")]
        (inst,) = day["instruments"]
        # the site file's 2025-01-01 + 180 days was long overdue; the calibration is today's
        assert (inst["calibrated"], inst["calibration_due"], inst["calibration_current"],
                inst["calibration_source"]) == (today.isoformat(), due, True, "event")
