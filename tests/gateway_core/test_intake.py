"""MQTT sensor intake end to end: vendor JSON -> gateway -> Mosquitto -> subscriber."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.app import Gateway
from occmon.model import Quality
from occmon.mqttclient import stop_loop
from tests.gateway_core.helpers import Received, Subscriber, site_config, vendor_client
from tests.servers import Mosquitto

pytestmark = pytest.mark.server

VENDOR_TOPIC = "vendor/wgas/wgas-1/data"
INTAKE_ID = "occmon-gateway-intake-plant-a"


def good(ms: int, ppm: float = 5.0) -> bytes:
    return json.dumps({"ts": ms, "gas": {"h2s": ppm}}).encode()


def now_ms() -> int:
    return int(time.time() * 1000)


BAD_INPUT = [
    # (case, topic, payload, code)
    ("malformed", VENDOR_TOPIC, b'{"ts": 1, "gas": ', "malformed-json"),
    ("array", VENDOR_TOPIC, b"[1, 2]", "not-an-object"),
    ("string", VENDOR_TOPIC, b'{"ts": %d, "gas": {"h2s": "5.0"}}', "wrong-type"),
    ("nan", VENDOR_TOPIC, b'{"ts": %d, "gas": {"h2s": NaN}}', "not-a-number"),
    ("infinity", VENDOR_TOPIC, b'{"ts": %d, "gas": {"h2s": -Infinity}}', "not-a-number"),
    ("missing", VENDOR_TOPIC, b'{"ts": %d, "gas": {}}', "missing-field"),
    ("seconds-as-ms", VENDOR_TOPIC, b'{"ts": 1750000000, "gas": {"h2s": 1}}', "bad-time"),
    ("time-text", VENDOR_TOPIC, b'{"ts": "yesterday", "gas": {"h2s": 1}}', "bad-time"),
    ("unknown-topic", "vendor/old/sensor-9/data", good(0), "unknown-topic"),
]


def leave_old_subscription(broker: Mosquitto) -> None:
    """A subscription left in the intake's persistent session by an older config."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=INTAKE_ID, clean_session=False)
    client.connect(broker.host, broker.port)
    client.loop_start()
    done = client.subscribe("vendor/old/#", qos=1)
    assert done[0] == mqtt.MQTT_ERR_SUCCESS
    time.sleep(0.3)
    client.disconnect()
    stop_loop(client)


async def until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def with_gateway(
    tmp_path: Path, broker: Mosquitto, body: Callable[[Gateway], Awaitable[None]], **kw: float
) -> None:
    config = site_config(queue_path=str(tmp_path / "q.db"), **kw)  # type: ignore[arg-type]

    async def main() -> None:
        gateway = Gateway(
            config, tmp_path / "site.yaml", broker_host=broker.host, broker_port=broker.port
        )
        await gateway.start()
        try:
            await body(gateway)
        finally:
            await gateway.stop()

    asyncio.run(main())


def dead_letters(sub: Subscriber) -> list[dict[str, object]]:
    return [json.loads(m.payload) for m in sub.snapshot() if m.topic.endswith("/dead-letter")]


@pytest.mark.parametrize(
    ("case", "topic", "payload", "code"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_dead_lettered_and_the_next_message_still_counts(
    tmp_path: Path, mosquitto: Mosquitto, case: str, topic: str, payload: bytes, code: str
) -> None:
    if b"%d" in payload:
        payload = payload % now_ms()
    leave_old_subscription(mosquitto)
    sub = Subscriber(mosquitto.host, mosquitto.port, "occmon/v1/plant-a/#").start()
    vendor = vendor_client(mosquitto.host, mosquitto.port)

    async def body(gateway: Gateway) -> None:
        await until(lambda: gateway.counters().get("mqtt.connects", 0) > 0, 10)
        await asyncio.sleep(0.3)  # SUBACK
        vendor.publish(topic, payload, qos=1).wait_for_publish(5)
        sent = now_ms()
        vendor.publish(VENDOR_TOPIC, good(sent, 7.0), qos=1).wait_for_publish(5)
        assert await until(
            lambda: bool(dead_letters(sub)) and any(r.value is not None for r in sub.readings()),
            15,
        ), gateway.counters()
        counters = gateway.counters()
        assert counters[f"mqtt.rejected.{code}"] == 1
        assert counters["mqtt.dead_letters"] == 1
        assert counters["mqtt.readings"] == 1
        letter = dead_letters(sub)[0]
        assert letter["reason"] == code
        assert letter["topic"] == topic
        assert base64.b64decode(str(letter["payload_b64"])) == payload
        assert letter["source"] == ("gateway" if code == "unknown-topic" else "wgas-1")
        [reading] = [r for r in sub.readings() if r.quality is Quality.GOOD]
        assert reading.point == "desulf-h2s-w1"
        assert reading.time == pytest.approx(sent / 1000, abs=0.001)
        assert reading.raw_value == 7.0 and reading.raw_unit == "ppm"
        assert reading.value == pytest.approx(7.0 * 34.08 / 24.04, rel=1e-6)

    try:
        with_gateway(tmp_path, mosquitto, body)
    finally:
        vendor.disconnect()
        stop_loop(vendor)
        sub.stop()


def test_good_fields_of_a_message_with_a_bad_field_are_kept(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    sub = Subscriber(mosquitto.host, mosquitto.port, "occmon/v1/plant-a/#").start()
    vendor = vendor_client(mosquitto.host, mosquitto.port)
    mapping = {
        "fields": {"h2s": "gas.h2s", "temp": "env.t"},
        "time": "ts",
        "time_format": "epoch_ms",
    }

    async def body(gateway: Gateway) -> None:
        await until(lambda: gateway.counters().get("mqtt.connects", 0) > 0, 10)
        await asyncio.sleep(0.3)
        payload = json.dumps({"ts": now_ms(), "gas": {"h2s": 3.0}, "env": {"t": "warm"}})
        vendor.publish(VENDOR_TOPIC, payload, qos=1).wait_for_publish(5)
        assert await until(lambda: bool(dead_letters(sub)) and bool(sub.readings()), 15)
        assert dead_letters(sub)[0]["reason"] == "wrong-type"
        assert [r.raw_value for r in sub.readings()] == [3.0]

    try:
        with_gateway(tmp_path, mosquitto, body, mapping=mapping)  # type: ignore[arg-type]
    finally:
        vendor.disconnect()
        stop_loop(vendor)
        sub.stop()


def test_silent_device_goes_stale_then_recovers(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.host, mosquitto.port, "occmon/v1/plant-a/#").start()
    vendor = vendor_client(mosquitto.host, mosquitto.port)

    def statuses() -> list[bool]:
        msgs: list[Received] = [m for m in sub.snapshot() if "/status/device/wgas-1" in m.topic]
        return [json.loads(m.payload)["online"] for m in msgs]

    async def body(gateway: Gateway) -> None:
        await until(lambda: gateway.counters().get("mqtt.connects", 0) > 0, 10)
        await asyncio.sleep(0.3)
        vendor.publish(VENDOR_TOPIC, good(now_ms()), qos=1).wait_for_publish(5)
        assert await until(lambda: statuses() == [True] and len(sub.readings()) == 1, 10)
        silent_from = time.time()
        assert await until(lambda: statuses() == [True, False], 5), statuses()
        assert await until(lambda: any(r.reason == "stale" for r in sub.readings()), 5)
        stale = [r for r in sub.readings() if r.reason == "stale"]
        assert stale[0].quality is Quality.BAD and stale[0].value is None
        assert stale[0].point == "desulf-h2s-w1" and stale[0].sensor == "w1-h2s"
        # Marked after expire_after (0.5 s) of silence; generous margin for a loaded machine.
        assert silent_from - 0.1 <= stale[0].time <= silent_from + 3.0
        vendor.publish(VENDOR_TOPIC, good(now_ms(), 9.0), qos=1).wait_for_publish(5)
        assert await until(lambda: statuses()[-1:] == [True], 5), statuses()
        assert await until(lambda: any(r.raw_value == 9.0 for r in sub.readings()), 5)

    try:
        with_gateway(tmp_path, mosquitto, body, expire_after=0.5)
    finally:
        vendor.disconnect()
        stop_loop(vendor)
        sub.stop()
