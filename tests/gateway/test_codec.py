"""Golden byte vectors for every type and byte order, written by hand (not by encode()).

Each row gives the big-endian bytes of the value (as ``struct.pack('>fmt', value)`` yields
them) and the registers each byte order puts on the wire.
"""

from __future__ import annotations

import math

import pytest

from gateway.modbus.codec import (
    CodecError,
    apply_scale,
    decode,
    encode,
    register_count,
    unscale,
)

# (type, value, {byte order: registers}); comment: the big-endian bytes A B C D ...
VECTORS = [
    # fb 2e
    ("INT16", -1234, {"ABCD": [0xFB2E], "CDAB": [0xFB2E], "BADC": [0x2EFB], "DCBA": [0x2EFB]}),
    # cf 08
    ("UINT16", 53000, {"ABCD": [0xCF08], "CDAB": [0xCF08], "BADC": [0x08CF], "DCBA": [0x08CF]}),
    # f8 a4 32 eb
    (
        "INT32",
        -123456789,
        {
            "ABCD": [0xF8A4, 0x32EB],
            "CDAB": [0x32EB, 0xF8A4],
            "BADC": [0xA4F8, 0xEB32],
            "DCBA": [0xEB32, 0xA4F8],
        },
    ),
    # b2 d0 5e 00
    (
        "UINT32",
        3_000_000_000,
        {
            "ABCD": [0xB2D0, 0x5E00],
            "CDAB": [0x5E00, 0xB2D0],
            "BADC": [0xD0B2, 0x005E],
            "DCBA": [0x005E, 0xD0B2],
        },
    ),
    # ee dd ef 0b 82 16 7e eb
    (
        "INT64",
        -1234567890123456789,
        {
            "ABCD": [0xEEDD, 0xEF0B, 0x8216, 0x7EEB],
            "CDAB": [0x7EEB, 0x8216, 0xEF0B, 0xEEDD],
            "BADC": [0xDDEE, 0x0BEF, 0x1682, 0xEB7E],
            "DCBA": [0xEB7E, 0x1682, 0x0BEF, 0xDDEE],
        },
    ),
    # ab 54 a9 8c eb 1f 0a d2
    (
        "UINT64",
        12345678901234567890,
        {
            "ABCD": [0xAB54, 0xA98C, 0xEB1F, 0x0AD2],
            "CDAB": [0x0AD2, 0xEB1F, 0xA98C, 0xAB54],
            "BADC": [0x54AB, 0x8CA9, 0x1FEB, 0xD20A],
            "DCBA": [0xD20A, 0x1FEB, 0x8CA9, 0x54AB],
        },
    ),
    # 41 45 70 a4  (12.34 as float32 is 12.340000152587890625)
    (
        "FLOAT32",
        12.34000015258789,
        {
            "ABCD": [0x4145, 0x70A4],
            "CDAB": [0x70A4, 0x4145],
            "BADC": [0x4541, 0xA470],
            "DCBA": [0xA470, 0x4541],
        },
    ),
    # 40 28 ae 14 7a e1 47 ae
    (
        "FLOAT64",
        12.34,
        {
            "ABCD": [0x4028, 0xAE14, 0x7AE1, 0x47AE],
            "CDAB": [0x47AE, 0x7AE1, 0xAE14, 0x4028],
            "BADC": [0x2840, 0x14AE, 0xE17A, 0xAE47],
            "DCBA": [0xAE47, 0xE17A, 0x14AE, 0x2840],
        },
    ),
]

CASES = [
    (data_type, value, order, registers)
    for data_type, value, orders in VECTORS
    for order, registers in orders.items()
]


@pytest.mark.parametrize(("data_type", "value", "order", "registers"), CASES)
def test_decode_golden(data_type: str, value: float, order: str, registers: list[int]) -> None:
    assert decode(registers, data_type, order) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(("data_type", "value", "order", "registers"), CASES)
def test_encode_golden(data_type: str, value: float, order: str, registers: list[int]) -> None:
    assert encode(value, data_type, order) == registers  # type: ignore[arg-type]


def test_float32_1234_reads_as_1234() -> None:
    assert decode([0x4145, 0x70A4], "FLOAT32", "ABCD") == pytest.approx(12.34, abs=1e-6)


@pytest.mark.parametrize(
    ("data_type", "count"),
    [("INT16", 1), ("UINT16", 1), ("INT32", 2), ("UINT32", 2), ("INT64", 4), ("UINT64", 4),
     ("FLOAT32", 2), ("FLOAT64", 4), ("BOOL", 1)],
)
def test_register_count(data_type: str, count: int) -> None:
    assert register_count(data_type) == count  # type: ignore[arg-type]


def test_bool() -> None:
    assert decode([1], "BOOL") == 1
    assert decode([0], "BOOL") == 0
    assert encode(True, "BOOL") == [1]


def test_nan_float_decodes_as_nan() -> None:
    # 7f c0 00 00 is the float32 quiet NaN
    assert math.isnan(decode([0x7FC0, 0x0000], "FLOAT32", "ABCD"))


@pytest.mark.parametrize(
    ("registers", "data_type", "message"),
    [
        ([0x4145], "FLOAT32", "FLOAT32 needs 2 registers, got 1"),
        ([1, 2, 3], "FLOAT64", "FLOAT64 needs 4 registers, got 3"),
        ([0x1_0000], "UINT16", "register value 65536 is not 16 bits"),
        ([], "BOOL", "BOOL needs 1 bit, got 0"),
    ],
)
def test_decode_refuses(registers: list[int], data_type: str, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode(registers, data_type)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "data_type"), [(70000, "UINT16"), (-1, "UINT32"), (math.nan, "INT16")]
)
def test_encode_refuses_what_does_not_fit(value: float, data_type: str) -> None:
    with pytest.raises(CodecError):
        encode(value, data_type)  # type: ignore[arg-type]


def test_scale_and_offset() -> None:
    assert apply_scale(853, 0.1) == pytest.approx(85.3)
    assert apply_scale(4000, 0.001, 0.0) == pytest.approx(4.0)
    assert apply_scale(100, 2.0, -50.0) == pytest.approx(150.0)
    assert unscale(150.0, 2.0, -50.0) == pytest.approx(100.0)
