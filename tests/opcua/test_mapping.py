"""The pure decoding of one data change: status code, value and time."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from asyncua import ua

from gateway.opcua.mapping import WireValueError, judge_status, number, sample_time
from occmon.model import Quality

S = ua.StatusCodes


@pytest.mark.parametrize(("code", "quality", "reason"), [
    (S.Good, Quality.GOOD, None),
    (S.GoodLocalOverride, Quality.GOOD, None),
    (S.UncertainLastUsableValue, Quality.UNCERTAIN,
     "opcua-uncertain:UncertainLastUsableValue"),
    (S.UncertainSensorNotAccurate, Quality.UNCERTAIN,
     "opcua-uncertain:UncertainSensorNotAccurate"),
    (S.BadSensorFailure, Quality.BAD, "opcua-bad:BadSensorFailure"),
    (S.BadCommunicationError, Quality.BAD, "opcua-bad:BadCommunicationError"),
    (S.BadSensorFailure | 0x0000_0100, Quality.BAD, "opcua-bad:BadSensorFailure"),  # limit bits
    (0x8123_0000, Quality.BAD, "opcua-bad:Bad"),  # a code no table knows: its severity
])
def test_status_code_severity_decides_the_quality(code: int, quality: Quality,
                                                   reason: str | None) -> None:
    judged = judge_status(code)
    assert (judged.quality, judged.reason) == (quality, reason)


@pytest.mark.parametrize(("value", "expected"), [(5, 5.0), (2.5, 2.5), (None, None)])
def test_numbers_pass(value: object, expected: float | None) -> None:
    assert number(value) == expected


def test_nan_passes_for_normalisation_to_judge() -> None:
    got = number(float("nan"))
    assert got is not None and math.isnan(got)


@pytest.mark.parametrize("value", ["12.5", True, [1.0, 2.0], b"\x01"])
def test_anything_else_is_wrong_type(value: object) -> None:
    with pytest.raises(WireValueError) as caught:
        number(value)
    assert caught.value.code == "wrong-type"


def test_time_is_source_else_server_else_arrival() -> None:
    source = dt.datetime(2026, 5, 12, 8, 0, tzinfo=dt.UTC)
    server = dt.datetime(2026, 5, 12, 8, 0, 1)  # naive: OPC UA time is UTC
    assert sample_time(source, server, 1.0) == source.timestamp()
    assert sample_time(None, server, 1.0) == source.timestamp() + 1.0
    assert sample_time(None, None, 1.0) == 1.0
    assert sample_time(dt.datetime(1601, 1, 1), None, 7.0) == 7.0  # OPC UA's "no time"
