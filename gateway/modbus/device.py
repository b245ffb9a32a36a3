"""A Modbus device (one unit id behind a hub): poll its registers, turn them into Readings.

The device holds data and pure decoding; the hub holds the connection. ``poll`` runs the
planned reads, decodes each bound sensor's register (byte order, scale, offset), reads the
device's own status word and fault inputs, and hands each value to ``gateway.normalise``
so that Modbus and MQTT values get the same quality checks.

Everything that does not change between polls is worked out once in ``__init__``: each
request's register slices and the ``struct`` formats that decode them (``RequestDecoder``:
one unpack per value, the same numbers as ``codec.decode``), each sensor's scale, offset
and unit, and the registers that can signal a fault. A poll is then reads plus arithmetic.

Failure handling, by layer:

- no answer (timeout, refused, back-off) -> ``DeviceOffline``; the poller marks the points
- a Modbus exception response -> the sensors on that request are bad ``modbus-exception``
  (counted), the others still good, the device stays online
- a status-word fault bit or a fault input -> every value of the device is ``sensor-fault``
"""

from __future__ import annotations

import logging
import struct
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.driver import DeviceOffline
from gateway.logthrottle import ThrottledLog
from gateway.modbus.codec import decode, encode
from gateway.modbus.hub import ExceptionResponse, HubOffline, ModbusConfig, ModbusHub
from gateway.modbus.plan import ReadRequest, plan_reads
from gateway.modbus.profile import Profile, Register
from gateway.normalise import Binding, normalise
from occmon.model import Reading, Reason

log = logging.getLogger(__name__)


# struct code of each numeric type (codec.decode's formats without the byte order)
_CODES = {"INT16": "h", "UINT16": "H", "INT32": "i", "UINT32": "I", "INT64": "q",
          "UINT64": "Q", "FLOAT32": "f", "FLOAT64": "d"}


@dataclass(frozen=True, slots=True)
class BoundRegister:
    """A sensor bound to the register that carries its value."""

    binding: Binding
    register: Register

    @property
    def unit(self) -> str:
        """Unit of the engineering value: the sensor's if given, else the profile's."""
        return self.binding.sensor.unit or self.register.unit or ""


class RequestDecoder:
    """Decodes every register of one read request from its response in one pass.

    The response's words are packed once big-endian and, if a register needs it, once
    with the bytes of each word swapped; each value is then one ``unpack_from``:

    - ABCD: big-endian words, big-endian value
    - DCBA: big-endian words, little-endian value (every byte reversed)
    - BADC: byte-swapped words, big-endian value
    - CDAB: byte-swapped words, little-endian value (word order reversed)

    The numbers are those of ``codec.decode`` (a test checks every type and order); a word
    that is not 16 bits goes to ``codec.decode`` for its CodecError.
    """

    def __init__(self, request: ReadRequest) -> None:
        self.request = request
        # bits (FC1/FC2), or a BOOL in a register read: decoded one by one by codec.decode
        self.one_by_one = request.kind in ("coil", "discrete") or any(
            r.type == "BOOL" for r in request.registers)
        self._big = struct.Struct(f">{request.count}H")
        self._swapped = struct.Struct(f"<{request.count}H")
        # (register name, byte offset, value format, needs byte-swapped words)
        self._values: list[tuple[str, int, struct.Struct, bool]] = []
        for register in request.registers:
            if self.one_by_one:
                break
            order = register.byte_order
            endian = "<" if order in ("DCBA", "CDAB") else ">"
            self._values.append((register.name, 2 * (register.address - request.address),
                                 struct.Struct(endian + _CODES[register.type]),
                                 order in ("BADC", "CDAB")))

    def decode(self, words: list[int], into: dict[str, float | int]) -> None:
        """Put each register's value into ``into``; CodecError if a word is not 16 bits."""
        request = self.request
        if self.one_by_one:
            for register in request.registers:
                into[register.name] = decode(request.slice_of(register, words), register.type,
                                             register.byte_order)
            return
        try:
            big = self._big.pack(*words)
            swapped = self._swapped.pack(*words) if any(v[3] for v in self._values) else big
        except struct.error:
            for register in request.registers:  # raises the CodecError naming the word
                decode(request.slice_of(register, words), register.type, register.byte_order)
            raise
        for name, offset, value, swap in self._values:
            into[name] = value.unpack_from(swapped if swap else big, offset)[0]


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
        self._decoders = [RequestDecoder(r) for r in self.requests]
        # (binding, register name, scale, offset, 4-20 mA loop?, unit) of each bound sensor
        self._sensors = [
            (b.binding, b.register.name, b.register.scale, b.register.offset,
             b.register.signal == "4-20mA", b.unit)
            for b in self.bound
        ]
        # registers whose value can mean "fault": (name, fault input?, status fault bits)
        self._fault_sources = [
            (r.name, r.role == "fault", r.fault_bits if r.role == "status" else ())
            for r in profile.registers
            if r.role == "fault" or (r.role == "status" and r.fault_bits)
        ]
        self.values: dict[str, float | int] = {}  # last decoded value of each register read
        self.counters: Counter[str] = Counter()
        self._log = ThrottledLog(log)  # an exception response: one line a minute per request
        self.last_response = 0.0  # time.monotonic() when the last response of a poll arrived

    @property
    def device_id(self) -> str:
        return self.config.id

    @property
    def interval(self) -> float:
        return self.config.poll_interval

    async def poll(self, now: float) -> list[Reading]:
        """Read every request once; bad readings for sensors whose request was refused."""
        values: dict[str, float | int] = {}
        refused: set[str] = set()  # names of registers whose request got an exception
        unit_id = self.config.unit_id
        for decoder in self._decoders:
            request = decoder.request
            try:
                response = await self.hub.read(request, unit_id)
            except HubOffline as exc:
                self.counters[exc.reason] += 1
                raise DeviceOffline(self.device_id, exc.reason, exc.detail) from exc
            except ExceptionResponse as exc:
                self.counters["modbus-exception"] += 1
                self._log.warning(("modbus-exception", exc.code, request.address),
                                  "device %s: %s", self.device_id, exc)
                refused.update(register.name for register in request.registers)
                continue
            decoder.decode(response, values)
        self.last_response = time.monotonic()
        self.values = values
        fault = Reason.SENSOR_FAULT if self._faulted() else None
        if fault is not None:
            self.counters["sensor-fault"] += 1
        readings = []
        for binding, name, scale, offset, loop, unit in self._sensors:
            if name in refused:
                readings.append(normalise(binding, None, now, unit=unit,
                                          fault=Reason.MODBUS_EXCEPTION))
                continue
            value = float(values[name]) * scale + offset  # codec.apply_scale
            if loop:
                readings.append(normalise(binding, None, now, unit=unit, loop_ma=value,
                                          fault=fault))
            else:
                readings.append(normalise(binding, value, now, unit=unit, fault=fault))
        return readings

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
        values = self.values
        for name, is_input, bits in self._fault_sources:
            value = values.get(name)
            if value is None:
                continue
            if is_input and value:
                return True
            if any(int(value) >> bit & 1 for bit in bits):
                return True
        return False
