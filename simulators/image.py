"""What a simulated Modbus device holds: its register image, written through its profile.

The simulator writes every value the way the driver will read it back, through the same
profile and the same codec (``raw = (value - offset) / scale``, then ``codec.encode``), so
the simulator and the driver agree by construction. No I/O here: the server in
``modbus.py`` copies this image into pymodbus on each request.

Filling rules for one device (``fill``):

- a register bound to a sensor gets that sensor's value (in the sensor's configured unit);
- a 4-20 mA register not bound carries the device's first bound value as loop current on
  that sensor's range (a gas detector's digital reading and loop read-back agree); a bound
  4-20 mA register is the loop current of its own sensor; 3.6 mA signals a fault (NE 43);
- another unbound value register mirrors the device's value if the device measures one
  thing, else stays 0;
- status words set their ``fault``, ``pre-alarm`` and ``alarm`` bits (the detector's own
  relays at 10 % and 20 % of full scale, factory defaults, not occmon's set-points);
- the device's instrument state (``RegisterImage.state``, an NE 107 state such as
  ``check-function:bump-test``, default ``normal``) is written into every status field that
  can say it: the enum code or the bit the profile maps to it; a heartbeat register or field
  counts up on every fill; a detector in inhibit reads 0 (the XNX forces it);
- a register a value takes its unit from holds the code of the sensor's unit;
- a fan's command coil holds what the client wrote; feedback, fault and motor current come
  from the starter state machine (``fan.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.modbus.codec import decode, encode, unscale
from gateway.modbus.profile import (
    BIT_KINDS,
    NORMAL,
    Profile,
    Register,
    bit_range,
    meaning_state,
)
from simulators.fan import Fan

LOOP_FAULT_MA = 3.6  # NAMUR NE 43 failure signal
LOOP_MIN_MA = 3.8
LOOP_MAX_MA = 20.5
PRE_ALARM_FS = 0.10
ALARM_FS = 0.20

# Function code -> register kind it addresses.
KIND_OF_FUNCTION: dict[int, str] = {
    1: "coil", 5: "coil", 15: "coil",
    2: "discrete",
    3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding",
    4: "input",
}


class ImageError(ValueError):
    """A sensor bound to a register the profile does not have, or a value it cannot hold."""


@dataclass(frozen=True)
class Bound:
    """A sensor's value for one register, with the range a loop current maps onto."""

    register: str
    value: float
    range: tuple[float, float] | None
    unit: str | None = None  # the sensor's unit: picks the code of a unit_from register


def loop_ma(value: float, span: tuple[float, float] | None) -> float:
    """Loop current for a value on a range, saturating at 3.8 / 20.5 mA as transmitters do."""
    low, high = span or (0.0, 100.0)
    milliamps = 4.0 + 16.0 * (value - low) / (high - low)
    return min(max(milliamps, LOOP_MIN_MA), LOOP_MAX_MA)


class RegisterImage:
    """The words (holding, input) and bits (coil, discrete) of one device, by address."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.state = NORMAL  # the instrument's NE 107 state, e.g. check-function:bump-test
        self.beats = 0  # heartbeat counter, +1 per fill
        self.cells: dict[str, dict[int, int]] = {k: {} for k in KIND_OF_FUNCTION.values()}
        for reg in profile.registers:
            for i in range(reg.width):
                self.cells[reg.kind][reg.address + i] = 0

    def span(self, kind: str) -> int:
        """One past the highest defined address of the kind (at least 1)."""
        return max(self.cells[kind], default=0) + 1

    def defined(self, kind: str, address: int, count: int) -> bool:
        cells = self.cells[kind]
        return all(a in cells for a in range(address, address + count))

    def set(self, name: str, value: float) -> None:
        """Store an engineering value: unscale by the profile, encode by the codec."""
        reg = self.profile.register(name)
        if reg.type == "BOOL":
            self.cells[reg.kind][reg.address] = 1 if value else 0
            return
        raw = unscale(value, reg.scale, reg.offset)
        if not math.isfinite(raw) and not reg.type.startswith("FLOAT"):
            raise ImageError(f"register {name!r} ({reg.type}) cannot hold {value}")
        words = encode(raw, reg.type, reg.byte_order)
        for i, word in enumerate(words):
            self.cells[reg.kind][reg.address + i] = word

    def get(self, name: str) -> float:
        """The engineering value a driver would decode from the register."""
        reg = self.profile.register(name)
        words = [self.cells[reg.kind][reg.address + i] for i in range(reg.width)]
        return float(decode(words, reg.type, reg.byte_order)) * reg.scale + reg.offset

    def words(self, kind: str, count: int) -> list[int]:
        """Cells 0..count-1 of the kind (undefined cells read 0: the server refuses them)."""
        cells = self.cells[kind]
        return [cells.get(a, 0) for a in range(count)]

    def write(self, kind: str, address: int, values: Sequence[int | bool]) -> list[str]:
        """A client write; returns the names of the registers it touched."""
        for i, value in enumerate(values):
            self.cells[kind][address + i] = int(value)
        end = address + len(values)
        return [
            r.name for r in self.profile.registers
            if r.kind == kind and r.address < end and address < r.address + r.width
        ]

    def writable(self, kind: str, address: int, count: int) -> bool:
        """Only command registers accept writes; a measured value is read-only."""
        commands = [r for r in self.profile.registers if r.kind == kind and r.role == "command"]
        return all(
            any(r.address <= a < r.address + r.width for r in commands)
            for a in range(address, address + count)
        )


def sayable_states(profile: Profile) -> frozenset[str]:
    """Every NE 107 state the profile's status registers can say (besides ``normal``): what
    a simulated device of that profile can be put in (``SimulatedPlant.set_state``). A map
    with no status register (Polytron 8000 measured value, RAEGuard 3) says none: such a
    device can only be faulted by going silent."""
    found: set[str] = set()
    for reg in profile.registers:
        for meaning in (reg.status_bits or {}).values():
            state = meaning_state(meaning)
            if state is not None:
                found.add(state)
        for field in reg.state_fields:
            found |= set(field.values.values())
    found.discard(NORMAL)
    return frozenset(found)


def can_fault(profile: Profile) -> bool:
    """The profile has a way to say a fault: a fault bit, a failure state or a 4-20 mA loop."""
    return any(
        "fault" in (r.status_bits or {}).values() or r.signal == "4-20mA"
        for r in profile.registers
    ) or any(s.startswith("failure") for s in sayable_states(profile))


def check_bindings(profile: Profile, device: str, registers: Sequence[str]) -> None:
    """Fail at start with the device and register named, as the driver does at load."""
    for name in registers:
        try:
            reg = profile.register(name)
        except KeyError:
            known = ", ".join(profile.names)
            raise ImageError(
                f"device {device!r}: register {name!r} is not in profile {profile.name!r} "
                f"(known: {known})"
            ) from None
        if reg.kind in BIT_KINDS:
            raise ImageError(f"device {device!r}: register {name!r} is a {reg.kind}, not a value")


def _status_word(reg: Register, flags: Mapping[str, bool], state: str = NORMAL,
                 beats: int = 0) -> int:
    word = 0
    for bit, meaning in (reg.status_bits or {}).items():
        if flags.get(meaning, False) or (state != NORMAL and meaning_state(meaning) == state):
            word |= 1 << bit
    for field in reg.state_fields:
        if field.heartbeat is not None:
            code = beats & field.mask
        elif state in field.values.values():
            code = min(c for c, s in field.values.items() if s == state)
        else:
            code = min((c for c, s in field.values.items() if s == NORMAL), default=0)
        word |= code << field.shift
    signed = reg.type.startswith("INT") and word >= 1 << (16 * reg.width - 1)
    return word - (1 << 16 * reg.width) if signed else word


def _failure_state(profile: Profile) -> str | None:
    """The first failure state the profile's status fields can say (XNX: instrument fault)."""
    for reg in profile.registers:
        for field in reg.state_fields:
            for state in field.values.values():
                if state.startswith("failure"):
                    return state
    return None


def _unit_codes(image: RegisterImage, bound: Sequence[Bound]) -> dict[str, int]:
    """Register name -> code of the unit of the value that takes its unit from it."""
    out: dict[str, int] = {}
    by_register = {b.register: b for b in bound}
    for reg in image.profile.registers:
        source = reg.unit_from
        if source is None:
            continue
        found = by_register.get(reg.name)
        wanted = found.unit if found is not None and found.unit else reg.unit
        codes = [c for c, u in source.values.items() if u == wanted] or sorted(source.values)
        low, _ = bit_range(source.bits, 16)
        out[source.register_name] = out.get(source.register_name, 0) | codes[0] << low
    return out


def fill(
    image: RegisterImage, bound: Sequence[Bound], *, fault: bool, fan: Fan | None = None
) -> None:
    """Write one tick's values into the image by the rules in the module docstring."""
    by_register = {b.register: b for b in bound}
    first = bound[0] if bound else None
    alarm_source = next((b for b in bound if b.range is not None), first)
    flags = {"fault": fault}
    state = image.state
    if fault and state == NORMAL:  # a map without a fault bit says it as a failure state
        state = _failure_state(image.profile) or state
    image.beats += 1
    units = _unit_codes(image, bound)
    inhibit = "inhibit" in state  # XNX 40003: "forced to zero during inhibit mode"
    if alarm_source is not None and alarm_source.range is not None:
        low, high = alarm_source.range
        value = alarm_source.value
        flags["pre-alarm"] = value >= low + PRE_ALARM_FS * (high - low)
        flags["alarm"] = value >= low + ALARM_FS * (high - low)
    for reg in image.profile.registers:
        if reg.role == "status" and reg.name in units:
            image.set(reg.name, units[reg.name])
        elif reg.role == "status":
            if reg.type.startswith("FLOAT"):
                continue  # a figure (days of sensor life), not a status word
            image.set(reg.name, _status_word(reg, flags, state, image.beats))
        elif inhibit and reg.signal is None and reg.unit_from is not None:
            image.set(reg.name, 0.0)
        elif reg.role == "command":
            continue  # holds what the client wrote
        elif reg.role == "feedback":
            image.set(reg.name, float(fan is not None and fan.running))
        elif reg.role == "fault":
            image.set(reg.name, float(fault or (fan is not None and fan.fault)))
        elif fan is not None:
            image.set(reg.name, fan.motor_current if reg.unit == "A" else 0.0)
        elif reg.signal == "4-20mA":
            source = by_register.get(reg.name, first)
            if fault:
                image.set(reg.name, LOOP_FAULT_MA)
            elif source is not None:
                image.set(reg.name, loop_ma(source.value, source.range))
        elif reg.name in by_register:
            image.set(reg.name, by_register[reg.name].value)
        elif first is not None and len(bound) == 1:
            image.set(reg.name, first.value)
