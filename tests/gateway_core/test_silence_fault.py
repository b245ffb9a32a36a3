"""Acceptance: a wireless H2S detector that stops sending is a fault, never a live value.

Real parts: Mosquitto, the gateway (MQTT intake, alarm engine) on its own loop, ingest, the
store file, and the API over real HTTP. The detector is played by a paho client publishing
the vendor's JSON every second; then it falls silent. Within 3 intervals + 1 s of its last
message the gateway raises the point's fault alarm, and the API says ``stale: true``; the
API and the board show it offline with the age of the last value, never live.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml

from api.app import create_app
from gateway.app import Gateway
from ingest.subscriber import Ingest
from occmon.config import load
from occmon.config.schema import SiteConfig
from occmon.mqttclient import stop_loop
from tests.api.serve import serve
from tests.board.cards import card_status
from tests.gateway_core.helpers import vendor_client
from tests.safety.rig import LoopThread
from tests.servers import Mosquitto

pytestmark = pytest.mark.server

T = TypeVar("T")
TOPIC = "vendor/wgas/wgas-1/data"
POINT = "desulf-h2s-w1"
FAULT = f"{POINT}:fault"
KEY = "silence-officer-key"
INTERVAL = 1.0  # s between the detector's messages
POLLS = 3  # gateway.stale_after_polls


def site_doc(tmp_path: Path, port: int, device_extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "site": {"id": "silent-plant", "name": {"zh": "静默测试厂", "en": "Silence test plant"}},
        "broker": {"host": "127.0.0.1", "port": port},
        "store": {"path": str(tmp_path / "occmon.db"), "batch_interval": 0.05},
        "gateway": {"queue_path": str(tmp_path / "queue.db"), "stale_after_polls": POLLS},
        "areas": [{"id": "desulf", "name": {"zh": "脱硫工段", "en": "Desulf unit"}}],
        "points": [{"id": POINT, "name": {"zh": "无线硫化氢巡检", "en": "Wireless H2S patrol"},
                    "area": "desulf", "agent": "h2s"}],
        "devices": [{"id": "wgas-1", "protocol": "mqtt", "topic": TOPIC,
                     "mapping": {"fields": {"h2s": "gas.h2s"}, "time": "ts",
                                 "time_format": "epoch_ms"}, **device_extra}],
        "sensors": [{"id": "w1-h2s", "point": POINT, "device": "wgas-1", "field": "h2s",
                     "unit": "ppm", "range": [0, 100]}],
        "auth": {"keys": [{"name": "officer", "role": "officer",
                           "sha256": hashlib.sha256(KEY.encode()).hexdigest()}]},
        "alarms": {"fault_off_delay": 1.0},
    }


@dataclass
class Plant:
    config: SiteConfig
    loop: LoopThread
    gateway: Gateway
    api: httpx.Client
    vendor: mqtt.Client

    def send(self, ppm: float = 2.0) -> float:
        """One message of the detector; returns its sample time."""
        now = time.time()
        payload = json.dumps({"ts": int(now * 1000), "gas": {"h2s": ppm}})
        self.vendor.publish(TOPIC, payload, qos=1).wait_for_publish(5)
        return int(now * 1000) / 1000

    def latest(self) -> dict[str, Any]:
        (q,) = self.api.get(f"/api/v1/points/{POINT}").json()["quantities"]
        return q  # type: ignore[no-any-return]

    def fault_events(self) -> list[dict[str, Any]]:
        answer = self.api.get(f"/api/v1/alarms/{FAULT}")
        if answer.status_code == 404:
            return []
        events: list[dict[str, Any]] = answer.json()["events"]
        return [e for e in events if e["event"] == "fault-raised"]

    def board_row(self, lang: str = "zh") -> tuple[str, str]:
        return card_status(self.api.get("/board", params={"lang": lang}).text, POINT)


@contextmanager
def running(tmp_path: Path, broker: Mosquitto, device_extra: dict[str, Any]) -> Iterator[Plant]:
    doc = site_doc(tmp_path, broker.port, device_extra)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    config = load(path)
    loop = LoopThread()
    gateway = loop.call(lambda: Gateway(config, path, broker_host=broker.host,
                                        broker_port=broker.port))
    ingest = Ingest(config, broker_host=broker.host, broker_port=broker.port)
    ingest.start()
    vendor = vendor_client(broker.host, broker.port)
    app = create_app(config, config.store.path)
    try:
        assert ingest.wait_ready(10), "ingest did not subscribe"
        loop.run(gateway.start())
        with serve(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": KEY},
                                             timeout=15) as api:
            plant = Plant(config, loop, gateway, api, vendor)
            wait_for(lambda: loop.call(gateway.counters).get("mqtt.connects", 0) > 0, 10)
            time.sleep(0.3)  # the intake's SUBACK
            yield plant
    finally:
        vendor.disconnect()
        stop_loop(vendor)
        try:
            loop.run(gateway.stop())
        finally:
            ingest.stop()
            loop.close()


def wait_for(condition: Callable[[], T], timeout: float, step: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(step)


@pytest.mark.parametrize("device_extra", [{"interval": INTERVAL}, {}],
                         ids=["configured-interval", "learnt-interval"])
def test_a_silent_wireless_detector_is_a_fault_and_shown_offline_with_its_age(
        tmp_path: Path, mosquitto: Mosquitto, device_extra: dict[str, Any]) -> None:
    window = POLLS * INTERVAL  # 3 s, configured or learnt from 1 s gaps
    with running(tmp_path, mosquitto, device_extra) as plant:
        last = 0.0
        for _ in range(6):  # 6 messages, 5 gaps of 1 s: enough to learn the rate
            started = time.monotonic()
            last = plant.send()
            time.sleep(max(0.0, INTERVAL - (time.monotonic() - started)))
        # live while it talks: the last message is stored and fresh
        live = wait_for(lambda: (q := plant.latest())["time"] is not None
                        and abs(_epoch(q["time"]) - last) < 0.01 and q, 3)
        assert live and live["stale"] is False and live["quality"] == "good"
        assert live["stale_after_s"] == window
        assert plant.board_row() == ("live", "实时")
        # silence: the last message was at `last`
        stale = wait_for(lambda: (q := plant.latest())["stale"] and (q, time.time()), 10,
                         step=0.1)
        assert stale, "the API never said stale"
        q, seen = stale
        assert seen - last <= window + 1.0, f"stale after {seen - last:.2f} s"
        assert q["age_s"] >= window
        raised = wait_for(plant.fault_events, 10, step=0.1)
        assert raised, "no fault alarm"
        fault = raised[-1]
        assert fault["body"]["reason"] == "stale"
        # the cause names the silence the device was judged on, not the 120 s default
        assert re.search(r"no (good )?reading for 3(\.\d+)? s", fault["cause"]), fault["cause"]
        assert _epoch(fault["time"]) - last <= window + 1.0, (
            f"fault raised {_epoch(fault['time']) - last:.2f} s after the last message")
        # still silent: never shown live, offline with the age of the last value
        time.sleep(1.0)
        q = plant.latest()
        assert q["stale"] is True and q["age_s"] >= window + 1.0
        assert abs(q["age_s"] - (time.time() - last)) < 2.0
        css, status = plant.board_row()
        assert css == "stale" and re.fullmatch(r"离线 · \d+ 秒前", status), status
        assert "实时" not in status
        css, status = plant.board_row("en")
        assert re.fullmatch(r"offline · \d+ s ago", status) and "live" not in status
        # it talks again: live again
        again = plant.send()
        wait_for(lambda: abs(_epoch(plant.latest()["time"] or "1970-01-01T00:00:00Z") - again)
                 < 0.01, 5)
        assert plant.latest()["stale"] is False


def _epoch(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
