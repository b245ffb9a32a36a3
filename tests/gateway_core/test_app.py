"""The gateway process on the demo plant: Modbus devices with no peer, MQTT intake, publisher."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.queue import Queue
from occmon.config.schema import SiteConfig
from tests.gateway.sites import DEMO, load_site
from tests.gateway_core.helpers import Subscriber
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.server


def demo(tmp_path: Path) -> SiteConfig:
    config = load_site(DEMO, interval=0.2)
    gateway = config.gateway.model_copy(update={"queue_path": tmp_path / "queue.db"})
    return config.model_copy(update={"gateway": gateway})


def test_dead_modbus_devices_reach_the_broker_as_offline(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config = demo(tmp_path)
    sub = Subscriber(mosquitto.host, mosquitto.port, "occmon/v1/demo-plant/#").start()

    async def main() -> float:
        gateway = Gateway(config, DEMO, broker_host=mosquitto.host, broker_port=mosquitto.port)
        await gateway.start()
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                offline = {
                    m.topic.rsplit("/", 1)[1]
                    for m in sub.snapshot()
                    if "/status/device/" in m.topic and not json.loads(m.payload)["online"]
                }
                if offline >= {"gas-panel-1", "dust-1"}:
                    break
                await asyncio.sleep(0.1)
            assert {"gas-panel-1", "gas-loop-1", "dust-1", "slm-1"} <= offline
            counters = gateway.counters()
            assert counters["queue.appended"] > 0
        finally:
            started = time.monotonic()
            await gateway.stop()
        return time.monotonic() - started

    try:
        took = asyncio.run(main())
        readings = sub.readings()
    finally:
        sub.stop()
    assert took < 2.0 + 0.5  # the 2 s contract, with scheduling slack
    bad = {r.point for r in readings if r.reason == "device-offline"}
    assert "desulf-h2s-1" in bad


def test_stop_is_prompt_when_the_broker_is_unreachable(tmp_path: Path) -> None:
    config = demo(tmp_path)

    async def main() -> float:
        gateway = Gateway(config, DEMO, broker_host="127.0.0.1", broker_port=free_port())
        await gateway.start()
        await asyncio.sleep(1.5)  # polls fail, the publisher backs off, rows pile up
        rows = gateway.queue.rows
        assert rows > 0
        started = time.monotonic()
        await gateway.stop()
        return time.monotonic() - started

    took = asyncio.run(main())
    assert took < 2.5
    kept = Queue(tmp_path / "queue.db")
    try:
        assert kept.rows > 0  # accepted readings wait on disk for the next start
    finally:
        kept.close()
