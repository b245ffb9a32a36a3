"""The per-poll fast paths give what the plain ones give: decoding, conversion, wake-ups,
the reading's JSON.

``RequestDecoder`` must decode every type and byte order exactly as ``codec.decode``;
``Binding``'s cached conversion must agree with ``thresholds.to_canonical`` and a polled
sensor's ``Prepared`` normalise with ``normalise``; the shared
poll wake-ups must never wake a task early nor let one cancelled task disturb another.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import thresholds
from gateway.modbus.codec import BYTE_ORDERS, CodecError, decode, register_count
from gateway.modbus.device import RequestDecoder
from gateway.modbus.plan import plan_reads
from gateway.modbus.profile import Register
from gateway.normalise import Prepared, normalise
from gateway.polling import Wakeups
from occmon.model import Quality, Reading
from occmon.payload import encode_reading, reading_to_dict
from tests.gateway.helpers import bindings_for
from tests.gateway.sites import DEMO, load_site

NUMERIC = ("INT16", "UINT16", "INT32", "UINT32", "INT64", "UINT64", "FLOAT32", "FLOAT64")
word = st.integers(min_value=0, max_value=0xFFFF)


def same(a: float | int, b: float | int) -> bool:
    """Equal, or both NaN (a NaN decodes to NaN whatever its payload)."""
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                      and math.isnan(b))


@settings(max_examples=300, deadline=None)
@given(
    layout=st.lists(st.tuples(st.sampled_from(NUMERIC), st.sampled_from(BYTE_ORDERS)),
                    min_size=1, max_size=6),
    data=st.data(),
)
def test_request_decoder_equals_codec_decode_for_every_type_and_order(
    layout: list[tuple[str, str]], data: st.DataObject
) -> None:
    registers, address = [], 0
    for n, (data_type, order) in enumerate(layout):
        registers.append(Register(name=f"r{n}", kind="holding", address=address,
                                  type=data_type, byte_order=order))  # type: ignore[arg-type]
        address += register_count(data_type)  # type: ignore[arg-type]
    [request] = plan_reads(registers)
    words = data.draw(st.lists(word, min_size=request.count, max_size=request.count))
    got: dict[str, float | int] = {}
    RequestDecoder(request).decode(words, got)
    for register in registers:
        expected = decode(request.slice_of(register, words), register.type, register.byte_order)
        assert same(got[register.name], expected), (register, words)
    assert set(got) == {r.name for r in registers}


def test_request_decoder_known_vector_with_a_gap_and_bits() -> None:
    # 12.34 as float32 = 41 45 70 a4; word-swapped (CDAB) at address 4, UINT16 at 2 (gap 3)
    regs = [
        Register(name="a", kind="holding", address=0, type="FLOAT32"),
        Register(name="s", kind="holding", address=2, type="UINT16"),
        Register(name="b", kind="holding", address=4, type="FLOAT32", byte_order="CDAB"),
        Register(name="run", kind="coil", address=0, type="BOOL"),
        Register(name="trip", kind="coil", address=1, type="BOOL"),
    ]
    holding, coils = sorted(plan_reads(regs, max_gap=1), key=lambda r: r.kind != "holding")
    values: dict[str, float | int] = {}
    RequestDecoder(holding).decode([0x4145, 0x70A4, 7, 0xDEAD, 0x70A4, 0x4145], values)
    RequestDecoder(coils).decode([1, 0], values)
    assert values["a"] == values["b"] == struct.unpack(">f", bytes.fromhex("414570a4"))[0]
    assert (values["s"], values["run"], values["trip"]) == (7, 1, 0)
    assert "gap" not in values and len(values) == 5


def test_request_decoder_refuses_a_word_wider_than_16_bits() -> None:
    [request] = plan_reads([Register(name="a", kind="input", address=0, type="UINT32")])
    with pytest.raises(CodecError, match="not 16 bits"):
        RequestDecoder(request).decode([1, 0x10000], {})


@pytest.mark.parametrize("unit", ["ppm", "ppb", "mg/m3", "ug/m3", "%vol"])
@pytest.mark.parametrize("value", [0.0, 0.37, 12.34, 99.9])
def test_cached_conversion_agrees_with_thresholds(unit: str, value: float) -> None:
    config = load_site(DEMO)
    binding = bindings_for(config)["gp1-h2s"]  # H2S, range 0-100
    reading = normalise(binding, value, 1.0, unit=unit)
    exact = thresholds.to_canonical(value, unit, binding.agent, binding.reference)
    assert reading.quality == "good" and reading.unit == "mg/m3"
    assert reading.value == pytest.approx(exact, rel=1e-12, abs=1e-300)
    assert (reading.raw_value, reading.raw_unit) == (value, unit)


def test_incompatible_unit_still_raises() -> None:
    binding = bindings_for(load_site(DEMO))["gp1-h2s"]
    with pytest.raises(thresholds.UnitError):
        normalise(binding, 1.0, 1.0, unit="dB")
    with pytest.raises(thresholds.UnitError):  # not cached as a success the second time
        normalise(binding, 1.0, 1.0, unit="dB")


def test_shared_wakeups_never_early_and_a_cancelled_waiter_leaves_the_others() -> None:
    async def scenario() -> tuple[list[float], list[float], bool]:
        loop = asyncio.get_running_loop()
        wakeups = Wakeups(loop, 0.05)
        base = loop.time() + 0.1
        dues = [base + 0.001 * i for i in range(5)]  # one or two slots of 50 ms
        woke: list[float] = []

        async def sleeper(when: float) -> None:
            await wakeups.sleep_until(when)
            woke.append(loop.time())

        tasks = [asyncio.create_task(sleeper(when)) for when in dues]
        victim = asyncio.create_task(sleeper(base))  # same slot as the first
        await asyncio.sleep(0.01)
        victim.cancel()
        await asyncio.gather(*tasks)
        await asyncio.gather(victim, return_exceptions=True)
        return dues, woke, victim.cancelled()

    dues, woke, cancelled = asyncio.run(scenario())
    assert cancelled
    assert len(woke) == 5  # every other waiter woke, the cancelled one did not
    assert min(woke) >= min(dues)
    # all within one quantum of their due time, plus slack for a loaded machine
    assert max(woke) - max(dues) < 0.05 + 1.0


text = st.text(min_size=1, max_size=12)  # any code point: quotes, controls, CJK, surrogates
optional = st.one_of(st.none(), st.just(""), text)


@settings(max_examples=400, deadline=None)
@given(
    point=text, agent=text, unit=text, sensor=optional, device=optional,
    when=st.floats(min_value=0, max_value=4e9),
    value=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False),
                    st.integers(-10**6, 10**6)),
    quality=st.sampled_from(list(Quality)), reason=st.one_of(st.none(), text),
    raw=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_encode_reading_is_json_dumps_of_reading_to_dict_byte_for_byte(
    point: str, agent: str, unit: str, sensor: str | None, device: str | None, when: float,
    value: float | None, quality: Quality, reason: str | None, raw: float | None,
) -> None:
    if quality is not Quality.GOOD and not reason:
        reason = "out-of-range"
    reading = Reading(point, agent, when, value, unit, quality=quality, reason=reason,
                      sensor=sensor, device=device, raw_value=raw,
                      raw_unit=None if raw is None else "mA")
    plain = json.dumps(reading_to_dict(reading), separators=(",", ":"), ensure_ascii=False,
                       allow_nan=False).encode()
    assert encode_reading(reading) == plain
    assert encode_reading(reading) == plain  # again, through the caches


def test_encode_reading_of_successive_times_and_a_nan_value() -> None:
    first = Reading("p1", "h2s", 1_700_000_000.0, 1.5, "mg/m3")
    second = Reading("p1", "h2s", 1_700_000_001.25, 1.5, "mg/m3")
    assert b'"time":"2023-11-14T22:13:20.000Z"' in encode_reading(first)
    assert b'"time":"2023-11-14T22:13:21.250Z"' in encode_reading(second)
    nan = Reading("p1", "h2s", 1.0, 0.0, "mg/m3")
    object.__setattr__(nan, "value", math.nan)  # past the model's own check
    with pytest.raises(ValueError, match="JSON compliant"):
        encode_reading(nan)


def _same_reading(a: Reading, b: Reading) -> bool:
    """Equal field by field, NaN raw values included (NaN != NaN)."""
    if a == b:
        return True
    return (dataclasses.replace(a, raw_value=0.0) == dataclasses.replace(b, raw_value=0.0)
            and a.raw_value is not None and b.raw_value is not None
            and math.isnan(a.raw_value) and math.isnan(b.raw_value))


@settings(max_examples=400, deadline=None)
@given(
    sensor=st.sampled_from(("gp1-h2s", "d1-total", "s1-laeq", "s1-peak")),
    unit=st.sampled_from(("", "ppm", "mg/m3", "ug/m3", "dB(A)", "dB(C)", "dB")),
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-5, max_value=200),
        st.sampled_from((0.0, 30.0, 100.0, 140.0, 160.0, -0.0, 1e308, math.nan, math.inf)),
    ),
)
def test_prepared_normalise_equals_normalise(sensor: str, unit: str, value: float) -> None:
    binding = _DEMO_BINDINGS[sensor]
    unit = unit or (binding.sensor.unit or "")
    try:
        expected: Reading | type[Exception] = normalise(binding, value, 1.7e9, unit=unit)
    except Exception as exc:  # an incompatible unit: the same error from both
        expected = type(exc)
    prepared = Prepared(binding, unit)
    if isinstance(expected, type):
        with pytest.raises(expected):
            prepared(value, 1.7e9)
        return
    assert _same_reading(prepared(value, 1.7e9), expected)


_DEMO_BINDINGS = bindings_for(load_site(DEMO))
