"""The intake's bound: with the event loop busy, QoS 0 messages past ``max_pending`` are
dropped and counted and reported in a dead letter; QoS 1 messages are never dropped.
MqttIntake against a real Mosquitto, with a sink that records what it is handed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from gateway.app import build_bindings
from gateway.driver import DeviceStatus
from gateway.mqtt.intake import INTAKE_OVERFLOW, MqttIntake
from gateway.sink import DeadLetter
from occmon.config.schema import MqttDevice, SiteConfig
from occmon.model import Reading
from occmon.mqttclient import stop_loop
from tests.gateway_core.helpers import site_config
from tests.servers import Mosquitto

pytestmark = pytest.mark.server

TOPIC = "vendor/wgas/wgas-1/data"
MAX_PENDING = 100
GARBAGE = 3000


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Reading] = []
        self.letters: list[DeadLetter] = []

    def readings(self, batch: Sequence[Reading]) -> None:
        self.batches.extend(batch)

    def status(self, status: DeviceStatus) -> None:
        pass

    def dead_letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


def _intake(config: SiteConfig, mosquitto: Mosquitto, client_id: str,
            **options: Any) -> MqttIntake:
    """The intake of the site's MQTT devices, against the test broker."""
    devices = [d for d in config.devices if isinstance(d, MqttDevice)]
    return MqttIntake(devices, list(build_bindings(config).values()), host=mosquitto.host,
                      port=mosquitto.port, client_id=client_id, **options)


@contextmanager
def _vendor(mosquitto: Mosquitto, client_id: str) -> Iterator[mqtt.Client]:
    """The sensor vendor's client, connected, with its network loop running."""
    vendor = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    vendor.connect(mosquitto.host, mosquitto.port)
    vendor.loop_start()
    try:
        yield vendor
    finally:
        vendor.disconnect()
        stop_loop(vendor)


async def _started(intake: MqttIntake, sink: Recorder) -> None:
    """Start the intake and wait until it is connected and subscribed."""
    await intake.start(sink)
    deadline = time.monotonic() + 10
    while intake.counters().get("mqtt.connects", 0) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # SUBACK


def test_qos0_overflow_is_counted_and_reported_qos1_is_kept(mosquitto: Mosquitto) -> None:
    intake = _intake(site_config(), mosquitto, "bound-intake", max_pending=MAX_PENDING)
    sink = Recorder()

    async def main(vendor: mqtt.Client) -> None:
        await _started(intake, sink)
        infos = [vendor.publish(TOPIC, b"not json %d" % i, qos=0) for i in range(GARBAGE)]
        ms = int(time.time() * 1000)
        real = vendor.publish(TOPIC, json.dumps({"ts": ms, "gas": {"h2s": 3.0}}).encode(),
                              qos=1)
        for info in infos:
            info.wait_for_publish(10)
        real.wait_for_publish(10)
        # The loop is busy (a stalled turn): everything arrives while nothing is drained.
        busy_until = time.monotonic() + 1.0
        while time.monotonic() < busy_until and intake.pending < MAX_PENDING + 1:
            time.sleep(0.01)
        time.sleep(0.5)
        deadline = time.monotonic() + 10
        while intake.pending or not sink.batches:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await intake.stop()

    with _vendor(mosquitto, "bound-vendor") as vendor:
        asyncio.run(main(vendor))
    counters = intake.counters()
    dropped = counters.get("mqtt.dropped.overflow", 0)
    handled = counters["mqtt.messages"]
    # the QoS 1 reading arrived and was kept, whatever the flood
    assert [round(r.raw_value or 0, 3) for r in sink.batches] == [3.0]
    assert handled + dropped == GARBAGE + 1, counters
    assert dropped >= GARBAGE - MAX_PENDING - 1, counters  # the loop was held throughout
    reports = [letter for letter in sink.letters if letter.reason == INTAKE_OVERFLOW]
    assert reports, sink.letters
    assert sum(json.loads(r.payload)["dropped"] for r in reports) == dropped
    assert reports[0].topic == TOPIC


def test_repeated_rejects_are_dead_lettered_20_a_minute_then_summarised(
        mosquitto: Mosquitto) -> None:
    """25 malformed messages: 20 dead letters in full, the other 5 counted and, once the
    minute is over (an injected monotonic clock), one rejects-suppressed dead letter."""
    fake = {"now": 1000.0}
    # expire_after 0.4 s: the intake's watchdog then runs every 0.1 s
    intake = _intake(site_config(expire_after=0.4), mosquitto, "reject-intake",
                     monotonic=lambda: fake["now"])
    sink = Recorder()

    async def main(vendor: mqtt.Client) -> None:
        await _started(intake, sink)
        for i in range(25):
            vendor.publish(TOPIC, b"{oops %d" % i, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while intake.counters().get("mqtt.messages", 0) < 25 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [x.reason for x in sink.letters] == ["malformed-json"] * 20
        fake["now"] += 61.0
        deadline = time.monotonic() + 5
        while len(sink.letters) < 21 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await intake.stop()

    with _vendor(mosquitto, "reject-vendor") as vendor:
        asyncio.run(main(vendor))
    counters = intake.counters()
    assert counters["mqtt.rejected.malformed-json"] == 25
    assert counters["mqtt.rejects_suppressed"] == 5
    summary = [x for x in sink.letters if x.reason == "rejects-suppressed"]
    assert len(summary) == 1, sink.letters
    assert json.loads(summary[0].payload) == {"code": "malformed-json", "suppressed": 5}
    assert summary[0].source == "wgas-1"


class Holding(Recorder):
    """A sink whose commit comes late: the PUBACK callbacks are kept until told."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.held.append(callback)


def test_a_commit_landing_after_stop_does_not_touch_the_stopped_client(
        mosquitto: Mosquitto) -> None:
    """The queue commits a batch after the intake stopped (a stop between a message and its
    commit): the held PUBACK is dropped, not written to paho's closed wake-up socket (which
    raised EBADF into the committer at every such stop)."""
    intake = _intake(site_config(), mosquitto, "late-intake")
    sink = Holding()

    async def main(vendor: mqtt.Client) -> None:
        await _started(intake, sink)
        ms = int(time.time() * 1000)
        vendor.publish(TOPIC, json.dumps({"ts": ms, "gas": {"h2s": 3.0}}).encode(),
                       qos=1).wait_for_publish(10)
        deadline = time.monotonic() + 10
        while not sink.held and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        client = intake._client
        assert client is not None
        # what the late callback would hand paho; in the field that raced stop_loop closing
        # the wake-up socket pair (EBADF), which a test cannot time
        def ack(mid: int, qos: int) -> MQTTErrorCode:
            late_acks.append(mid)
            return MQTTErrorCode.MQTT_ERR_SUCCESS

        client.ack = ack  # type: ignore[method-assign]
        await intake.stop()

    late_acks: list[int] = []
    with _vendor(mosquitto, "late-vendor") as vendor:
        asyncio.run(main(vendor))
    assert len(sink.held) == 1 and [r.raw_value for r in sink.batches] == [3.0]
    sink.held[0]()  # the late commit: nothing handed to the stopped client
    assert late_acks == []
