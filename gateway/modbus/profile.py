"""Device profiles: the register map of one kind of device, loaded from YAML.

A profile names each value a device offers, where it sits and how to decode it, so a site
config binds sensors by name (``register: gas_ppm``) and never repeats addresses.

Addresses are **0-based PDU addresses**, the numbers that go on the wire. Vendor manuals
often use the 1-based "Modicon" notation instead: holding register 40001 is holding
address 0, input register 30001 is input address 0, coil 00001 is coil 0 and discrete input
10001 is discrete 0. Subtract the table base (and one) when copying a vendor map.

Field checks live in the pydantic models; cross-register checks (duplicates, overlaps,
type vs kind, declared length vs type) run in ``problems()`` and are raised by
``load_profile`` as one ProfileError whose lines each name the profile and the register.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.modbus.codec import ByteOrder, DataType, register_count

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


class Register(_Strict):
    """One named value in a device's register map."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: RegisterKind
    address: int = Field(ge=0, le=0xFFFF, description="0-based PDU address (40001 -> 0)")
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
    description: str | None = None

    @property
    def width(self) -> int:
        """Registers (or bits) the value occupies on the wire."""
        return register_count(self.type)

    @property
    def fault_bits(self) -> tuple[int, ...]:
        bits = self.status_bits or {}
        return tuple(sorted(b for b, meaning in bits.items() if meaning in FAULT_MEANINGS))


class Profile(_Strict):
    """A device type's register map."""

    name: str = Field(min_length=1)
    description: str = ""
    registers: list[Register] = Field(min_length=1)

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
    out.extend(_overlaps(profile, head))
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
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError([f"profile {origin!r}: not valid YAML: {exc}"]) from None
    return parse_profile(data, origin)
