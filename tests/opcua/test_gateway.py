"""The whole gateway (OPC UA intake, queue, publisher) against a real OPC UA server and a
real Mosquitto: a panel's value reaches the broker as a canonical reading."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.app import Gateway
from occmon.model import Quality
from tests.gateway_core.helpers import Subscriber
from tests.opcua.helpers import panel_site, until
from tests.opcua.server import OpcUaServer
from tests.servers import Mosquitto

pytestmark = pytest.mark.server

H2S_MG_PER_PPM = 34.08 / 24.04


def test_a_panel_value_reaches_the_broker(
        tmp_path: Path, mosquitto: Mosquitto, own_panel: OpcUaServer) -> None:
    config = panel_site(own_panel.endpoint, interval=0.2, queue_path=str(tmp_path / "q.db"))
    sub = Subscriber(mosquitto.host, mosquitto.port, "occmon/v1/plant-a/#").start()

    async def main() -> None:
        gateway = Gateway(config, tmp_path / "site.yaml", broker_host=mosquitto.host,
                          broker_port=mosquitto.port)
        await gateway.start()
        try:
            assert await until(lambda: gateway.counters().get("opcua.gas-panel-1.connects", 0)
                               == 1)
            await asyncio.to_thread(own_panel.set, "H2S", 12.5)
            assert await until(lambda: any(r.raw_value == 12.5 for r in sub.readings()), 10)
        finally:
            await gateway.stop()

    try:
        asyncio.run(main())
    finally:
        sub.stop()
    got = next(r for r in sub.readings() if r.raw_value == 12.5)
    assert got.point == "desulf-h2s" and got.device == "gas-panel-1"
    assert got.quality is Quality.GOOD
    assert got.value is not None and abs(got.value - 12.5 * H2S_MG_PER_PPM) < 1e-6
    status = [json.loads(m.payload) for m in sub.snapshot()
              if m.topic.endswith("/status/device/gas-panel-1")]
    assert status and status[0]["online"] is True
