"""What a reading measures, and its canonical unit.

A concentration needs the agent's molar mass to normalise (``thresholds.to_canonical``);
every other quantity converts by a fixed factor, kept here so gateway, ingest and API agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quantity:
    name: str
    unit: str  # canonical unit
    factors: dict[str, float]  # accepted input unit -> factor to the canonical unit
    zh: str
    en: str


def _q(name: str, unit: str, factors: dict[str, float], zh: str, en: str) -> Quantity:
    return Quantity(name, unit, {unit: 1.0, **factors}, zh, en)


QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        _q("concentration", "mg/m3", {}, "浓度", "concentration"),
        _q("laeq", "dB(A)", {"dBA": 1.0, "dB": 1.0}, "等效声级", "LAeq"),
        _q("lcpeak", "dB(C)", {"dBC": 1.0, "dB": 1.0}, "C计权峰值声级", "LCpeak"),
        _q("noise_dose", "%", {"percent": 1.0}, "噪声剂量", "noise dose"),
        _q("hp10", "uSv", {"mSv": 1e3, "nSv": 1e-3, "μSv": 1.0}, "个人剂量当量 Hp(10)", "Hp(10)"),
        _q(
            "dose_rate", "uSv/h", {"mSv/h": 1e3, "nSv/h": 1e-3, "μSv/h": 1.0}, "剂量率", "dose rate"
        ),
    )
}


class QuantityError(ValueError):
    pass


def convert(quantity: str, value: float, unit: str) -> float:
    """Convert a non-concentration value to its canonical unit; concentration goes elsewhere."""
    spec = QUANTITIES.get(quantity)
    if spec is None:
        raise QuantityError(f"unknown quantity {quantity!r}; known: {sorted(QUANTITIES)}")
    factor = spec.factors.get(unit)
    if factor is None:
        raise QuantityError(
            f"quantity {quantity!r} cannot take unit {unit!r}; use one of {sorted(spec.factors)}"
        )
    return value * factor
