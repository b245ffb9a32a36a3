"""A calibration the gateway observes clears its "calibration overdue" warning, for good.

A simulated Honeywell XNX (real pymodbus server, ``honeywell-xnx`` map) whose site file says
it was calibrated on 2025-01-01 with a 180-day interval: long overdue, so the real gateway
raises the point's calibration warning at start. A bump test (40007 = 10) and a failed span
calibration (13 then 19) change nothing; a span calibration that passes (13 then 17) clears
the warning (``warning-cleared``, through Mosquitto into ingest's store) without anyone
editing the site file or noting the event, and the point's next due date is the day of the
calibration + 180 days. A second gateway started on the same queue directory (a restart)
reads the stored calibration and never raises the warning again.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.app import Gateway
from ingest.subscriber import Ingest
from occmon.config import load
from occmon.config.schema import SiteConfig
from simulators.plant import SimulatedPlant
from tests.safety.rig import LoopThread, site_doc, write_config
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

POINT = "desulf-h2s-1"
WARNING = f"{POINT}:calibration"
INTERVAL_DAYS = 180


def xnx_doc(tmp_path: Path, broker_port: int) -> dict[str, Any]:
    doc = site_doc(tmp_path, broker_port)
    doc["devices"][0]["profile"] = "honeywell-xnx"
    doc["sensors"] = [{"id": "gp1-h2s", "point": POINT, "device": "gas-panel-1",
                       "register": "gas", "unit": "ppm", "range": [0, 100],
                       "instrument": {"model": "XNX", "serial": "XNX-0001",
                                      "calibrated": "2025-01-01",
                                      "calibration_interval_days": INTERVAL_DAYS}}]
    return doc


class Plant:
    """The simulated XNX, ingest and (one at a time) a gateway, on one loop thread."""

    def __init__(self, tmp_path: Path, broker: Mosquitto) -> None:
        self.path = write_config(tmp_path, xnx_doc(tmp_path, broker.port))
        self.config: SiteConfig = load(self.path)
        self.broker = broker
        self.loop = LoopThread()
        self.plant = SimulatedPlant(self.config, seed=3, broker_host=broker.host,
                                    broker_port=broker.port, spin_up=0.5)
        self.plant.set_value("gp1-h2s", 0.3)
        self.gateway: Gateway | None = None

    @contextmanager
    def gateway_running(self) -> Iterator[Gateway]:
        gateway = self.loop.call(lambda: Gateway(self.config, self.path,
                                                 broker_host=self.broker.host,
                                                 broker_port=self.broker.port))
        self.loop.run(gateway.start())
        self.gateway = gateway
        try:
            yield gateway
        finally:
            self.loop.run(gateway.stop())
            self.gateway = None

    def set_state(self, state: str) -> None:
        self.loop.call(setattr, self.plant.modbus["gas-panel-1"].image, "state", state)

    def overdue(self) -> bool:
        gateway = self.gateway
        assert gateway is not None
        snap = self.loop.call(gateway.safety.engine.point_snapshot, POINT)
        assert snap is not None
        return snap.calibration_overdue

    def due(self) -> float | None:
        gateway = self.gateway
        assert gateway is not None
        return self.loop.call(gateway.safety.engine.calibration_due, POINT)

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.config.store.path) as conn:
            return conn.execute(sql, args).fetchall()

    def warnings(self) -> list[str]:
        """The stored events of the point's calibration warning, oldest first."""
        return [e for (e,) in self.rows("SELECT event FROM alarm_events WHERE alarm_id = ? "
                                        "ORDER BY event_id", WARNING)]

    def tests(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(b) for (b,) in self.rows(
            "SELECT body FROM events WHERE kind = 'instrument' AND "
            "json_extract(body, '$.event') = ? ORDER BY id", name)]

    def run_test(self, states: list[str], name: str, count: int) -> dict[str, Any]:
        """Put the XNX through ``states`` (1 s each), back to normal; the stored event."""
        for state in states:
            self.set_state(state)
            time.sleep(1.0)
        self.set_state("normal")
        found = wait_for(lambda: len(self.tests(name)) >= count and self.tests(name), 20,
                         f"{name} event {count} stored")
        return found[-1]


@pytest.fixture
def site(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Plant]:
    plant = Plant(tmp_path, mosquitto)
    ingest = Ingest(plant.config, broker_host=mosquitto.host, broker_port=mosquitto.port)
    ingest.start()
    try:
        assert ingest.wait_ready(10), "ingest did not subscribe"
        plant.loop.run(plant.plant.start())
        yield plant
    finally:
        try:
            plant.loop.run(plant.plant.stop())
        finally:
            ingest.stop()
            plant.loop.close()


def test_an_observed_calibration_clears_the_warning_across_a_restart(site: Plant) -> None:
    tz = ZoneInfo(site.config.site.timezone)
    typed_due = dt.datetime(2025, 6, 30, tzinfo=tz).timestamp()  # 2025-01-01 + 180 days
    with site.gateway_running():
        assert site.due() == typed_due
        wait_for(lambda: site.warnings() == ["warning"], 20, "the overdue warning stored")
        assert site.overdue()

        bump = site.run_test(["check-function:bump-test"], "bump-test", 1)
        failed = site.run_test(["check-function:span-calibration",
                                "check-function:span-calibration-failed"], "calibration", 1)
        assert failed["result"] == "failed"
        time.sleep(1.0)  # room for a wrong warning-cleared to reach the store
        assert (site.overdue(), site.due(), site.warnings()) == (True, typed_due, ["warning"])
        assert bump["event"] == "bump-test"  # stored, and no calibration: no date moved

        passed = site.run_test(["check-function:span-calibration",
                                "check-function:span-calibration-passed"], "calibration", 2)
        assert passed["result"] == "passed"
        wait_for(lambda: site.warnings() == ["warning", "warning-cleared"], 20,
                 "the warning cleared in the store")
        assert not site.overdue()
        day = dt.datetime.fromisoformat(passed["end"].replace("Z", "+00:00")).astimezone(tz)
        due = dt.datetime.combine(day.date() + dt.timedelta(days=INTERVAL_DAYS), dt.time(),
                                  tzinfo=tz).timestamp()
        assert site.due() == due
        (body,) = [json.loads(b) for (b,) in site.rows(
            "SELECT body FROM alarm_events WHERE alarm_id = ? AND event = 'warning-cleared'",
            WARNING)]
        assert (body["kind"], body["state"]) == ("warning", "normal")

    stored = json.loads(Path(f"{site.config.gateway.queue_path}-calibrations.json").read_text())
    assert stored["sensors"]["gp1-h2s"]["event"] == passed["id"]

    with site.gateway_running() as gateway:  # the restart: a fresh engine, the same files
        assert site.due() == due
        started = time.time()
        wait_for(lambda: site.rows("SELECT 1 FROM readings WHERE point = ? AND time > ? "
                                   "AND quality = 'good'", POINT, started), 20,
                 "readings of the restarted gateway")
        time.sleep(2.0)  # many ticks of the new engine, and room for a wrong warning
        assert site.loop.call(gateway.counters).get("calibrations.observed", 0) == 0
        assert not site.overdue()
        assert site.warnings() == ["warning", "warning-cleared"]
