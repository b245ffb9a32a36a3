"""MQTT sensor intake: the hub for every MQTT device of a site (a PushedDriver).

One paho client with a stable id and a persistent session (``clean_session=False``, QoS 1)
subscribes to each device's topic, so messages sent while the gateway is down wait in the
broker. The PUBACK to the sensor is held (``manual_ack``) until the sink has committed what
the message became, so a gateway killed mid-message gets it again instead of losing it.

Every message becomes readings, a dead letter with a reason, or both (good fields of a
message with a bad field still count). A device silent for ``expire_after`` goes offline,
and each sensor without a good value for that long gets a BAD ``stale`` reading (repeated
every ``expire_after``), so the gap is explicit in the store.

Threads: paho's thread only posts to the event loop; everything else runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.driver import DeviceStatus, Sink
from gateway.mqtt.mapping import MappingError, extract
from gateway.normalise import Binding, normalise
from gateway.sink import DeadLetter
from occmon.config.schema import MqttDevice
from occmon.model import Reading, Reason

log = logging.getLogger(__name__)

UNKNOWN_TOPIC = "unknown-topic"
NORMALISE_FAILED = "normalise-failed"


@dataclass(eq=False)
class _Device:
    config: MqttDevice
    bindings: list[Binding]
    last_message: float  # monotonic
    online: bool | None = None
    last_good: dict[str, float] = field(default_factory=dict)  # sensor id -> monotonic
    stale_marked: dict[str, float] = field(default_factory=dict)  # sensor id -> monotonic

    @property
    def id(self) -> str:
        return self.config.id


class MqttIntake:
    """PushedDriver for the MQTT devices of one site on one broker."""

    def __init__(
        self,
        devices: Sequence[MqttDevice],
        bindings: Sequence[Binding],
        *,
        host: str,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port = host, port
        self.client_id = client_id
        self._auth = (username, password)
        self._keepalive = keepalive
        self._clock, self._monotonic = clock, monotonic
        now = monotonic()
        self._devices = [
            _Device(d, [b for b in bindings if b.sensor.device == d.id], now) for d in devices
        ]
        self._stats: Counter[str] = Counter()
        self._sink: Sink | None = None
        self._client: mqtt.Client | None = None
        self._watchdog: asyncio.Task[None] | None = None

    # -- PushedDriver ----------------------------------------------------------------------

    async def start(self, sink: Sink) -> None:
        """Subscribe and start delivering to ``sink``; returns at once (reconnects itself)."""
        loop = asyncio.get_running_loop()
        self._sink = sink
        now = self._monotonic()
        for device in self._devices:
            device.last_message = now
            for binding in device.bindings:
                device.last_good.setdefault(binding.sensor.id, now)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.reconnect_delay_set(1, 30)
        if self._auth[0] is not None:
            client.username_pw_set(*self._auth)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                return
            # Subscribing again on every connect is harmless with a stored session and
            # needed when the broker lost it (no persistence, or a first connect).
            topics = sorted({d.config.topic for d in self._devices})
            if topics:
                c.subscribe([(t, 1) for t in topics])
            loop.call_soon_threadsafe(self._count, "connects")

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            arrival = self._clock()
            loop.call_soon_threadsafe(
                self._handle, msg.topic, bytes(msg.payload), msg.mid, msg.qos, arrival
            )

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect_async(self.host, self.port, self._keepalive)
        client.loop_start()
        self._client = client
        self._watchdog = asyncio.create_task(self._watch(), name="mqtt-intake-watchdog")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            await asyncio.get_running_loop().run_in_executor(None, client.loop_stop)

    @property
    def device_count(self) -> int:
        return len(self._devices)

    def counters(self) -> dict[str, int]:
        return {f"mqtt.{k}": v for k, v in self._stats.items()}

    # -- messages --------------------------------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        self._stats[key] += n

    def _route(self, topic: str) -> _Device | None:
        for device in self._devices:
            if mqtt.topic_matches_sub(device.config.topic, topic):
                return device
        return None

    def _handle(self, topic: str, payload: bytes, mid: int, qos: int, arrival: float) -> None:
        self._stats["messages"] += 1
        try:
            self._accept(topic, payload, arrival)
        except Exception as exc:  # one bad message never stops the intake
            log.exception("mqtt intake: message on %s failed", topic)
            self._reject("gateway", topic, "internal-error", str(exc), payload, arrival)
        self._ack_after_commit(mid, qos)

    def _accept(self, topic: str, payload: bytes, arrival: float) -> None:
        device = self._route(topic)
        if device is None:
            message = f"no MQTT device subscribes to {topic!r} (a subscription left over?)"
            self._reject("gateway", topic, UNKNOWN_TOPIC, message, payload, arrival)
            return
        now = self._monotonic()
        device.last_message = now
        if device.online is not True:
            device.online = True
            self._status(DeviceStatus(device.id, True, arrival))
        try:
            sample = extract(payload, device.config.mapping, arrival)
        except MappingError as exc:
            self._reject(device.id, topic, exc.code, str(exc), payload, arrival)
            return
        readings: list[Reading] = []
        problems = list(sample.problems)
        for binding in device.bindings:
            name = binding.sensor.field
            if name is None or name not in sample.values:
                continue
            unit = binding.sensor.unit or binding.canonical_unit
            try:
                readings.append(normalise(binding, sample.values[name], sample.time, unit=unit))
            except Exception as exc:
                self._reject(device.id, topic, NORMALISE_FAILED, str(exc), payload, arrival)
                continue
            device.last_good[binding.sensor.id] = now
            device.stale_marked.pop(binding.sensor.id, None)
        if readings and self._sink is not None:
            self._sink.readings(readings)
            self._stats["readings"] += len(readings)
        if problems:
            for problem in problems[1:]:
                self._stats[f"rejected.{problem.code}"] += 1
            message = "; ".join(p.message for p in problems)
            self._reject(device.id, topic, problems[0].code, message, payload, arrival)

    def _reject(
        self, source: str, topic: str, code: str, message: str, payload: bytes, when: float
    ) -> None:
        self._stats[f"rejected.{code}"] += 1
        self._stats["dead_letters"] += 1
        letter = DeadLetter(source, topic, code, message, payload, when)
        log.warning("mqtt intake: %s on %s: %s", code, topic, message)
        dead_letter = getattr(self._sink, "dead_letter", None)
        if dead_letter is not None:
            dead_letter(letter)

    def _status(self, status: DeviceStatus) -> None:
        if self._sink is not None:
            self._sink.status(status)

    def _ack_after_commit(self, mid: int, qos: int) -> None:
        client = self._client
        if qos == 0 or client is None:
            return

        def ack() -> None:
            client.ack(mid, qos)

        after_commit = getattr(self._sink, "after_commit", None)
        if after_commit is None:
            ack()
        else:
            after_commit(ack)

    # -- expiry ----------------------------------------------------------------------------

    async def _watch(self) -> None:
        if not self._devices:
            return
        period = max(0.05, min(d.config.expire_after for d in self._devices) / 4)
        while True:
            await asyncio.sleep(period)
            self.check_expiry()

    def check_expiry(self) -> None:
        """Offline devices and stale sensors past ``expire_after``; called by the watchdog."""
        now = self._monotonic()
        wall = self._clock()
        for device in self._devices:
            expire = device.config.expire_after
            if device.online is not False and now - device.last_message > expire:
                device.online = False
                self._stats["offline"] += 1
                self._status(DeviceStatus(device.id, False, wall, Reason.STALE))
            stale: list[Reading] = []
            for binding in device.bindings:
                sensor = binding.sensor.id
                since = device.stale_marked.get(sensor, device.last_good.get(sensor, now))
                if now - since > expire:
                    device.stale_marked[sensor] = now
                    unit = binding.sensor.unit or binding.canonical_unit
                    stale.append(normalise(binding, None, wall, unit=unit, fault=Reason.STALE))
            if stale and self._sink is not None:
                self._stats["stale"] += len(stale)
                self._sink.readings(stale)
