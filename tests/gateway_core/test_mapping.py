"""The pure vendor-JSON mapping: a table of payloads and what each becomes."""

from __future__ import annotations

import json

import pytest

from gateway.mqtt.mapping import MISSING, MappingError, extract, lookup
from occmon.config.schema import MqttMapping

ARRIVAL = 1_750_000_000.5
MS = MqttMapping(fields={"h2s": "gas.h2s", "t": "env.0.t"}, time="ts", time_format="epoch_ms")


def doc(**kw: object) -> bytes:
    return json.dumps(kw).encode()


def test_dotted_paths_reach_objects_and_lists() -> None:
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert lookup(data, "a.b.1.c") == 2
    assert lookup(data, "a.b.5.c") is MISSING
    assert lookup(data, "a.x") is MISSING
    assert lookup(data, "a.b.c") is MISSING  # a list needs an index


@pytest.mark.parametrize(
    ("mapping", "payload", "time"),
    [
        (MS, doc(ts=1_750_000_000_250, gas={"h2s": 1}, env=[{"t": 2}]), 1_750_000_000.25),
        (
            MqttMapping(
                fields={"h2s": "gas.h2s", "t": "env.0.t"}, time="ts", time_format="epoch_s"
            ),
            doc(ts=1_750_000_001, gas={"h2s": 1}, env=[{"t": 2}]),
            1_750_000_001.0,
        ),
        (
            MqttMapping(fields={"h2s": "gas.h2s", "t": "env.0.t"}, time="ts"),
            doc(ts="2025-06-15T15:06:40+08:00", gas={"h2s": 1}, env=[{"t": 2}]),
            1_749_971_200.0,
        ),
        (
            MqttMapping(fields={"h2s": "gas.h2s", "t": "env.0.t"}),
            doc(gas={"h2s": 1}, env=[{"t": 2}]),
            ARRIVAL,
        ),
    ],
    ids=["epoch_ms", "epoch_s", "iso8601", "arrival"],
)
def test_time_formats(mapping: MqttMapping, payload: bytes, time: float) -> None:
    sample = extract(payload, mapping, ARRIVAL)
    assert sample.time == pytest.approx(time)
    assert sample.values == {"h2s": 1.0, "t": 2.0}
    assert sample.problems == []


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", "malformed-json"),
        (b"\xff\xfe", "malformed-json"),
        (b'"text"', "not-an-object"),
        (doc(gas={"h2s": 1}), "missing-field"),  # no time at the mapped path
        (doc(ts="1750000000000", gas={"h2s": 1}), "bad-time"),  # a string, not epoch_ms
        (doc(ts=1_750_000_000, gas={"h2s": 1}), "bad-time"),  # seconds sent as ms
        (b'{"ts": NaN, "gas": {"h2s": 1}}', "bad-time"),
        (doc(ts=True, gas={"h2s": 1}), "bad-time"),
    ],
)
def test_message_level_errors(payload: bytes, code: str) -> None:
    with pytest.raises(MappingError) as err:
        extract(payload, MS, ARRIVAL)
    assert err.value.code == code


def test_naive_iso_time_is_refused() -> None:
    mapping = MqttMapping(fields={"h2s": "h2s"}, time="time")
    with pytest.raises(MappingError, match="no UTC offset") as err:
        extract(doc(time="2025-06-15T15:06:40", h2s=1), mapping, ARRIVAL)
    assert err.value.code == "bad-time"


@pytest.mark.parametrize(
    ("gas", "code"),
    [
        ("{}", "missing-field"),
        ('{"h2s": "5"}', "wrong-type"),
        ('{"h2s": true}', "wrong-type"),
        ('{"h2s": null}', "wrong-type"),
        ('{"h2s": NaN}', "not-a-number"),
        ('{"h2s": Infinity}', "not-a-number"),
        ('{"h2s": 1e999}', "not-a-number"),
    ],
)
def test_field_errors_keep_the_other_fields(gas: str, code: str) -> None:
    payload = b'{"ts": 1750000000000, "gas": %s, "env": [{"t": 21.5}]}' % gas.encode()
    sample = extract(payload, MS, ARRIVAL)
    assert sample.values == {"t": 21.5}
    assert [(p.field, p.code) for p in sample.problems] == [("h2s", code)]
