"""Device profiles: the register map of one kind of device, loaded from YAML.

A profile names each value a device offers, where it sits and how to decode it, so a site
config binds sensors by name (``register: gas_ppm``) and never repeats addresses.

Addresses are **0-based PDU addresses**, the numbers that go on the wire. Vendor manuals
often use the 1-based "Modicon" notation instead: holding register 40001 is holding
address 0, input register 30001 is input address 0, coil 00001 is coil 0 and discrete input
10001 is discrete 0. A register gives either ``address`` (0-based) or ``ref``, the number
as the vendor prints it (``ref: 40007``, 6-digit ``400007`` too), from which the kind is
checked and the address derived (``occmon config check`` shows both). A relocatable map
(MSA Ultima X: "base+201") writes ``ref: base+201`` against the profile's ``base``, which a
site's device may move with ``base_address``.

Instrument states (``states``, ``gateway.modbus.states``), units and scales read from
another register (``unit_from``, ``scale_from``) and heartbeat registers are described in
README.md.

Field checks live in the pydantic models; cross-register checks (duplicates, overlaps,
type vs kind, declared length vs type) run in ``problems()`` and are raised by
``load_profile`` as one ProfileError whose lines each name the profile and the register.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.modbus import states as st
from gateway.modbus.codec import ByteOrder, DataType, register_count
from gateway.modbus.states import NORMAL as NORMAL  # re-exported for the simulators
from gateway.modbus.states import bit_range as bit_range
from gateway.modbus.states import meaning_state as meaning_state
from occmon.config.yamlload import safe_load

RegisterKind = Literal["holding", "input", "coil", "discrete"]
Role = Literal["value", "status", "command", "feedback", "fault"]

BIT_KINDS: frozenset[str] = frozenset({"coil", "discrete"})
WORD_KINDS: frozenset[str] = frozenset({"holding", "input"})
# Status-word bits whose meaning is one of these make the device's values bad (sensor-fault).
FAULT_MEANINGS: frozenset[str] = frozenset({"fault", "sensor-fault", "sensor_fault"})


class ProfileError(Exception):
    """A profile that cannot be loaded or is inconsistent; ``problems`` holds each line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TABLE_KINDS: dict[int, RegisterKind] = {0: "coil", 1: "discrete", 3: "input", 4: "holding"}
TABLE_DIGIT: dict[str, int] = {kind: digit for digit, kind in TABLE_KINDS.items()}
BASE_REF = re.compile(r"^base\s*\+\s*(\d+)$")
INTEGER_TYPES = ("UINT16", "INT16", "UINT32", "INT32")


def vendor_address(ref: int) -> tuple[RegisterKind, int]:
    """(kind, 0-based address) of a 1-based reference: 40007 -> holding 6, 400007 too."""
    table, number = divmod(ref, 100_000) if ref >= 100_000 else divmod(ref, 10_000)
    kind = TABLE_KINDS.get(table)
    if kind is None or not 1 <= number <= 0x10000:
        raise ValueError(
            f"ref {ref} is not a vendor reference (0xxxx coil, 1xxxx discrete, 3xxxx input, "
            "4xxxx holding; 1-based)")
    return kind, number - 1


def vendor_ref(kind: str, address: int) -> str:
    """The 1-based reference a vendor prints for a 0-based address (holding 6 -> 40007)."""
    digit = TABLE_DIGIT[kind]
    return f"{digit}{address + 1:04d}" if address < 9999 else f"{digit}{address + 1:05d}"


class StateField(_Strict):
    """Bits of a status register and the instrument state each of their values means.

    ``bits`` is one bit (``6``), a range (``"0-3"``, a nibble) or absent (the whole
    register, a value-coded enum). ``values`` maps the field's value to a state
    (``check-function:bump-test``); ``default`` is the state of any value not listed,
    required for fields of more than one bit (an unknown code of a state enum must not
    pass as normal). A ``heartbeat`` field (seconds) has no states: it must change.
    """

    bits: int | str | None = None
    values: dict[int, str] | None = None
    default: str | None = None
    heartbeat: float | None = Field(default=None, gt=0, description="seconds it must change in")
    description: str | None = None


class UnitFrom(_Strict):
    """The value's unit is a code in (bits of) another register: XNX 40011, Midas DPUN."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    register_name: str = Field(alias="register")
    bits: int | str | None = None
    values: dict[int, str] = Field(min_length=1)


class ScaleFrom(_Strict):
    """The value's scale is in (bits of) another register: ``decimals`` (raw x 10^-n) or
    ``values`` (code -> scale)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    register_name: str = Field(alias="register")
    bits: int | str | None = None
    decimals: bool = False
    values: dict[int, float] | None = None


class Register(_Strict):
    """One named value in a device's register map."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: RegisterKind
    address: int = Field(ge=0, le=0xFFFF, description="0-based PDU address (40001 -> 0)")
    ref: int | str | None = Field(
        default=None, description="the address as the vendor prints it: 40007, or base+201"
    )
    type: DataType
    byte_order: ByteOrder = "ABCD"
    count: int | None = Field(
        default=None, ge=1, le=4, description="registers the vendor map gives; checked"
    )
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None
    signal: Literal["4-20mA"] | None = Field(
        default=None, description="the register carries loop current; scale gives mA"
    )
    role: Role = "value"
    status_bits: dict[int, str] | None = Field(
        default=None, description="status words: bit number (0 = LSB) -> meaning"
    )
    states: list[StateField] | None = Field(
        default=None, description="status words: fields whose values are instrument states"
    )
    heartbeat: float | None = Field(
        default=None, gt=0, description="seconds within which the register's value must change"
    )
    applies_to: list[str] | None = Field(
        default=None, description="value registers this status judges (default: all)"
    )
    unit_from: UnitFrom | None = None
    scale_from: ScaleFrom | None = None
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_ref(cls, data: Any) -> Any:
        """Derive ``address`` from an absolute ``ref`` (a ``base+N`` one: by the profile)."""
        if isinstance(data, dict) and "address" not in data and isinstance(data.get("ref"), int):
            kind, address = vendor_address(data["ref"])
            data = {**data, "address": address}
            data.setdefault("kind", kind)
        return data

    @property
    def width(self) -> int:
        """Registers (or bits) the value occupies on the wire."""
        return register_count(self.type)

    @property
    def fault_bits(self) -> tuple[int, ...]:
        bits = self.status_bits or {}
        return tuple(sorted(b for b, meaning in bits.items() if meaning in FAULT_MEANINGS))

    @property
    def state_fields(self) -> list[st.CompiledField]:
        """Every field of this register that signals a state or a heartbeat, compiled."""
        width = 16 * self.width
        out = []
        for bit, meaning in sorted((self.status_bits or {}).items()):
            state = st.meaning_state(meaning)
            if state is not None and meaning not in FAULT_MEANINGS:
                out.append(st.CompiledField(self.name, bit, 1, {1: state}, st.NORMAL, None))
        for f in self.states or []:
            low, count = st.bit_range(f.bits, width)
            default = f.default or st.NORMAL
            out.append(st.CompiledField(self.name, low, (1 << count) - 1, dict(f.values or {}),
                                        default, f.heartbeat))
        if self.heartbeat is not None:
            out.append(st.CompiledField(self.name, 0, (1 << width) - 1, {}, st.NORMAL,
                                        self.heartbeat))
        return out

    @property
    def vendor(self) -> str:
        """The 1-based reference of the register (holding 6 -> 40007)."""
        return vendor_ref(self.kind, self.address)


class Profile(_Strict):
    """A device type's register map."""

    name: str = Field(min_length=1)
    description: str = ""
    source: str | None = Field(default=None, description="the vendor document and page")
    base: int | None = Field(
        default=None, ge=0, description="vendor reference that 'ref: base+N' counts from"
    )
    check_function_limit: float = Field(
        default=1800.0, gt=0, description="seconds a check-function state (inhibit, "
        "calibration) may last before the readings become failure:check-function-timeout")
    registers: list[Register] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _relocate(cls, data: Any) -> Any:
        """Resolve ``ref: base+N`` against ``base`` (a device may move it: ``with_base``)."""
        if not isinstance(data, dict) or not isinstance(data.get("registers"), list):
            return data
        base = data.get("base")
        registers = []
        for entry in data["registers"]:
            ref = entry.get("ref") if isinstance(entry, dict) else None
            match = BASE_REF.match(ref.strip()) if isinstance(ref, str) else None
            if isinstance(ref, str) and match is None:
                raise ValueError(f"register {entry.get('name')!r}: ref {ref!r} is neither a "
                                 "vendor reference (40007) nor base+N")
            if match is not None and isinstance(entry, dict):
                if not isinstance(base, int):
                    raise ValueError(f"register {entry.get('name')!r}: ref {ref!r} needs the "
                                     "profile's base (e.g. base: 40000)")
                kind, address = vendor_address(base + int(match.group(1)))
                entry = {**entry, "address": address}
                entry.setdefault("kind", kind)
            registers.append(entry)
        return {**data, "registers": registers}

    def with_base(self, base: int | None) -> Profile:
        """This map moved to another base (a device's ``base_address``); same if None."""
        if base is None or base == self.base:
            return self
        data = self.model_dump(exclude_none=True)
        data["base"] = base
        for entry, register in zip(data["registers"], self.registers, strict=True):
            if isinstance(register.ref, str):
                del entry["address"]
        return parse_profile(data, self.name)

    def register(self, name: str) -> Register:
        for register in self.registers:
            if register.name == name:
                return register
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.registers]

    def problems(self) -> list[str]:
        """Cross-register checks, each message naming the profile and the register."""
        return check(self)


def check(profile: Profile) -> list[str]:
    head = f"profile {profile.name!r}"
    out: list[str] = []
    seen: set[str] = set()
    for reg in profile.registers:
        where = f"{head}: register {reg.name!r}"
        if reg.name in seen:
            out.append(f"{where} is defined twice")
        seen.add(reg.name)
        if reg.kind in BIT_KINDS and reg.type != "BOOL":
            out.append(f"{where} is a {reg.kind} and must be BOOL, got {reg.type}")
        if reg.kind in WORD_KINDS and reg.type == "BOOL":
            out.append(f"{where} is a {reg.kind} register and cannot be BOOL (use a coil)")
        if reg.count is not None and reg.count != reg.width:
            unit = "bit" if reg.type == "BOOL" else "register"
            plural = "" if reg.width == 1 else "s"
            out.append(f"{where} {reg.type} needs {reg.width} {unit}{plural}, got {reg.count}")
        if reg.address + reg.width - 1 > 0xFFFF:
            out.append(f"{where} runs past address 65535")
        if reg.status_bits is not None:
            if reg.type not in ("UINT16", "INT16", "UINT32", "INT32"):
                out.append(f"{where} has status_bits but is {reg.type}, not an integer word")
            bad = [b for b in reg.status_bits if not 0 <= b < 16 * reg.width]
            if bad:
                out.append(f"{where} status bit(s) {bad} outside its {16 * reg.width} bits")
        if reg.signal == "4-20mA" and reg.type == "BOOL":
            out.append(f"{where} carries a 4-20mA signal and cannot be BOOL")
        out.extend(_check_ref(reg, where, profile.base))
        out.extend(_check_states(profile, reg, where))
    out.extend(_overlaps(profile, head))
    return out


def _check_ref(reg: Register, where: str, base: int | None) -> list[str]:
    if reg.ref is None:
        return []
    if isinstance(reg.ref, int):
        vendor = reg.ref
    else:
        match = BASE_REF.match(reg.ref.strip())
        if match is None or base is None:
            return [f"{where} ref {reg.ref!r} cannot be resolved"]
        vendor = base + int(match.group(1))
    try:
        kind, address = vendor_address(vendor)
    except ValueError as exc:
        return [f"{where} {exc}"]
    if kind != reg.kind:
        return [f"{where} ref {vendor} is a {kind} reference but kind is {reg.kind}"]
    if address != reg.address:
        return [f"{where} ref {vendor} is {kind} address {address}, not address {reg.address}"]
    return []


def _check_states(profile: Profile, reg: Register, where: str) -> list[str]:
    out: list[str] = []
    uses = reg.states is not None or reg.heartbeat is not None or reg.applies_to is not None
    if uses and reg.role != "status":
        out.append(f"{where} has states, heartbeat or applies_to but its role is {reg.role}, "
                   "not status")
    if uses and reg.type not in INTEGER_TYPES:
        out.append(f"{where} has states or a heartbeat but is {reg.type}, not an integer word")
    width = 16 * reg.width
    for i, f in enumerate(reg.states or []):
        at = f"{where} states[{i}]"
        try:
            low, count = st.bit_range(f.bits, width)
        except ValueError as exc:
            out.append(f"{at}: {exc}")
            continue
        if low < 0 or low + count > width:
            out.append(f"{at}: bits {f.bits} outside the register's {width} bits")
        if (f.values is None) == (f.heartbeat is None):
            out.append(f"{at}: give values (value -> state) or heartbeat (seconds), not both")
        for value, state in (f.values or {}).items():
            if not st.is_state(state):
                out.append(f"{at}: value {value} -> {state!r} is not a state (one of "
                           f"{', '.join(st.CATEGORIES)}, optionally ':detail')")
            if not 0 <= value < 1 << count:
                out.append(f"{at}: value {value} does not fit in {count} bit(s)")
        if f.default is not None and not st.is_state(f.default):
            out.append(f"{at}: default {f.default!r} is not a state")
        if f.values is not None and count > 1 and f.default is None:
            out.append(f"{at}: say what an unlisted value means, e.g. default: "
                       f"{st.UNKNOWN_STATE} (an unknown state code must not pass as normal)")
    for bit, meaning in (reg.status_bits or {}).items():
        if ":" in meaning and not st.is_state(meaning):
            out.append(f"{where} status bit {bit} {meaning!r} is not a state")
    names = {r.name: r for r in profile.registers}
    for target in reg.applies_to or []:
        found = names.get(target)
        if found is None or found.role != "value":
            out.append(f"{where} applies_to {target!r}, which is not a value register of the "
                       "profile")
    for label, source in (("unit_from", reg.unit_from), ("scale_from", reg.scale_from)):
        if source is None:
            continue
        other = names.get(source.register_name)
        if other is None:
            out.append(f"{where} {label} names register {source.register_name!r}, which the "
                       "profile does not have")
            continue
        if other.type not in INTEGER_TYPES:
            out.append(f"{where} {label} register {source.register_name!r} is {other.type}, not an "
                       "integer word")
        try:
            low, count = st.bit_range(source.bits, 16 * other.width)
        except ValueError as exc:
            out.append(f"{where} {label}: {exc}")
            continue
        if low + count > 16 * other.width:
            out.append(f"{where} {label}: bits {source.bits} outside register "
                       f"{source.register_name!r}")
    if reg.scale_from is not None and reg.scale_from.decimals == (
            reg.scale_from.values is not None):
        out.append(f"{where} scale_from: give decimals: true or values (code -> scale)")
    return out


def _overlaps(profile: Profile, head: str) -> list[str]:
    out: list[str] = []
    by_kind: dict[str, list[Register]] = {}
    for reg in profile.registers:
        by_kind.setdefault(reg.kind, []).append(reg)
    for regs in by_kind.values():
        regs.sort(key=lambda r: r.address)
        for before, after in pairwise(regs):
            if after.address < before.address + before.width:
                out.append(
                    f"{head}: register {after.name!r} ({after.kind} {after.address}) overlaps "
                    f"{before.name!r} ({before.kind} {before.address}-"
                    f"{before.address + before.width - 1})"
                )
    return out


def parse_profile(data: Any, origin: str) -> Profile:
    """Validate a profile document; ``origin`` names it in messages until its name is known."""
    if not isinstance(data, dict):
        raise ProfileError([f"profile {origin!r}: must be a mapping with name and registers"])
    name = str(data.get("name", origin))
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError([_field_message(name, data, err) for err in exc.errors()]) from None
    problems = check(profile)
    if problems:
        raise ProfileError(problems)
    return profile


def _field_message(name: str, data: dict[str, Any], err: Any) -> str:
    loc = list(err["loc"])
    where = f"profile {name!r}"
    if len(loc) >= 2 and loc[0] == "registers" and isinstance(loc[1], int):
        registers = data.get("registers") or []
        entry = registers[loc[1]] if loc[1] < len(registers) else None
        reg_name = entry.get("name") if isinstance(entry, dict) else None
        where += f": register {reg_name!r}" if reg_name else f": registers[{loc[1]}]"
        loc = loc[2:]
    field = ".".join(str(p) for p in loc)
    return f"{where}: {field + ': ' if field else ''}{err['msg']}"


def builtin_names() -> list[str]:
    """Names of the profiles shipped in ``gateway/modbus/profiles/``."""
    folder = resources.files("gateway.modbus") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str, search: Sequence[Path] = ()) -> Profile:
    """Load a built-in profile by name, or a YAML file by path.

    A value containing ``/`` or ending in ``.yaml``/``.yml`` is a path, tried as given and
    then relative to each folder in ``search`` (the config file's folder). Anything else is
    a built-in name. Raises ProfileError naming what was tried.
    """
    looks_like_path = "/" in name_or_path or name_or_path.endswith((".yaml", ".yml"))
    if not looks_like_path:
        folder = resources.files("gateway.modbus") / "profiles"
        resource = folder / f"{name_or_path}.yaml"
        if not resource.is_file():
            known = ", ".join(builtin_names())
            raise ProfileError(
                [f"profile {name_or_path!r}: no built-in profile of that name (known: {known})"]
            )
        return _parse_text(resource.read_text(encoding="utf-8"), name_or_path)
    candidates = [Path(name_or_path)]
    if not candidates[0].is_absolute():
        candidates += [Path(folder) / name_or_path for folder in search]
    for path in candidates:
        if path.is_file():
            return _parse_text(path.read_text(encoding="utf-8"), str(path))
    tried = ", ".join(str(p) for p in candidates)
    raise ProfileError([f"profile {name_or_path!r}: file not found (tried {tried})"])


def _parse_text(text: str, origin: str) -> Profile:
    try:
        data = safe_load(text)  # libyaml, with the pure parser's data and messages
    except yaml.YAMLError as exc:
        raise ProfileError([f"profile {origin!r}: not valid YAML: {exc}"]) from None
    return parse_profile(data, origin)
