"""Payload v2 on its own: the same readings as v1, a fraction of the bytes, strict refusals."""

from __future__ import annotations

import struct

import pytest

from occmon.model import Quality, Reading
from occmon.payload import PayloadError, decode_batch, encode_batch
from occmon.payload_v2 import (
    Encoder,
    SeriesBook,
    decode_items,
    group_id_block,
    group_ids,
    group_readings,
    is_v2,
    message,
    series_id,
    split_ids,
)

SITE = "plant-a"
T = 1_780_000_000.0
F32 = struct.unpack("<f", struct.pack("<f", 4.7))[0]  # a FLOAT32 register's value


def varied() -> list[Reading]:
    """Every shape a gateway reading takes: qualities, reasons, raw or not, odd times."""
    return [
        Reading("p1", "h2s", T, 7.088186356073211, "mg/m3", sensor="s1", device="d1",
                raw_value=F32, raw_unit="ppm"),
        Reading("p1", "h2s", T, 2.5, "mg/m3", Quality.UNCERTAIN, reason="calibration-overdue",
                sensor="s2", device="d1", raw_value=1.75, raw_unit="ppm"),
        Reading("p2", "nh3", T, None, "mg/m3", Quality.BAD, reason="loop-under-range",
                sensor="s3", device="d1", raw_value=3.2, raw_unit="mA"),
        Reading("p2", "nh3", T + 0.0004, None, "mg/m3", Quality.BAD, reason="device-offline",
                sensor="s3", device="d1"),  # raw unit of the series, but no raw value
        Reading("n1", "noise", T + 0.25, 85.5, "dB(A)", quantity="laeq", sensor="sl",
                device="slm"),
        Reading("n1", "noise", T - 1.0017, -0.0, "dB(C)", Quality.UNCERTAIN,
                quantity="lcpeak", reason="check-function:bump-test"),
        Reading("p1", "h2s", T, 1e300, "mg/m3", sensor="s1", device="d1", raw_value=1e-300,
                raw_unit="ppm"),
        Reading("p1", "h2s", T, 3, "mg/m3", reason="clock-skew", sensor="s1", device="d1",
                raw_value=2, raw_unit="ppm"),  # ints, and a reason on a good reading
        Reading("点-1", "h2s", T + 86_400 * 30, 0.0, "mg/m3", sensor="传感器", device=""),
    ]


def book_of(encoder: Encoder) -> SeriesBook:
    book = SeriesBook()
    for ident, body in encoder.bodies.items():
        book.learn(ident.hex(), body)
    return book


def test_v2_decodes_to_exactly_what_v1_decodes_to() -> None:
    readings = varied()
    encoder = Encoder()
    payload = message(SITE, [encoder.group(readings[:4]), encoder.group(readings[4:])])
    assert is_v2(payload) and not is_v2(encode_batch(SITE, readings))
    site, docs, items = decode_items(payload, book_of(encoder))
    v1_site, v1 = decode_batch(encode_batch(SITE, readings))
    assert site == v1_site == SITE
    assert items == v1  # every field: time, value, raw, quality, reason, sensor, device, unit
    assert [d["point"] for d in docs] == [r.point for r in readings]  # v1 objects on demand


def test_a_poll_batch_costs_a_fraction_of_v1() -> None:
    batch = [Reading(f"dev7-p{j}", "h2s", T, j + 0.25, "mg/m3", sensor=f"dev7-s{j}",
                     device="dev-7", raw_value=F32, raw_unit="mA") for j in range(10)]
    encoder = Encoder()
    group = encoder.group(batch)
    # per reading: 8-byte series id, 1 flag byte, two float32; per group: count and time
    assert len(group) == 10 * (8 + 1 + 4 + 4) + 2 + 8
    assert len(encode_batch(SITE, batch)) / 10 > 180  # what v1 spends on each
    assert group_readings(group) == 10 and len(set(group_ids(group))) == 10
    # the publisher's "announced already?" key: the group's ids as one block
    block = group_id_block(group)
    assert len(block) == 80 and split_ids(block) == group_ids(group) == list(encoder.bodies)
    assert group_id_block(Encoder().group(batch[3:5])) == block[24:40]


def test_series_are_content_addressed_and_checked() -> None:
    encoder = Encoder()
    encoder.group(varied()[:1])
    (ident, body), = encoder.bodies.items()
    assert series_id(body) == ident
    again = Encoder()
    again.group(varied()[:1])
    assert list(again.bodies) == [ident]  # the same series has the same id in any process
    book = SeriesBook()
    with pytest.raises(PayloadError) as forged:
        book.learn(ident.hex(), body.replace(b'"p1"', b'"p9"'))
    assert forged.value.code == "bad-series"
    with pytest.raises(PayloadError, match="SHA-256"):
        book.learn("zz", body)
    assert book.learn(ident.hex(), body).point == "p1"


def test_unknown_series_refuses_the_whole_message_after_one_fetch() -> None:
    encoder = Encoder()
    payload = message(SITE, [encoder.group(varied()[:3])])
    asked: list[set[bytes]] = []
    book = SeriesBook()
    book.fetch = asked.append  # a broker without them: nothing learnt
    with pytest.raises(PayloadError) as refused:
        decode_items(payload, book)
    assert refused.value.code == "unknown-series"
    assert asked == [set(encoder.bodies)]

    def fetch(wanted: set[bytes]) -> None:
        for ident in wanted:
            book.learn(ident.hex(), encoder.bodies[ident])

    book.fetch = fetch
    assert decode_items(payload, book)[2] == decode_batch(encode_batch(SITE, varied()[:3]))[1]


@pytest.mark.parametrize("cut", [5, 12, 20, 40, -1])
def test_a_cut_message_is_malformed_not_a_crash(cut: int) -> None:
    encoder = Encoder()
    payload = message(SITE, [encoder.group(varied()[:3])])
    with pytest.raises(PayloadError) as bad:
        decode_items(payload[:cut], book_of(encoder))
    assert bad.value.code in ("malformed-payload", "empty-batch")


def test_an_unknown_quality_code_costs_only_its_reading() -> None:
    encoder = Encoder()
    readings = [Reading("p1", "h2s", T, 1.0, "mg/m3", Quality.BAD, reason="stale"),
                Reading("p1", "h2s", T + 1, 2.0, "mg/m3")]
    group = bytearray(encoder.group(readings))
    at = 10 + 16 + 1 + 4  # header, ids, flags, float32 value: the quality byte
    assert group[at] == 2
    group[at] = 9
    _, _, items = decode_items(message(SITE, [bytes(group)]), book_of(encoder))
    assert isinstance(items[0], PayloadError) and items[0].code == "invalid-reading"
    assert items[1] == readings[1]


def test_a_plain_poll_batch_takes_the_one_call_path_with_the_same_bytes() -> None:
    import random

    from occmon import payload_v2

    rng = random.Random(7)

    def batch(n: int, *, tweak: int | None = None) -> list[Reading]:
        out = []
        for j in range(n):
            raw = struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]
            value = raw if j % 3 else raw * 0.5  # both float32-exact
            out.append(Reading(f"p{j}", "h2s", T, value, "mg/m3", sensor=f"s{j}",
                               device="d", raw_value=raw, raw_unit="ppm"))
        if tweak is not None:  # one reading that needs the per-reading way
            r = out[tweak]
            out[tweak] = [
                Reading(r.point, r.agent, T + 0.5, r.value, r.unit, sensor=r.sensor,
                        device=r.device, raw_value=r.raw_value, raw_unit=r.raw_unit),
                Reading(r.point, r.agent, T, r.value, r.unit, Quality.UNCERTAIN,
                        reason="calibration-overdue", sensor=r.sensor, device=r.device,
                        raw_value=r.raw_value, raw_unit=r.raw_unit),
                Reading(r.point, r.agent, T, 0.1, r.unit, sensor=r.sensor, device=r.device,
                        raw_value=r.raw_value, raw_unit=r.raw_unit),  # 0.1: not float32
                Reading(r.point, r.agent, T, 1e300, r.unit, sensor=r.sensor, device=r.device,
                        raw_value=r.raw_value, raw_unit=r.raw_unit),  # past float32
                Reading(r.point, r.agent, T, r.value, r.unit, sensor=r.sensor,
                        device=r.device),  # no raw value
            ][tweak % 5]
        return out

    def per_reading(encoder: Encoder, readings: list[Reading]) -> bytes:
        plain, payload_v2._plain = payload_v2._plain, lambda _r: None
        try:
            return encoder.group(readings)
        finally:
            payload_v2._plain = plain

    encoder = Encoder()
    for n in (1, 10, 37):
        readings = batch(n)
        assert payload_v2._plain(readings) is not None  # the one-call path is taken
        assert encoder.group(readings) == per_reading(encoder, readings)
        for tweak in range(1, min(n, 6)):  # not the first: its time is the group's
            readings = batch(n, tweak=tweak)
            assert payload_v2._plain(readings) is None
            assert encoder.group(readings) == per_reading(encoder, readings)
    # and a plain group decodes to the readings it was made of, through v1's equal
    readings = batch(10)
    _, _, items = decode_items(message(SITE, [encoder.group(readings)]), book_of(encoder))
    assert items == decode_batch(encode_batch(SITE, readings))[1]
