"""Unit conversion: ppm <-> mg/m3 at recorded reference conditions, canonical units, errors."""

from __future__ import annotations

import numpy as np
import pytest

from thresholds import (
    STANDARD_REFERENCE,
    ReferenceConditions,
    UnitError,
    canonical_unit,
    lookup,
    mgm3_to_ppm,
    ppm_to_mgm3,
    to_canonical,
)
from thresholds.units import db_mean, db_sum, msv_to_usv, usv_to_msv


def test_standard_reference_is_24_04() -> None:
    assert STANDARD_REFERENCE.molar_volume_l == 24.04
    assert (STANDARD_REFERENCE.temperature_c, STANDARD_REFERENCE.pressure_kpa) == (20, 101.3)


@pytest.mark.parametrize(("agent", "ppm", "mgm3"), [
    ("h2s", 1.0, 34.08 / 24.04),        # 1.4176 mg/m3
    ("h2s", 10.0, 14.176),
    ("co", 1.0, 28.01 / 24.04),         # 1.1651 mg/m3
    ("co", 100.0, 116.514),
    ("nh3", 25.0, 17.710),
    ("cl2", 0.5, 1.4746),
])
def test_ppm_to_mgm3(agent: str, ppm: float, mgm3: float) -> None:
    assert to_canonical(ppm, "ppm", lookup(agent)) == pytest.approx(mgm3, rel=2e-4)


def test_round_trip_and_arrays() -> None:
    x = np.array([0.0, 1.0, 7.5, 300.0])
    back = mgm3_to_ppm(ppm_to_mgm3(x, 34.08), 34.08)
    np.testing.assert_allclose(back, x)


def test_ideal_gas_reference() -> None:
    ref = ReferenceConditions.ideal(25.0, 101.325)
    assert ref.molar_volume_l == pytest.approx(24.465, abs=1e-3)
    assert ReferenceConditions.ideal(20.0, 101.3).molar_volume_l == pytest.approx(24.061, abs=1e-3)
    co = lookup("co")
    assert to_canonical(1.0, "ppm", co, ref) == pytest.approx(28.01 / 24.465, rel=1e-4)
    assert ref.as_dict()["molar_volume_l_per_mol"] == ref.molar_volume_l
    with pytest.raises(UnitError):
        ReferenceConditions.ideal(20.0, 0.0)


@pytest.mark.parametrize(("value", "unit", "agent", "expected"), [
    (500.0, "ug/m3", "h2s", 0.5), (500.0, "µg/m³", "h2s", 0.5), (2.0, "MG/M3", "h2s", 2.0),
    (1000.0, "ppb", "h2s", 34.08 / 24.04), (0.01, "%vol", "co", 100 * 28.01 / 24.04),
    (10.0, "%LEL", "h2s", 4000 * 34.08 / 24.04),   # 10 % of LEL 4 %vol = 0.4 %vol = 4000 ppm
    (50.0, "%LEL", "methane", 50.0), (2.5, "%vol", "methane", 50.0),
    (20.9, "%vol", "oxygen", 20.9),
    (88.0, "dBA", "noise", 88.0), (88.0, "dB(A)", "noise", 88.0), (130.0, "dBC", "noise", 130.0),
    (2.0, "mSv", "radiation", 2000.0), (2.0, "uSv", "radiation", 2.0),
    (500.0, "nSv", "radiation", 0.5), (3.0, "uSv/h", "radiation", 3.0),
    (0.003, "mSv/h", "radiation", 3.0),
])
def test_to_canonical(value: float, unit: str, agent: str, expected: float) -> None:
    assert to_canonical(value, unit, lookup(agent)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("agent", "unit", "expected"), [
    ("h2s", None, "mg/m3"), ("silica-dust-80", None, "mg/m3"), ("noise", None, "dB"),
    ("radiation", None, "uSv"), ("radiation", "uSv/h", "uSv/h"), ("radiation", "mSv", "uSv"),
    ("methane", None, "%LEL"), ("oxygen", None, "%vol")])
def test_canonical_unit(agent: str, unit: str | None, expected: str) -> None:
    assert canonical_unit(lookup(agent), unit) == expected


@pytest.mark.parametrize(("unit", "agent", "message"), [
    ("furlongs", "h2s", "unknown unit 'furlongs'"),
    ("dBA", "h2s", "sound level"),
    ("ppm", "silica-dust-80", "no molar mass"),
    ("ppm", "lead-fume", "no molar mass"),
    ("%LEL", "cl2", "no LEL"),
    ("mg/m3", "noise", "cannot be converted to dB"),
    ("uSv", "noise", "unit of dose"),
    ("ppm", "radiation", "cannot be converted to uSv"),
])
def test_incompatible_units(unit: str, agent: str, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        to_canonical(1.0, unit, lookup(agent))


def test_db_and_dose_helpers() -> None:
    assert db_sum(np.array([85.0, 85.0])) == pytest.approx(88.0103, abs=1e-4)
    assert db_mean(np.array([90.0, 80.0]), np.array([4.0, 4.0])) == pytest.approx(87.4036,
                                                                                   abs=1e-4)
    assert usv_to_msv(1500.0) == 1.5 and msv_to_usv(1.5) == 1500.0
