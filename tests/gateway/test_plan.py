from __future__ import annotations

import pytest

from gateway.modbus.plan import plan_reads
from gateway.modbus.profile import Register


def r(name: str, kind: str, address: int, type_: str = "UINT16") -> Register:
    return Register(name=name, kind=kind, address=address, type=type_)  # type: ignore[arg-type]


# (registers, max_gap, expected requests as (kind, address, count, names))
CASES = [
    ([r("a", "holding", 0)], 0, [("holding", 0, 1, "a")]),
    (
        [r("a", "holding", 0, "FLOAT32"), r("b", "holding", 2), r("c", "holding", 3)],
        0,
        [("holding", 0, 4, "a b c")],
    ),
    ([r("a", "holding", 0), r("b", "holding", 2)], 0, [("holding", 0, 1, "a"),
                                                       ("holding", 2, 1, "b")]),
    ([r("a", "holding", 0), r("b", "holding", 2)], 1, [("holding", 0, 3, "a b")]),
    ([r("a", "holding", 0), r("b", "holding", 5)], 3, [("holding", 0, 1, "a"),
                                                       ("holding", 5, 1, "b")]),
    (
        [r("b", "input", 7), r("a", "holding", 7)],
        0,
        [("holding", 7, 1, "a"), ("input", 7, 1, "b")],
    ),
    (
        [r("f", "discrete", 1, "BOOL"), r("c", "coil", 0, "BOOL"), r("e", "discrete", 0, "BOOL")],
        0,
        [("coil", 0, 1, "c"), ("discrete", 0, 2, "e f")],
    ),
    # unsorted input is sorted
    ([r("b", "holding", 1), r("a", "holding", 0)], 0, [("holding", 0, 2, "a b")]),
    # 125-register limit: 0..124 in one request, 125 in the next
    (
        [r(f"r{i}", "holding", i) for i in range(126)],
        0,
        [("holding", 0, 125, " ".join(f"r{i}" for i in range(125))), ("holding", 125, 1, "r125")],
    ),
    # a FLOAT64 that would cross the limit starts a new request
    (
        [r("a", "holding", 0), r("big", "holding", 122, "FLOAT64")],
        121,
        [("holding", 0, 1, "a"), ("holding", 122, 4, "big")],
    ),
    # 2000-bit limit for coils
    (
        [r("c0", "coil", 0, "BOOL"), r("c1999", "coil", 1999, "BOOL"),
         r("c2000", "coil", 2000, "BOOL")],
        2000,
        [("coil", 0, 2000, "c0 c1999"), ("coil", 2000, 1, "c2000")],
    ),
]


@pytest.mark.parametrize(("registers", "max_gap", "expected"), CASES)
def test_plan(
    registers: list[Register], max_gap: int, expected: list[tuple[str, int, int, str]]
) -> None:
    got = [
        (q.kind, q.address, q.count, " ".join(x.name for x in q.registers))
        for q in plan_reads(registers, max_gap=max_gap)
    ]
    assert got == expected


def test_slice_of_a_response() -> None:
    [request] = plan_reads([r("a", "holding", 10), r("b", "holding", 11, "FLOAT32")])
    assert request.slice_of(request.registers[1], [1, 2, 3]) == [2, 3]
    assert request.function_code == 3


def test_negative_gap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_gap"):
        plan_reads([], max_gap=-1)
