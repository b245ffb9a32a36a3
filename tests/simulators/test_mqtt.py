"""Simulated MQTT devices against a real Mosquitto: payload shape follows the config mapping."""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from occmon.config.schema import MqttMapping
from occmon.model import parse_time
from occmon.mqttclient import stop_loop
from simulators.mqtt import build_payload
from simulators.plant import SimulatedPlant
from tests.servers import Mosquitto
from tests.simulators.conftest import T0, demo_config, eventually

Message = tuple[str, int, dict[str, Any]]


def test_payload_follows_the_mapping() -> None:
    mapping = MqttMapping(fields={"h2s": "gas.h2s", "co": "gas.co", "t": "temp"}, time="meta.ts",
                          time_format="epoch_ms")
    doc = build_payload("wgas-9", mapping, {"h2s": 0.41234, "co": 3.0}, 1_700_000_000.5)
    assert doc == {"sn": "wgas-9", "battery_pct": 87, "gas": {"h2s": 0.412, "co": 3.0},
                   "meta": {"ts": 1_700_000_000_500}}


@pytest.mark.parametrize(
    ("time_format", "expected"),
    [("epoch_s", 1_700_000_000.5), ("iso8601", "2023-11-14T22:13:20.500Z")],
)
def test_time_formats(time_format: str, expected: object) -> None:
    mapping = MqttMapping.model_validate(
        {"fields": {"sn": "sn"}, "time": "time", "time_format": time_format}
    )
    doc = build_payload("d", mapping, {"sn": 1.0}, 1_700_000_000.5)
    assert doc["time"] == expected
    assert doc["sn"] == 1.0  # a mapped field wins over the vendor extra of the same name


@contextmanager
def subscribed(broker: Mosquitto, topic: str) -> Iterator[queue.Queue[Message]]:
    received: queue.Queue[Message] = queue.Queue()
    ready = queue.Queue[bool]()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-test-sub")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, mid, rcs, p: ready.put(True)
    client.on_message = lambda c, u, m: received.put((m.topic, m.qos, json.loads(m.payload)))
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        ready.get(timeout=10)
        yield received
    finally:
        client.disconnect()
        stop_loop(client)


def drain(received: queue.Queue[Message]) -> list[Message]:
    out: list[Message] = []
    while True:
        try:
            out.append(received.get_nowait())
        except queue.Empty:
            return out


@pytest.mark.server
def test_devices_publish_vendor_json_at_qos1(mosquitto: Mosquitto) -> None:
    config = demo_config(broker_port=mosquitto.port)
    with subscribed(mosquitto, "vendor/#") as received:

        async def main() -> list[Message]:
            plant = SimulatedPlant(config, scenario="normal-day", speed=600.0, seed=7, start=T0,
                                   broker_host=mosquitto.host, broker_port=mosquitto.port,
                                   mqtt_interval=0.1, tick=0.05)
            await plant.start()
            seen: list[Message] = []
            topics = {"vendor/wgas/wgas-1/data", "vendor/noisedos/noisedos-1/data",
                      "vendor/raddos/raddos-1/data"}

            async def all_topics() -> bool:
                seen.extend(drain(received))
                return topics <= {t for t, _, _ in seen}

            try:
                await eventually(all_topics, timeout=15.0)
            finally:
                await asyncio.wait_for(plant.stop(), timeout=2.0)
            return seen

        seen = asyncio.run(main())
    now = time.time()
    by_topic = {topic: (qos, doc) for topic, qos, doc in seen}
    qos, wgas = by_topic["vendor/wgas/wgas-1/data"]
    assert qos == 1
    assert set(wgas) == {"sn", "battery_pct", "gas", "ts"}
    assert isinstance(wgas["gas"]["h2s"], float) and 0.0 <= wgas["gas"]["h2s"] < 5.0
    assert isinstance(wgas["ts"], int) and abs(wgas["ts"] / 1000 - now) < 60
    _, noise = by_topic["vendor/noisedos/noisedos-1/data"]
    assert {"laeq", "dose_pct", "time"} <= set(noise)
    assert 30.0 < noise["laeq"] < 140.0 and noise["dose_pct"] >= 0.0
    assert abs(parse_time(noise["time"]) - now) < 60
    _, rad = by_topic["vendor/raddos/raddos-1/data"]
    assert {"hp10_usv", "rate_usvh", "time"} <= set(rad)
    assert rad["hp10_usv"] >= 0.0 and rad["rate_usvh"] > 0.0


@pytest.mark.server
def test_dead_sensor_mqtt_device_falls_silent_and_resumes(mosquitto: Mosquitto) -> None:
    config = demo_config(broker_port=mosquitto.port)
    wgas, noise = "vendor/wgas/wgas-1/data", "vendor/noisedos/noisedos-1/data"
    with subscribed(mosquitto, "vendor/#") as received:

        async def main() -> None:
            # dead-sensor: the first MQTT device (wgas-1) is silent from 600 s to 9000 s sim,
            # i.e. 0.2 s to 3 s real at speed 3000.
            plant = SimulatedPlant(config, scenario="dead-sensor", speed=3000.0, seed=7,
                                   start=T0, broker_host=mosquitto.host,
                                   broker_port=mosquitto.port, mqtt_interval=0.1, tick=0.05)
            await plant.start()
            try:
                await eventually(lambda: asyncio.sleep(0, result=plant.elapsed > 1500.0))
                await asyncio.sleep(0.3)  # messages in flight before the outage arrive
                drain(received)
                await asyncio.sleep(0.8)
                quiet = [t for t, _, _ in drain(received)]
                assert plant.elapsed < 9000.0  # still inside the outage window
                assert wgas not in quiet
                assert noise in quiet  # the others keep publishing
                got: list[str] = []

                async def resumed() -> bool:
                    got.extend(t for t, _, _ in drain(received))
                    return wgas in got

                await eventually(resumed, timeout=20.0)
                assert plant.elapsed >= 9000.0
            finally:
                await asyncio.wait_for(plant.stop(), timeout=2.0)

        asyncio.run(main())
