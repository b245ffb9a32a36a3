"""The physical-range and time-window rules gateway and ingest share."""

from __future__ import annotations

import pytest

from occmon.config.trust import TrustConfig
from occmon.plausibility import RANGES, Implausible, check_time, check_value
from occmon.quantities import QUANTITIES

NOW = 1_780_000_000.0


def test_every_quantity_has_a_range() -> None:
    assert set(RANGES) == set(QUANTITIES)


@pytest.mark.parametrize("quantity,value", [
    ("concentration", -5.0), ("concentration", 1e308), ("laeq", 300.0), ("laeq", -1.0),
    ("hp10", -0.1), ("concentration", float("nan")),
])
def test_impossible_values_are_refused(quantity: str, value: float) -> None:
    with pytest.raises(Implausible) as err:
        check_value(quantity, value)
    assert err.value.code == "implausible-value"


@pytest.mark.parametrize("quantity,value", [
    ("concentration", 0.0), ("concentration", 141.8), ("laeq", 85.0), ("lcpeak", 140.0),
    ("hp10", 20_000.0), ("noise_dose", 100.0),
])
def test_real_values_pass(quantity: str, value: float) -> None:
    check_value(quantity, value)


def test_unknown_quantity() -> None:
    with pytest.raises(Implausible) as err:
        check_value("weight", 1.0)
    assert err.value.code == "bad-quantity"


@pytest.mark.parametrize("offset,code", [
    (3600.0, "clock-skew"),  # an hour ahead
    (5.5, "clock-skew"),
    (-401 * 86400.0, "too-old"),
    (-NOW, "too-old"),  # 1970
    (-NOW - 62_135_596_800.0, "too-old"),  # year 1
    (32_503_680_000.0 - NOW, "clock-skew"),  # year 3000
])
def test_times_outside_the_window(offset: float, code: str) -> None:
    with pytest.raises(Implausible) as err:
        check_time(NOW + offset, NOW, TrustConfig())
    assert err.value.code == code


@pytest.mark.parametrize("offset", [0.0, 4.9, -60.0, -399 * 86400.0])
def test_times_inside_the_window(offset: float) -> None:
    check_time(NOW + offset, NOW, TrustConfig())
