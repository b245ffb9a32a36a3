"""A device clock an hour ahead cannot blind the alarms: the whole gateway (MqttIntake,
Safety, queue, publisher) against a real Mosquitto.

Found in testing: one sample dated an hour ahead made the alarm engine drop every later
real sample of the point as 'time went backwards', and 141.8 mg/m3 H2S (100 ppm, 7x the
high set-point) raised nothing for the hour.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.normalise import normalise
from occmon.model import Quality, Reason
from occmon.mqttclient import stop_loop
from tests.gateway_core.helpers import Subscriber, site_config, vendor_client
from tests.gateway_core.test_intake import VENDOR_TOPIC, dead_letters, good, until, with_gateway
from tests.servers import Mosquitto

pytestmark = pytest.mark.server

HOUR_MS = 3_600_000
PPM = 34.08 / 24.04  # H2S mg/m3 per ppm at 20 C, 101.3 kPa (GBZ 2.1 reference)
PROCESS = "desulf-h2s-w1:process"


def alarm_events(sub: Subscriber) -> list[dict[str, object]]:
    return [json.loads(m.payload) for m in sub.snapshot() if m.topic.endswith("/events/alarm")]


def test_a_sample_an_hour_ahead_does_not_blind_the_high_alarm(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.host, mosquitto.port, "occmon/v1/plant-a/#").start()
    vendor = vendor_client(mosquitto.host, mosquitto.port)
    seen: dict[str, float] = {}

    async def body(gateway: Gateway) -> None:
        await until(lambda: gateway.counters().get("mqtt.connects", 0) > 0, 10)
        await asyncio.sleep(0.3)  # SUBACK
        # a clean start: a normal value, so the point is known and healthy
        vendor.publish(VENDOR_TOPIC, good(int(time.time() * 1000), 1.0), qos=1)
        assert await until(lambda: len(sub.readings()) >= 1, 10)
        skew_sent = time.time()
        vendor.publish(VENDOR_TOPIC, good(int(skew_sent * 1000) + HOUR_MS, 2.0),
                       qos=1).wait_for_publish(5)
        skew_acked = time.time()
        await asyncio.sleep(0.3)
        high_sent = time.monotonic()
        for _ in range(10):  # 100 ppm = 141.8 mg/m3, real time
            vendor.publish(VENDOR_TOPIC, good(int(time.time() * 1000), 100.0), qos=1)
            if any(e["event"] == "raised" and e["alarm_id"] == PROCESS
                   for e in alarm_events(sub)):
                break
            await asyncio.sleep(0.1)
        raised = await until(
            lambda: any(e["event"] == "raised" and e["alarm_id"] == PROCESS
                        for e in alarm_events(sub)), 10)
        seen["raise_after"] = time.monotonic() - high_sent
        assert raised, (alarm_events(sub), gateway.counters())
        counters = gateway.counters()
        assert counters["mqtt.clock_skew"] == 1
        assert counters.get("safety.alarm.late-sample", 0) == 0
        seen["skew_sent"], seen["skew_acked"] = skew_sent, skew_acked

    with_gateway(tmp_path, mosquitto, body)
    sub.stop()
    vendor.disconnect()
    stop_loop(vendor)

    # The alarm reached the broker within two seconds of the first real high value (ten
    # samples 0.1 s apart; the high alarm has no on-delay).
    assert seen["raise_after"] < 2.0, seen
    raised = next(e for e in alarm_events(sub) if e["event"] == "raised")
    assert raised["level"] == "high_alarm"
    assert raised["value"] == pytest.approx(100 * PPM, rel=1e-6)  # 141.76 mg/m3
    # The skewed sample is stored, uncertain, at its arrival time, with its reason.
    skewed = [r for r in sub.readings() if r.reason == Reason.CLOCK_SKEW]
    assert len(skewed) == 1, sub.readings()
    assert skewed[0].quality is Quality.UNCERTAIN
    assert skewed[0].value == pytest.approx(2.0 * PPM, rel=1e-6)
    assert seen["skew_sent"] - 0.5 <= skewed[0].time <= seen["skew_acked"] + 0.5


def test_a_sample_older_than_max_age_is_dead_lettered(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.host, mosquitto.port, "occmon/v1/plant-a/#").start()
    vendor = vendor_client(mosquitto.host, mosquitto.port)
    old_ms = int((time.time() - 401 * 86_400) * 1000)  # trust.max_age_days = 400

    async def body(gateway: Gateway) -> None:
        await until(lambda: gateway.counters().get("mqtt.connects", 0) > 0, 10)
        await asyncio.sleep(0.3)
        vendor.publish(VENDOR_TOPIC, good(old_ms, 3.0), qos=1).wait_for_publish(5)
        vendor.publish(VENDOR_TOPIC, good(int(time.time() * 1000), 4.0), qos=1)
        assert await until(lambda: bool(dead_letters(sub)) and bool(sub.readings()), 10)
        assert gateway.counters()["mqtt.rejected.too-old"] == 1

    with_gateway(tmp_path, mosquitto, body)
    sub.stop()
    vendor.disconnect()
    stop_loop(vendor)
    letter = dead_letters(sub)[0]
    assert letter["reason"] == "too-old"
    assert "max_age_days" in str(letter["message"])
    assert [r.value for r in sub.readings()] == [pytest.approx(4.0 * PPM, rel=1e-6)]


def test_an_implausible_value_is_a_bad_reading_never_a_live_value() -> None:
    """No range configured on the sensor: physics (occmon.plausibility) is the last check."""
    from gateway.app import build_bindings

    config = site_config()
    sensor = config.sensors[0].model_copy(update={"range": None})
    config = config.model_copy(update={"sensors": [sensor]})
    binding = next(iter(build_bindings(config).values()))
    fine = normalise(binding, 100.0, 1.0, unit="ppm")
    assert (fine.quality, fine.value) == (Quality.GOOD, pytest.approx(100 * PPM))
    for raw in (-1.0, 1e12, 1e308):  # 1e308 ppm overflows to inf mg/m3
        bad = normalise(binding, raw, 1.0, unit="ppm")
        assert (bad.quality, bad.reason, bad.value, bad.raw_value) == (
            Quality.BAD, Reason.IMPLAUSIBLE, None, raw)
