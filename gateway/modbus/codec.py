"""Registers <-> numbers: the pure part of Modbus decoding, shared with the simulators.

A Modbus register is 16 bits; wider values span several registers and vendors disagree on
the order of their bytes. The four orders are named as in Telegraf, by where the bytes of
the big-endian value ``A B C D`` end up on the wire:

- ``ABCD`` big-endian (the Modbus default; Schneider, most gas panels)
- ``CDAB`` word-swapped ("little-endian word order"; many PLCs and dust monitors)
- ``BADC`` byte-swapped inside each word
- ``DCBA`` little-endian

For 64-bit values the same rule extends: ``CDAB`` reverses the order of the words, ``BADC``
swaps bytes inside each word, ``DCBA`` reverses every byte.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Literal

DataType = Literal[
    "INT16", "UINT16", "INT32", "UINT32", "INT64", "UINT64", "FLOAT32", "FLOAT64", "BOOL"
]
ByteOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]

DATA_TYPES: tuple[DataType, ...] = (
    "INT16", "UINT16", "INT32", "UINT32", "INT64", "UINT64", "FLOAT32", "FLOAT64", "BOOL"
)
BYTE_ORDERS: tuple[ByteOrder, ...] = ("ABCD", "CDAB", "BADC", "DCBA")

# struct format (big-endian) and register count of each numeric type.
_FORMATS: dict[str, tuple[str, int]] = {
    "INT16": (">h", 1),
    "UINT16": (">H", 1),
    "INT32": (">i", 2),
    "UINT32": (">I", 2),
    "INT64": (">q", 4),
    "UINT64": (">Q", 4),
    "FLOAT32": (">f", 2),
    "FLOAT64": (">d", 4),
}


class CodecError(ValueError):
    """Registers that cannot be a value of the type (wrong count, value out of 16 bits)."""


def register_count(data_type: DataType) -> int:
    """How many 16-bit registers (or bits, for BOOL) one value of the type occupies."""
    if data_type == "BOOL":
        return 1
    return _FORMATS[data_type][1]


def _reorder(raw: bytes, byte_order: ByteOrder) -> bytes:
    """Big-endian bytes <-> wire bytes. Each order is its own inverse."""
    if byte_order == "ABCD":
        return raw
    if byte_order == "DCBA":
        return raw[::-1]
    words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if byte_order == "CDAB":
        return b"".join(reversed(words))
    return b"".join(w[::-1] for w in words)  # BADC


def decode(registers: Sequence[int], data_type: DataType, byte_order: ByteOrder = "ABCD") -> (
    float | int
):
    """Decode the registers of one value; BOOL takes one coil/discrete bit (0 or 1)."""
    if data_type == "BOOL":
        if len(registers) != 1:
            raise CodecError(f"BOOL needs 1 bit, got {len(registers)}")
        return int(bool(registers[0]))
    fmt, count = _FORMATS[data_type]
    if len(registers) != count:
        raise CodecError(f"{data_type} needs {count} registers, got {len(registers)}")
    for word in registers:
        if not 0 <= word <= 0xFFFF:
            raise CodecError(f"register value {word} is not 16 bits")
    wire = b"".join(word.to_bytes(2, "big") for word in registers)
    value: float | int = struct.unpack(fmt, _reorder(wire, byte_order))[0]
    return value


def encode(value: float | int, data_type: DataType, byte_order: ByteOrder = "ABCD") -> list[int]:
    """The registers a device would hold for ``value``: the inverse of ``decode``.

    Integer types round a float to the nearest integer; a value outside the type's range
    raises CodecError (a simulator bug should be loud, not wrap around).
    """
    if data_type == "BOOL":
        return [1 if value else 0]
    fmt, _ = _FORMATS[data_type]
    if data_type.startswith(("INT", "UINT")):
        if isinstance(value, float) and not math.isfinite(value):
            raise CodecError(f"{value} cannot be stored as {data_type}")
        value = round(value)
    try:
        raw = struct.pack(fmt, value)
    except struct.error as exc:
        raise CodecError(f"{value} does not fit {data_type}: {exc}") from exc
    wire = _reorder(raw, byte_order)
    return [int.from_bytes(wire[i : i + 2], "big") for i in range(0, len(wire), 2)]


def apply_scale(value: float | int, scale: float = 1.0, offset: float = 0.0) -> float:
    """Engineering value = raw * scale + offset (Home Assistant and Telegraf order)."""
    return float(value) * scale + offset


def unscale(value: float, scale: float = 1.0, offset: float = 0.0) -> float:
    """The raw value a device stores for an engineering value; the simulators' inverse."""
    return (value - offset) / scale
