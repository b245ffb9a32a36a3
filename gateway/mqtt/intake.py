"""MQTT sensor intake: the hub for every MQTT device of a site (a PushedDriver).

One paho client with a stable id and a persistent session (``clean_session=False``, QoS 1)
subscribes to each device's topic, so messages sent while the gateway is down wait in the
broker. The PUBACK to the sensor is held (``manual_ack``) until the sink has committed what
the message became, so a gateway killed mid-message gets it again instead of losing it.

Every message becomes readings, a dead letter with a reason, or both (good fields of a
message with a bad field still count).

Silence is a fault: a device silent for ``stale_after_polls`` expected intervals (its
``interval``, else learnt from its rate, else 40 s: ``occmon.cadence``; or its
``expire_after`` given outright) goes offline, and each sensor without a value for that
long gets a BAD ``stale`` reading (repeated every window), so the gap is explicit in the
store and the alarm engine raises a fault alarm on it at once.

Time: each sample's time is judged against the gateway's clock at arrival
(``occmon.plausibility.check_time`` with ``SiteConfig.trust``). A time ahead by more than
``max_future_skew`` is replaced by the arrival time and the reading marked ``uncertain``
``clock-skew``: the value is kept and still reaches the alarm engine, because a real high
value from a device with a wrong clock must alarm. A time older than ``max_age_days`` is
dead-lettered (``too-old``). A value outside physics is a BAD ``implausible`` reading
(``gateway.normalise``).

Floods: paho's thread only appends each message to a deque; the event loop drains it in
slices of at most ``drain_batch`` messages or ``drain_budget`` seconds and yields to the
loop between slices, so Modbus polls, ticks and commits run while a flood is worked off.
QoS 1 messages are never dropped: their PUBACK is held until the commit, so the broker's
in-flight window (Mosquitto's ``max_inflight_messages``, 20 by default) is the
back-pressure. QoS 0 messages (which the sender sent at most once) beyond ``max_pending``
waiting are dropped, counted per topic (``mqtt.dropped.overflow``) and reported in an
``intake-overflow`` dead letter at most once a second while the flood lasts and once when it
ends. Repeated rejects of one (device, code) are dead-lettered ``dead_letter_burst`` times a
minute in full; the rest are counted and summarised in one ``rejects-suppressed`` dead
letter, so garbage cannot crowd the queue (whose events are never dropped). Log lines for
rejects are written once a minute per (device, topic, code) (``gateway.logthrottle``).

Threads: paho's thread only appends to the deque (under a lock) and wakes the loop;
everything else runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.driver import DeviceStatus, Sink
from gateway.logthrottle import Throttle, ThrottledLog
from gateway.mqtt.mapping import MappingError, extract
from gateway.normalise import Binding, normalise
from gateway.sink import DeadLetter
from occmon.cadence import Cadence
from occmon.config.schema import MqttDevice
from occmon.config.tls import BrokerTls
from occmon.config.trust import TrustConfig
from occmon.model import Quality, Reading, Reason
from occmon.mqttclient import ClientOptions, apply, stop_loop
from occmon.plausibility import Implausible, check_time
from thresholds.lod import parse_result

log = logging.getLogger(__name__)

UNKNOWN_TOPIC = "unknown-topic"
NORMALISE_FAILED = "normalise-failed"
TOO_OLD = "too-old"
INTAKE_OVERFLOW = "intake-overflow"
REJECTS_SUPPRESSED = "rejects-suppressed"

MAX_PENDING = 10_000  # QoS 0 messages waiting for the loop before new ones are dropped
DRAIN_BATCH = 200  # messages handled per loop turn at most
DRAIN_BUDGET = 0.005  # seconds of one loop turn spent on messages at most
DEAD_LETTER_BURST = 20  # full dead letters per (device, code) per minute; the rest counted
OVERFLOW_REPORT_EVERY = 1.0  # seconds between two intake-overflow dead letters
_MAX_OVERFLOW_TOPICS = 100  # distinct topics counted in one overflow report

_Message = tuple[str, bytes, int, int, float]  # topic, payload, mid, qos, arrival


@dataclass(eq=False)
class _Device:
    config: MqttDevice
    bindings: list[Binding]
    last_message: float  # monotonic
    cadence: Cadence
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
        tls: BrokerTls | None = None,
        keepalive: int = 30,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        trust: TrustConfig | None = None,
        max_pending: int = MAX_PENDING,
        drain_batch: int = DRAIN_BATCH,
        drain_budget: float = DRAIN_BUDGET,
        dead_letter_burst: int = DEAD_LETTER_BURST,
        stale_after_polls: int = 3,
    ) -> None:
        self.host, self.port = host, port
        self._polls = stale_after_polls
        self.trust = trust or TrustConfig()
        self._max_pending = max_pending
        self._drain_batch = max(1, drain_batch)
        self._drain_budget = drain_budget
        # paho thread -> loop: the deque, whether a drain is scheduled, dropped QoS 0 counts
        self._lock = threading.Lock()
        self._pending: deque[_Message] = deque()
        self._draining = False
        self._overflow: Counter[str] = Counter()
        self._overflow_reported = 0.0  # monotonic
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rejects = Throttle(60.0, clock=monotonic, burst=dead_letter_burst)
        self._log = ThrottledLog(log, Throttle(60.0, clock=monotonic))
        self.client_id = client_id
        self._auth = ClientOptions(username=username, password=password, tls=tls)
        self._keepalive = keepalive
        self._clock, self._monotonic = clock, monotonic
        now = monotonic()
        self._devices = [
            _Device(d, [b for b in bindings if b.sensor.device == d.id], now, Cadence(d))
            for d in devices
        ]
        self._stats: Counter[str] = Counter()
        self._sink: Sink | None = None
        self._client: mqtt.Client | None = None
        self._watchdog: asyncio.Task[None] | None = None

    # -- PushedDriver ----------------------------------------------------------------------

    async def start(self, sink: Sink) -> None:
        """Subscribe and start delivering to ``sink``; returns at once (reconnects itself)."""
        loop = self._loop = asyncio.get_running_loop()
        with self._lock:  # what a previous run left unacknowledged, the broker sends again
            self._pending.clear()
            self._draining = False
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
        apply(client, **self._auth)  # login and TLS (occmon/mqttclient.py)

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
            self._arrive((msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._clock()))

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
        self._loop = None  # a drain still scheduled finds no loop and stops
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            await asyncio.get_running_loop().run_in_executor(None, stop_loop, client)

    @property
    def device_count(self) -> int:
        return len(self._devices)

    def counters(self) -> dict[str, int]:
        return {f"mqtt.{k}": v for k, v in self._stats.items()}

    def windows(self) -> dict[str, float]:
        """Seconds of silence after which each device is offline, as judged now."""
        return {d.id: d.cadence.window(self._polls) for d in self._devices}

    @property
    def pending(self) -> int:
        """Messages received and not yet handled (the flood backlog)."""
        return len(self._pending)

    # -- paho thread -> loop ---------------------------------------------------------------

    def _arrive(self, message: _Message) -> None:
        """paho's thread: queue the message; wake the loop if no drain is scheduled."""
        topic, qos = message[0], message[3]
        with self._lock:
            if qos == 0 and len(self._pending) >= self._max_pending:
                if topic in self._overflow or len(self._overflow) < _MAX_OVERFLOW_TOPICS:
                    self._overflow[topic] += 1
                else:
                    self._overflow["(other topics)"] += 1
                return  # a drain is scheduled: the deque is full
            self._pending.append(message)
            if self._draining:
                return
            self._draining = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed while stopping
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """One slice of the backlog, then yield: polls and ticks run between slices."""
        loop = self._loop
        if loop is None:
            return
        deadline = time.perf_counter() + self._drain_budget
        for _ in range(self._drain_batch):
            with self._lock:
                if not self._pending:
                    self._draining = False
                    break
                message = self._pending.popleft()
            self._handle(*message)
            if time.perf_counter() >= deadline:
                break
        with self._lock:
            more = self._draining
        self._report_overflow(final=not more)
        if more:
            self._stats["drain_yields"] += 1
            loop.call_soon(self._drain)

    def _report_overflow(self, *, final: bool = False) -> None:
        now = self._monotonic()
        if not final and now - self._overflow_reported < OVERFLOW_REPORT_EVERY:
            return
        with self._lock:
            dropped, self._overflow = self._overflow, Counter()
        if not dropped:
            return
        self._overflow_reported = now
        total = sum(dropped.values())
        self._stats["dropped.overflow"] += total
        worst = dropped.most_common(10)
        listed = ", ".join(f"{topic} x{n}" for topic, n in worst)
        message = (f"intake flooded: {total} QoS 0 messages dropped unread while "
                   f"{self._max_pending} waited ({listed})")
        summary = json.dumps({"dropped": total, "topics": dict(worst)}).encode()
        self._dead_letter("gateway", worst[0][0], INTAKE_OVERFLOW, message, summary,
                          self._clock())

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
            self._log.exception(("internal-error", topic), "mqtt intake: message on %s failed",
                                topic)
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
        moment, skewed = sample.time, False
        try:
            check_time(moment, arrival, self.trust)
        except Implausible as exc:
            if exc.code != Reason.CLOCK_SKEW:
                self._reject(device.id, topic, TOO_OLD if exc.code == "too-old" else exc.code,
                             str(exc), payload, arrival)
                return
            # The device's clock runs ahead: keep the value (it may be a real leak) at the
            # time it arrived, marked uncertain, and say so once a minute.
            moment, skewed = arrival, True
            self._stats["clock_skew"] += 1
            self._log.warning((device.id, Reason.CLOCK_SKEW),
                              "mqtt intake: device %s: %s; arrival time used", device.id, exc)
        device.cadence.observe(moment, timed=device.config.mapping.time is not None
                               and not skewed)
        readings: list[Reading] = []
        problems = list(sample.problems)
        for binding in device.bindings:
            name = binding.sensor.field
            if name is None or (name not in sample.values and name not in sample.below_lod):
                continue
            unit = binding.sensor.unit or binding.canonical_unit
            try:
                if name in sample.below_lod:
                    reading = below_lod(binding, sample.below_lod[name], moment, unit)
                else:
                    reading = normalise(binding, sample.values[name], moment, unit=unit)
                if skewed and reading.quality is Quality.GOOD:
                    reading = dataclasses.replace(reading, quality=Quality.UNCERTAIN,
                                                  reason=str(Reason.CLOCK_SKEW))
                if reading.reason == Reason.IMPLAUSIBLE:
                    self._stats["implausible"] += 1
                readings.append(reading)
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
        """Count a rejected message; dead-letter it in full unless this (source, code) has
        had its ``dead_letter_burst`` this minute (then it is summarised later)."""
        self._stats[f"rejected.{code}"] += 1
        self._log.warning((source, topic, code), "mqtt intake: %s on %s: %s",
                          code, topic, message)
        if self._rejects.admit((source, code)) is None:
            self._stats["rejects_suppressed"] += 1
            return
        self._dead_letter(source, topic, code, message, payload, when)

    def _dead_letter(
        self, source: str, topic: str, code: str, message: str, payload: bytes, when: float
    ) -> None:
        self._stats["dead_letters"] += 1
        letter = DeadLetter(source, topic, code, message, payload, when)
        dead_letter = getattr(self._sink, "dead_letter", None)
        if dead_letter is not None:
            dead_letter(letter)

    def _summarise_rejects(self) -> None:
        """One dead letter per (source, code) for the rejects counted but not dead-lettered
        in the minute that has passed: the count is never lost."""
        for key, count in self._rejects.due().items():
            source, code = key if isinstance(key, tuple) and len(key) == 2 else (
                "gateway", "mixed")
            message = (f"{count} more {code} rejects from {source} in the last minute were "
                       f"counted (mqtt.rejected.{code}) but not dead-lettered one by one")
            body = json.dumps({"code": code, "suppressed": count}).encode()
            self._dead_letter(str(source), "", REJECTS_SUPPRESSED, message, body, self._clock())

    def _status(self, status: DeviceStatus) -> None:
        if self._sink is not None:
            self._sink.status(status)

    def _ack_after_commit(self, mid: int, qos: int) -> None:
        client = self._client
        if qos == 0 or client is None:
            return

        def ack() -> None:
            # A commit that lands after stop() must not touch the stopped client (its wake-up
            # sockets are closed): the message stays unacknowledged, and the broker sends it
            # again to the next session, as after any stop before a commit.
            if self._client is client:
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
        while True:
            # a tenth of the shortest window: a silence is marked within 10 % of it
            period = max(0.05, min(min(self.windows().values()) / 10, 5.0))
            await asyncio.sleep(period)
            self.check_expiry()
            self._summarise_rejects()
            self._report_overflow(final=not self._draining)

    def check_expiry(self) -> None:
        """Offline devices and stale sensors past their window; called by the watchdog."""
        now = self._monotonic()
        wall = self._clock()
        for device in self._devices:
            expire = device.cadence.window(self._polls)
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


def below_lod(binding: Binding, text: str, moment: float, unit: str) -> Reading:
    """A field reported below the detection limit (``<0.05``, or ``ND`` with the sensor's
    ``detection_limit``): LOD x 0.5 enters (thresholds.lod), uncertain, reason
    ``below-lod``, the limit kept as the raw value. ValueError when no limit is known."""
    reported = parse_result(text, binding.sensor.detection_limit)
    reading = normalise(binding, reported.value, moment, unit=unit, uncertain=Reason.BELOW_LOD)
    return dataclasses.replace(reading, raw_value=reported.lod, raw_unit=unit)
