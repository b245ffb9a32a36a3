"""A Modbus device (one unit id behind a hub): poll its registers, turn them into Readings.

The device holds data and pure decoding; the hub holds the connection. ``poll`` runs the
planned reads, decodes each bound sensor's register (byte order, scale, offset), reads the
device's own status word and fault inputs, and hands each value to ``gateway.normalise``
so that Modbus and MQTT values get the same quality checks.

Failure handling, by layer:

- no answer (timeout, refused, back-off) -> ``DeviceOffline``; the poller marks the points
- a Modbus exception response -> the sensors on that request are bad ``modbus-exception``
  (counted), the others still good, the device stays online
- a status-word fault bit or a fault input -> every value of the device is ``sensor-fault``
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.driver import DeviceOffline
from gateway.modbus.codec import apply_scale, decode, encode
from gateway.modbus.hub import ExceptionResponse, HubOffline, ModbusConfig, ModbusHub
from gateway.modbus.plan import ReadRequest, plan_reads
from gateway.modbus.profile import Profile, Register
from gateway.normalise import Binding, normalise
from occmon.model import Reading, Reason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BoundRegister:
    """A sensor bound to the register that carries its value."""

    binding: Binding
    register: Register

    @property
    def unit(self) -> str:
        """Unit of the engineering value: the sensor's if given, else the profile's."""
        return self.binding.sensor.unit or self.register.unit or ""


class ModbusDevice:
    """Implements ``gateway.driver.PolledDriver`` for one Modbus unit."""

    def __init__(
        self,
        config: ModbusConfig,
        profile: Profile,
        bound: Sequence[BoundRegister],
        hub: ModbusHub,
        *,
        max_gap: int = 0,
    ) -> None:
        self.config = config
        self.profile = profile
        self.bound = list(bound)
        self.hub = hub
        hub.attach()
        # Read what the sensors need plus the device's own health (status words, fault and
        # feedback inputs); never the command outputs.
        wanted = {b.register.name: b.register for b in self.bound}
        for register in profile.registers:
            if register.role in ("status", "fault", "feedback"):
                wanted.setdefault(register.name, register)
        self.requests: list[ReadRequest] = plan_reads(wanted.values(), max_gap=max_gap)
        self._registers = {r.name: r for r in profile.registers}
        self.values: dict[str, float | int] = {}  # last decoded value of each register read
        self.counters: Counter[str] = Counter()
        self.last_response = 0.0  # time.monotonic() when the last response of a poll arrived

    @property
    def device_id(self) -> str:
        return self.config.id

    @property
    def interval(self) -> float:
        return self.config.poll_interval

    async def poll(self, now: float) -> list[Reading]:
        """Read every request once; bad readings for sensors whose request was refused."""
        words: dict[str, list[int]] = {}
        refused: dict[str, int] = {}  # register name -> Modbus exception code
        for request in self.requests:
            try:
                response = await self.hub.read(request, self.config.unit_id)
            except HubOffline as exc:
                self.counters[exc.reason] += 1
                raise DeviceOffline(self.device_id, exc.reason, exc.detail) from exc
            except ExceptionResponse as exc:
                self.counters["modbus-exception"] += 1
                log.debug("device %s: %s", self.device_id, exc)
                for register in request.registers:
                    refused[register.name] = exc.code
                continue
            for register in request.registers:
                words[register.name] = request.slice_of(register, response)
        self.last_response = time.monotonic()
        registers = self._registers
        self.values = {
            name: decode(regs, registers[name].type, registers[name].byte_order)
            for name, regs in words.items()
        }
        fault = Reason.SENSOR_FAULT if self._faulted() else None
        if fault is not None:
            self.counters["sensor-fault"] += 1
        return [self._reading(b, now, refused, fault) for b in self.bound]

    def offline_readings(self, now: float, reason: str = Reason.DEVICE_OFFLINE) -> list[Reading]:
        """Explicit bad readings for every bound sensor while the device does not answer."""
        return [
            normalise(b.binding, None, now, unit=b.unit, fault=reason) for b in self.bound
        ]

    async def write(self, name: str, value: float) -> None:
        """Write a command register (e.g. a fan's ``run_command`` coil); scale is undone."""
        register = self.profile.register(name)
        if register.role != "command":
            raise ValueError(f"register {name!r} of profile {self.profile.name!r} is not a command")
        if register.type == "BOOL":
            raw = [1 if value else 0]
        else:
            raw = encode((value - register.offset) / register.scale, register.type,
                         register.byte_order)
        if len(raw) != 1:
            raise ValueError(f"register {name!r}: only single-register commands can be written")
        try:
            await self.hub.write(register.kind, register.address, raw[0], self.config.unit_id)
        except HubOffline as exc:
            raise DeviceOffline(self.device_id, exc.reason, exc.detail) from exc

    async def close(self) -> None:
        """Leave the hub; the connection closes when the last device on it has left."""
        await self.hub.release()

    def _faulted(self) -> bool:
        for register in self.profile.registers:
            value = self.values.get(register.name)
            if value is None:
                continue
            if register.role == "fault" and value:
                return True
            if register.role == "status" and any(
                int(value) >> bit & 1 for bit in register.fault_bits
            ):
                return True
        return False

    def _reading(
        self, bound: BoundRegister, now: float, refused: dict[str, int], fault: str | None
    ) -> Reading:
        register = bound.register
        if register.name in refused:
            return normalise(bound.binding, None, now, unit=bound.unit,
                             fault=Reason.MODBUS_EXCEPTION)
        value = apply_scale(self.values[register.name], register.scale, register.offset)
        if register.signal == "4-20mA":
            return normalise(bound.binding, None, now, unit=bound.unit, loop_ma=value,
                             fault=fault)
        return normalise(bound.binding, value, now, unit=bound.unit, fault=fault)
