"""A Modbus device (one unit id behind a hub): poll its registers, turn them into Readings.

The device holds data and pure decoding; the hub holds the connection. ``poll`` runs the
planned reads, decodes each bound sensor's register (byte order, scale, offset), reads the
device's own status word and fault inputs, and hands each value to ``gateway.normalise``
so that Modbus and MQTT values get the same quality checks.

Everything that does not change between polls is worked out once in ``__init__``: each
request's register slices and the ``struct`` formats that decode them (``RequestDecoder``:
one unpack per value, the same numbers as ``codec.decode``), each sensor's scale, offset
and unit, its ``normalise.Prepared`` (the good path of ``normalise`` with the range,
conversion, plausibility bounds and ids resolved), and the registers that can signal a
fault. A poll is then reads plus arithmetic.

Failure handling, by layer:

- no answer (timeout, refused, back-off) -> ``DeviceOffline``; the poller marks the points
- a Modbus exception response -> the sensors on that request are bad ``modbus-exception``
  (counted), the others still good, the device stays online
- a status-word fault bit or a fault input -> every value of the device is ``sensor-fault``
- an instrument state other than normal (``states.py``: inhibit, warm-up, bump test,
  calibration, overload, failure, a stopped heartbeat) -> the values it applies to are bad
  (uncertain for maintenance-required) with the state as reason; each change of state, and
  each bump test or calibration when it ends, is an instrument event (``on_event``)
- a unit or scale read from another register -> applied per poll; a unit code the profile
  does not map, or a unit the agent cannot be converted from -> bad ``unknown-unit``
"""

from __future__ import annotations

import logging
import struct
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.driver import DeviceOffline
from gateway.logthrottle import ThrottledLog
from gateway.modbus import states as st
from gateway.modbus.codec import decode, encode
from gateway.modbus.hub import ExceptionResponse, HubOffline, ModbusConfig, ModbusHub
from gateway.modbus.plan import ReadRequest, plan_reads
from gateway.modbus.profile import Profile, Register
from gateway.normalise import Binding, Prepared, normalise
from occmon.batch import GoodBatch, SeriesTable
from occmon.model import Reading, Reason, iso_utc

EventHandler = Callable[[dict[str, Any]], None]
# A status word that flaps must not flood the queue: state-changed events per device and
# window beyond the budget are counted (instrument-event-suppressed), not sent; the
# readings still carry every poll's state, and test intervals are always sent.
STATE_EVENTS_PER_WINDOW = 30
STATE_EVENT_WINDOW = 600.0  # s
# bad (no value) for these categories; maintenance-required keeps the value, uncertain
_BAD_CATEGORIES = frozenset({st.FAILURE, st.CHECK_FUNCTION, st.OUT_OF_SPEC})

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
        self._any_swapped = any(v[3] for v in self._values)

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
            swapped = self._swapped.pack(*words) if self._any_swapped else big
        except struct.error:
            for register in request.registers:  # raises the CodecError naming the word
                decode(request.slice_of(register, words), register.type, register.byte_order)
            raise
        for name, offset, value, swap in self._values:
            into[name] = value.unpack_from(swapped if swap else big, offset)[0]


_UnitSource = tuple[str, int, int, dict[int, str]]
_ScaleSource = tuple[str, int, int, bool, dict[int, float]]
_Dynamic = tuple[_UnitSource | None, _ScaleSource | None]


def _dynamic(register: Register) -> _Dynamic | None:
    """Where a value's unit and scale come from, compiled; None if both are fixed."""
    if register.unit_from is None and register.scale_from is None:
        return None
    unit_src: _UnitSource | None = None
    scale_src: _ScaleSource | None = None
    if register.unit_from is not None:
        u = register.unit_from
        low, count = st.bit_range(u.bits, 32)
        unit_src = (u.register_name, low, (1 << count) - 1 if u.bits is not None else 0xFFFFFFFF,
                    dict(u.values))
    if register.scale_from is not None:
        f = register.scale_from
        low, count = st.bit_range(f.bits, 32)
        scale_src = (f.register_name, low, (1 << count) - 1 if f.bits is not None else 0xFFFFFFFF,
                     f.decimals, dict(f.values or {}))
    return unit_src, scale_src


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
        for b in self.bound:  # registers a bound value takes its unit or scale from
            for source in (b.register.unit_from, b.register.scale_from):
                if source is not None:
                    wanted.setdefault(source.register_name,
                                      profile.register(source.register_name))
        self.requests: list[ReadRequest] = plan_reads(wanted.values(), max_gap=max_gap)
        self._decoders = [RequestDecoder(r) for r in self.requests]
        # (binding, register name, scale, offset, 4-20 mA loop?, unit) of each bound sensor
        self._sensors = [
            (b.binding, b.register.name, b.register.scale, b.register.offset,
             b.register.signal == "4-20mA", b.unit, _dynamic(b.register),
             Prepared(b.binding, b.unit))
            for b in self.bound
        ]
        # The usual poll as columns (occmon.batch): every sensor with a fixed unit and scale
        # and no 4-20 mA loop, its value good -> one GoodBatch, no Reading objects.
        self._table = SeriesTable([s[7].key for s in self._sensors])
        self._plain = [(name, scale, offset, prepared.good)
                       for _, name, scale, offset, loop, _, dynamic, prepared in self._sensors
                       if dynamic is None and not loop]
        if len(self._plain) != len(self._sensors):
            self._plain = []
        self._judge = st.StateJudge([
            (frozenset(r.applies_to) if r.applies_to else None, r.state_fields)
            for r in profile.registers if r.role == "status" and r.state_fields
        ])
        self._state: dict[str, tuple[str, float]] = {}  # sensor id -> (state, since)
        self._test: dict[str, tuple[str, float, str | None]] = {}  # -> (test, start, result)
        self._window = (0.0, 0)  # (start, state-changed events) of the rate window
        self.on_event: EventHandler | None = None  # instrument events (gateway.instrument)
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
        self.poll_phase: float | None = None  # moment of the interval to poll at (stagger.py)

    @property
    def device_id(self) -> str:
        return self.config.id

    @property
    def interval(self) -> float:
        return self.config.poll_interval

    async def poll(self, now: float) -> Sequence[Reading]:
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
        states = self._states(values, now) if self._judge else None
        if self._plain and fault is None and not refused and (
                states is None or all(state == st.NORMAL for state in states.values())):
            goods: list[float] = []
            raws: list[float] = []
            for name, scale, offset, good in self._plain:
                raw = float(values[name]) * scale + offset  # codec.apply_scale
                canonical = good(raw)
                if canonical is None:
                    break  # out of range, implausible, ...: the per-reading way says which
                goods.append(canonical)
                raws.append(raw)
            else:
                return GoodBatch(self._table, now, goods, raws)
        readings = []
        for binding, name, scale, offset, loop, unit, dynamic, prepared in self._sensors:
            if name in refused:
                readings.append(normalise(binding, None, now, unit=unit,
                                          fault=Reason.MODBUS_EXCEPTION))
                continue
            why: str | None = fault
            uncertain: str | None = None
            if states is not None and why is None:
                state = states.get(binding.sensor.id, st.NORMAL)
                if state != st.NORMAL:
                    self.counters[state] += 1
                    if st.category(state) in _BAD_CATEGORIES:
                        why = state
                    else:
                        uncertain = state
            if dynamic is not None:
                scale, unit, unknown = self._dynamic(binding, dynamic, values, scale, unit)
                if unknown and why is None:
                    self.counters[Reason.UNKNOWN_UNIT] += 1
                    why = Reason.UNKNOWN_UNIT  # the raw value is kept, with the code as unit
            value = float(values[name]) * scale + offset  # codec.apply_scale
            if why is None and uncertain is None and dynamic is None and not loop:
                readings.append(prepared(value, now))  # normalise, constants resolved once
            elif loop:
                readings.append(normalise(binding, None, now, unit=unit, loop_ma=value,
                                          fault=why, uncertain=uncertain))
            else:
                readings.append(normalise(binding, value, now, unit=unit, fault=why,
                                          uncertain=uncertain))
        return readings

    def _states(self, values: dict[str, float | int], now: float) -> dict[str, str]:
        """Each bound sensor's instrument state this poll (sensor id -> state); changes of
        state become instrument events."""
        judged = self._judge.judge(values, now)
        out: dict[str, str] = {}
        for b in self.bound:
            name = b.register.name
            state = st.worst(s for targets, s in judged if targets is None or name in targets)
            out[b.binding.sensor.id] = state
        self._events(out, now)
        limit = self.profile.check_function_limit
        for sensor, (state, since) in self._state.items():
            # an inhibit forgotten for hours would blind the point: it becomes a failure
            if st.category(state) == st.CHECK_FUNCTION and now - since >= limit:
                out[sensor] = st.CHECK_FUNCTION_TIMEOUT
        return out

    def _events(self, current: dict[str, str], now: float) -> None:
        """One ``state-changed`` event per (previous, new) pair of this poll, and a
        ``bump-test`` / ``calibration`` event when one ends: start, end, result where the
        instrument tells it (XNX post-calibration states) or a failure follows it."""
        changes: dict[tuple[str, str, float], list[BoundRegister]] = {}
        ended: dict[tuple[str, float, str | None, str], list[BoundRegister]] = {}
        for b in self.bound:
            sensor = b.binding.sensor.id
            state = current[sensor]
            test = st.activity(state)
            running = self._test.get(sensor)
            # one refused status read neither ends nor fails a bump test or calibration
            if running is not None and running[0] != test and state != st.STATUS_UNREADABLE:
                name, start, result = running
                if result is None and st.category(state) == st.FAILURE:
                    result = "failed"
                ended.setdefault((name, start, result, state), []).append(b)
                del self._test[sensor]
                running = None
            if test is not None:
                result = st.outcome(state) or (running[2] if running else None)
                self._test[sensor] = (test, running[1] if running else now, result)
            before = self._state.get(sensor)
            if before is None:
                self._state[sensor] = (state, now)
                if state == st.NORMAL:
                    continue  # the first poll of a normal instrument is not news
                before = (st.NORMAL, now)
            elif before[0] == state:
                continue
            self._state[sensor] = (state, now)
            changes.setdefault((before[0], state, before[1]), []).append(b)
        if changes:
            if now - self._window[0] >= STATE_EVENT_WINDOW or now < self._window[0]:
                self._window = (now, 0)
            self._window = (self._window[0], self._window[1] + len(changes))
            if self._window[1] > STATE_EVENTS_PER_WINDOW:  # a flapping status word
                self.counters["instrument-event-suppressed"] += len(changes)
                changes = {}
        for (previous, state, since), bound in changes.items():
            self._emit({"event": "state-changed", **self._who(bound), "state": state,
                        "category": st.category(state), "previous": previous,
                        "time": iso_utc(now), "since": iso_utc(since),
                        "duration_s": round(now - since, 3)})
        for (name, start, result, after), bound in ended.items():
            self._emit({"event": name, **self._who(bound), "start": iso_utc(start),
                        "end": iso_utc(now), "time": iso_utc(now),
                        "duration_s": round(now - start, 3), "result": result,
                        "after": after, "who": None})

    def _who(self, bound: list[BoundRegister]) -> dict[str, Any]:
        """The device, sensors and points an instrument event is about."""
        return {"device": self.device_id, "profile": self.profile.name,
                "sensors": [b.binding.sensor.id for b in bound],
                "points": sorted({b.binding.point.id for b in bound})}

    def _emit(self, body: dict[str, Any]) -> None:
        self.counters[f"instrument-event:{body['event']}"] += 1
        if self.on_event is None:
            return
        try:
            self.on_event(body)
        except Exception:  # an event sink's bug must not stop the readings
            self.counters["instrument-event-error"] += 1
            self._log.exception(("instrument-event",), "device %s: instrument event lost",
                                self.device_id)

    @staticmethod
    def _dynamic(binding: Binding, dynamic: _Dynamic, values: dict[str, float | int],
                 scale: float, unit: str) -> tuple[float, str, bool]:
        """(scale, unit, unknown unit?) of one value from the registers it refers to; an
        unmapped code gives the unit ``code <n>`` so the record shows what the device said."""
        unit_src, scale_src = dynamic
        unknown = False
        if scale_src is not None:
            name, shift, mask, decimals, codes = scale_src
            raw = values.get(name)
            if raw is not None:
                code = (int(raw) >> shift) & mask
                if decimals:
                    scale = 10.0 ** -code
                elif code in codes:
                    scale = codes[code]
                else:
                    unknown = True
        if unit_src is not None:
            name, shift, mask, units = unit_src
            raw = values.get(name)
            if raw is None:
                return scale, unit, True
            code = (int(raw) >> shift) & mask
            found = units.get(code)
            if found is None:
                return scale, f"code {code}", True
            unit = found
            try:
                binding.converter(unit)
            except Exception:  # e.g. %LEL for an agent with no LEL: not this agent's unit
                return scale, unit, True
        return scale, unit, unknown

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
