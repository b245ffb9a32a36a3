"""OPC UA intake: the PushedDriver for every OPC UA device of a site.

Each device has an ``OpcUaHub`` (``hub.py``) that owns its session and subscription; this
module turns what the hubs report into readings, device status and dead letters:

* A data change is judged by its status code (``mapping.judge_status``: Good -> good,
  Uncertain -> uncertain, Bad -> bad, the code's name in the reason), its time by
  ``occmon.plausibility.check_time`` with ``SiteConfig.trust`` exactly as the MQTT intake
  does: ahead by more than ``max_future_skew`` -> the arrival time, ``uncertain``
  ``clock-skew`` (the value still reaches the alarm engine: a real leak from a panel with a
  wrong clock must alarm); older than ``max_age_days`` -> a ``too-old`` dead letter. Then the
  value goes through ``gateway.normalise`` (canonical unit, measuring range, physics) like
  every other driver's.
* An OPC UA server reports a value only when it changes, and a steady 0 ppm is what a gas
  panel says most of the day. While the subscription is alive the server vouches that an
  unreported value is unchanged, so each sensor's last reading is repeated at the current
  time once a publishing interval has passed without one: its points stay current, and the
  staleness judged on ``publishing_interval`` (``OpcUaDevice.poll_interval``) means what it
  means for a polled device.
* When the connection is lost the device is offline at once: a status, the held readings
  dropped (never repeated as live), and one BAD ``device-offline`` reading per sensor per
  publishing interval until the subscription is back. A node the server refuses (unknown
  node id) is a BAD ``opcua-bad:<code>`` reading and a ``node-rejected`` dead letter.

Every code is counted (``opcua.*`` in ``Gateway.counters()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncua import ua

from gateway.driver import DeviceStatus, Sink
from gateway.logthrottle import Throttle, ThrottledLog
from gateway.normalise import Binding, normalise
from gateway.opcua.hub import ClientFactory, OpcUaHub, default_client
from gateway.opcua.mapping import (
    NODE_REJECTED,
    TOO_OLD,
    WRONG_TYPE,
    WireValueError,
    judge_status,
    number,
    sample_time,
    status_name,
)
from gateway.sink import DeadLetter
from occmon.config.opcua import OpcUaDevice
from occmon.config.schema import SiteConfig
from occmon.config.trust import TrustConfig
from occmon.model import Quality, Reading, Reason, iso_utc
from occmon.plausibility import Implausible, check_time

log = logging.getLogger(__name__)

DEAD_LETTER_BURST = 20  # full dead letters per (device, code) per minute; the rest counted
MAX_VALUE_TEXT = 200  # characters of a rejected value kept in its dead letter
STALE_AFTER = 2.0  # publishing intervals online without a first value -> BAD ``stale``


@dataclass(eq=False)
class _Device:
    config: OpcUaDevice
    bindings: dict[str, list[Binding]]  # field name -> the sensors bound to it
    hub: OpcUaHub
    held: dict[str, Reading] = field(default_factory=dict)  # sensor id -> last reading
    online_since: float | None = None  # monotonic; None while offline
    # wall time of the last BAD device-offline batch; None until the hub reports offline (a
    # gateway starting up says nothing about a device it has not tried yet)
    offline_sent: float | None = None

    @property
    def id(self) -> str:
        return self.config.id

    def all_bindings(self) -> list[Binding]:
        return [b for bound in self.bindings.values() for b in bound]


class OpcUaIntake:
    """PushedDriver for the OPC UA devices of one site (one hub per device)."""

    def __init__(
        self,
        devices: Sequence[OpcUaDevice],
        bindings: Sequence[Binding],
        *,
        trust: TrustConfig | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        client_factory: ClientFactory = default_client,
        env: Mapping[str, str] | None = None,
        backoff_first: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.trust = trust or TrustConfig()
        self._clock, self._monotonic = clock, monotonic
        self._devices: dict[str, _Device] = {}
        for device in devices:
            fields: dict[str, list[Binding]] = {}
            for binding in bindings:
                if binding.sensor.device == device.id and binding.sensor.field is not None:
                    fields.setdefault(binding.sensor.field, []).append(binding)
            hub = OpcUaHub(device, self, client_factory=client_factory, clock=clock, env=env,
                           backoff_first=backoff_first, backoff_max=backoff_max)
            self._devices[device.id] = _Device(device, fields, hub)
        self._stats: Counter[str] = Counter()
        self._rejects = Throttle(60.0, clock=monotonic, burst=DEAD_LETTER_BURST)
        self._log = ThrottledLog(log, Throttle(60.0, clock=monotonic))
        self._sink: Sink | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def for_site(cls, config: SiteConfig, bindings: Mapping[str, Binding]) -> OpcUaIntake:
        """The intake of a site's OPC UA devices (none: it starts nothing)."""
        devices = [d for d in config.devices if isinstance(d, OpcUaDevice)]
        return cls(devices, list(bindings.values()), trust=config.trust)

    # -- PushedDriver ----------------------------------------------------------------------

    async def start(self, sink: Sink) -> None:
        """Start one hub and one ticker per device; returns at once (hubs reconnect)."""
        self._sink = sink
        for device in self._devices.values():
            self._tasks.append(asyncio.create_task(device.hub.run(), name=f"opcua-{device.id}"))
            self._tasks.append(asyncio.create_task(self._tick(device),
                                                   name=f"opcua-tick-{device.id}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sink = None

    @property
    def device_count(self) -> int:
        return len(self._devices)

    def counters(self) -> dict[str, int]:
        out = {f"opcua.{k}": v for k, v in self._stats.items()}
        for device in self._devices.values():
            out[f"opcua.{device.id}.connects"] = device.hub.connects
            out[f"opcua.{device.id}.failures"] = device.hub.failures
            out[f"opcua.{device.id}.untrusted"] = device.hub.untrusted
        return out

    # -- what the hubs report (HubOwner) ---------------------------------------------------

    def changed(self, device_id: str, name: str, value: ua.DataValue, arrival: float) -> None:
        device = self._devices[device_id]
        self._stats["changes"] += 1
        try:
            readings = self._readings(device, name, value, arrival)
        except Exception as exc:  # one bad notification never stops the intake
            self._log.exception((device_id, "internal-error"),
                                "opcua intake: device %s field %s failed", device_id, name)
            self._reject(device, name, "internal-error", str(exc), value, arrival)
            return
        self._emit(device, readings)

    def rejected(self, device_id: str, name: str, node: str, code: int) -> None:
        """The server refused to monitor ``node``: its sensors are BAD until it accepts."""
        device = self._devices[device_id]
        reason = f"opcua-bad:{status_name(code)}"
        now = self._clock()
        message = f"server refused to monitor {node} ({reason})"
        self._stats[f"rejected.{NODE_REJECTED}"] += 1
        self._log.warning((device_id, name, NODE_REJECTED), "opcua intake: device %s field %s: %s",
                          device_id, name, message)
        self._dead_letter(device, node, NODE_REJECTED, message,
                          json.dumps({"node": node, "status": status_name(code)}).encode(), now)
        self._emit(device, [self._fault(b, now, reason) for b in device.bindings.get(name, ())])

    def state(self, device_id: str, online: bool, reason: str | None) -> None:
        device = self._devices[device_id]
        now = self._clock()
        if self._sink is not None:
            self._sink.status(DeviceStatus(device_id, online, now, reason))
        if online:
            device.online_since = self._monotonic()
            return  # (held was emptied when it went offline: only new values repeat)
        self._stats["offline"] += 1
        device.online_since = None
        device.held.clear()  # never repeat a value the server no longer vouches for
        self._offline_readings(device, now)

    # -- readings --------------------------------------------------------------------------

    def _readings(self, device: _Device, name: str, value: ua.DataValue,
                  arrival: float) -> list[Reading]:
        status = value.StatusCode.value if value.StatusCode is not None else 0
        judged = judge_status(status)
        moment = sample_time(value.SourceTimestamp, value.ServerTimestamp, arrival)
        skewed = False
        try:
            check_time(moment, arrival, self.trust)
        except Implausible as exc:
            if exc.code != Reason.CLOCK_SKEW:
                self._reject(device, name, TOO_OLD, str(exc), value, arrival)
                for binding in device.bindings.get(name, ()):
                    device.held.pop(binding.sensor.id, None)
                return []
            # The server's clock runs ahead: keep the value (it may be a real leak) at the
            # time it arrived, marked uncertain, and say so once a minute.
            moment, skewed = arrival, True
            self._stats["clock_skew"] += 1
            self._log.warning((device.id, Reason.CLOCK_SKEW),
                              "opcua intake: device %s field %s: %s; arrival time used",
                              device.id, name, exc)
        raw = value.Value.Value if value.Value is not None else None
        fault: str | None = None
        try:
            sample = number(raw)
            if sample is None and judged.quality is not Quality.BAD:
                raise WireValueError(WRONG_TYPE, f"{judged.quality} status with an empty value")
        except WireValueError as exc:
            sample = None
            if judged.quality is not Quality.BAD:
                self._reject(device, name, exc.code, str(exc), value, arrival)
                fault = exc.code
        if judged.quality is Quality.BAD:
            fault = judged.reason
            self._stats["bad_status"] += 1
        readings = []
        for binding in device.bindings.get(name, ()):
            unit = binding.sensor.unit or binding.canonical_unit
            reading = normalise(binding, sample, moment, unit=unit, fault=fault)
            if reading.quality is Quality.GOOD and judged.quality is Quality.UNCERTAIN:
                self._stats["uncertain_status"] += 1
                reading = dataclasses.replace(reading, quality=Quality.UNCERTAIN,
                                              reason=judged.reason)
            elif reading.quality is Quality.GOOD and skewed:
                reading = dataclasses.replace(reading, quality=Quality.UNCERTAIN,
                                              reason=str(Reason.CLOCK_SKEW))
            if reading.reason == Reason.IMPLAUSIBLE:
                self._stats["implausible"] += 1
            readings.append(reading)
        return readings

    def _fault(self, binding: Binding, now: float, reason: str) -> Reading:
        unit = binding.sensor.unit or binding.canonical_unit
        return normalise(binding, None, now, unit=unit, fault=reason)

    def _emit(self, device: _Device, readings: list[Reading]) -> None:
        for reading in readings:
            device.held[reading.sensor] = reading
        if readings and self._sink is not None:
            self._stats["readings"] += len(readings)
            self._sink.readings(readings)

    def _offline_readings(self, device: _Device, now: float) -> None:
        device.offline_sent = now
        readings = [self._fault(b, now, Reason.DEVICE_OFFLINE) for b in device.all_bindings()]
        if readings and self._sink is not None:
            self._stats["offline_readings"] += len(readings)
            self._sink.readings(readings)

    async def _tick(self, device: _Device) -> None:
        """Every half publishing interval: repeat held values, or mark the gap."""
        interval = device.config.publishing_interval
        while True:
            await asyncio.sleep(interval / 2)
            self.repeat(device.id)

    def repeat(self, device_id: str) -> None:
        """Each sensor's reading for the interval that passed without one (see the module
        docstring); called by the ticker."""
        device = self._devices[device_id]
        interval = device.config.publishing_interval
        now = self._clock()
        if device.online_since is None:
            if device.offline_sent is not None and now - device.offline_sent >= interval:
                self._offline_readings(device, now)
            return
        online_for = self._monotonic() - device.online_since
        out: list[Reading] = []
        for binding in device.all_bindings():
            held = device.held.get(binding.sensor.id)
            if held is None:
                if online_for >= STALE_AFTER * interval:
                    out.append(self._fault(binding, now, Reason.STALE))
            elif now - held.time >= interval:
                out.append(dataclasses.replace(held, time=now))
        if out:
            self._stats["repeated"] += len(out)
        self._emit(device, out)

    # -- rejects ---------------------------------------------------------------------------

    def _reject(self, device: _Device, name: str, code: str, message: str,
                value: ua.DataValue, arrival: float) -> None:
        self._stats[f"rejected.{code}"] += 1
        node = device.config.nodes.get(name, "")
        self._log.warning((device.id, name, code), "opcua intake: device %s field %s (%s): %s",
                          device.id, name, node, message)
        if self._rejects.admit((device.id, code)) is None:
            self._stats["rejects_suppressed"] += 1
            return
        self._dead_letter(device, node, code, message, _describe(value), arrival)

    def _dead_letter(self, device: _Device, node: str, code: str, message: str, body: bytes,
                     when: float) -> None:
        self._stats["dead_letters"] += 1
        dead_letter = getattr(self._sink, "dead_letter", None)
        if dead_letter is not None:
            dead_letter(DeadLetter(device.id, node, code, message, body, when))


def _describe(value: ua.DataValue) -> bytes:
    """The data change as JSON for a dead letter: what the server sent, readable."""
    doc: dict[str, Any] = {
        # bounded: a server may send a megabyte of text where a number belongs
        "value": repr(value.Value.Value)[:MAX_VALUE_TEXT] if value.Value is not None else None,
        "status": status_name(value.StatusCode.value) if value.StatusCode is not None else None,
    }
    for key, moment in (("source_time", value.SourceTimestamp),
                        ("server_time", value.ServerTimestamp)):
        if moment is not None:
            with contextlib.suppress(ValueError, OverflowError, OSError):
                doc[key] = iso_utc(sample_time(moment, None, 0.0))
    return json.dumps(doc).encode()
