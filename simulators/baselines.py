"""Typical levels per agent, and the signal that simulates one sensor.

The figures are what a well-run plant of each kind shows on an ordinary day, so a demo looks
plausible and stays below the limits unless a scenario says otherwise:

- H2S at a desulfurisation pump house: a few tenths of a ppm (MAC 10 mg/m3 ~ 7 ppm);
- NH3 at a tank farm: a few ppm (PC-TWA 20 mg/m3 ~ 28 ppm);
- cement mill walkway: total dust 1-3 mg/m3, respirable 0.5-1 (PC-TWA 4 / 1.5);
- cement mill walkway with the mill enclosed (the noise control GBZ 1 asks for): LAeq
  81-85 dB(A) in production, LCpeak 105-118 dB(C), so an ordinary day passes LEX,8h 85;
- a patrol worker's dosimeter: a little lower and more variable than the fixed meter;
- an industrial radiographer: a few uSv Hp(10) over a shift, in bursts during exposures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

import thresholds
from occmon.quantities import QUANTITIES
from simulators.signals import (
    DoseRate,
    Drift,
    Hp10,
    Level,
    NoiseDose,
    Peak,
    Signal,
    Sound,
    source_key,
)


class SignalError(ValueError):
    """A sensor the simulators cannot produce (unknown quantity, unit they cannot give)."""


@dataclass(frozen=True)
class Gas:
    """Typical concentration of an agent (production and quiet hours) in ``unit``."""

    unit: str
    production: float
    quiet: float
    noise_abs: float
    noise_rel: float = 0.05
    drift_rel: float = 0.15


# Keyed by the catalogue ids thresholds uses; aliases below map other spellings.
GASES: dict[str, Gas] = {
    "h2s": Gas("ppm", 0.4, 0.1, 0.05),
    "ammonia": Gas("ppm", 4.0, 1.0, 0.3),
    "co": Gas("ppm", 3.0, 0.5, 0.3),
    "so2": Gas("ppm", 0.3, 0.05, 0.05),
    "cl2": Gas("ppm", 0.05, 0.01, 0.01),
    "dust/total": Gas("mg/m3", 2.0, 0.3, 0.05, noise_rel=0.15, drift_rel=0.25),
    "dust/respirable": Gas("mg/m3", 0.75, 0.15, 0.03, noise_rel=0.15, drift_rel=0.25),
    # fresh air's 20.9 %vol, day and night: an O2 cell reads it to about 0.1 %vol
    "oxygen": Gas("%vol", 20.9, 20.9, 0.05, noise_rel=0.001, drift_rel=0.002),
}
GENERIC_GAS = Gas("ppm", 0.5, 0.1, 0.05)
ALIASES: dict[str, str] = {
    "hydrogen sulfide": "h2s",
    "hydrogen sulphide": "h2s",
    "7783-06-4": "h2s",
    "硫化氢": "h2s",
    "nh3": "ammonia",
    "7664-41-7": "ammonia",
    "氨": "ammonia",
    "carbon monoxide": "co",
    "630-08-0": "co",
    "o2": "oxygen",
    "7782-44-7": "oxygen",
    "氧气": "oxygen",
    "氧": "oxygen",
}


def gas_family(agent: str, fraction: str | None) -> str:
    """The GASES key for a point's agent (dusts by fraction, default total)."""
    name = agent.strip().lower()
    if "dust" in name or "粉尘" in name or fraction is not None:
        return f"dust/{fraction or 'total'}"
    return ALIASES.get(name, name)


@dataclass(frozen=True)
class SensorSpec:
    """What the simulators need to know of one sensor, resolved from the site config."""

    agent: str
    quantity: str
    fraction: str | None
    unit: str | None
    source: str  # the device id: quantities of one device share one process
    personal: bool  # a worn dosimeter rather than a fixed instrument


def sound(seed: int, spec: SensorSpec, tz: tzinfo) -> Sound:
    rng = source_key(seed, f"{spec.source}/noise")
    key = int(rng.integers(0, 2**63))
    if spec.personal:
        return Sound("dB(A)", 82.0, 55.0, 2.5, tz, key, Drift.seeded(rng, 1.5), worn=True)
    return Sound("dB(A)", 83.0, 62.0, 1.0, tz, key, Drift.seeded(rng, 1.2))


def dose_rate(seed: int, spec: SensorSpec, tz: tzinfo) -> DoseRate:
    rng = source_key(seed, f"{spec.source}/radiation")
    return DoseRate(
        "uSv/h",
        background=0.12,
        exposures_per_shift=(6, 12),
        duration_s=(60.0, 300.0),
        rate=(2.0, 15.0),
        tz=tz,
        seed=seed,
        source=spec.source,
        key=int(rng.integers(0, 2**63)),
    )


def base_signal(seed: int, spec: SensorSpec, tz: tzinfo) -> Signal:
    """The ordinary-day signal of a sensor, in its canonical (or gas-table) unit."""
    quantity = spec.quantity
    if quantity == "laeq":
        return sound(seed, spec, tz)
    if quantity == "lcpeak":
        rng = source_key(seed, f"{spec.source}/peak")
        return Peak("dB(C)", sound(seed, spec, tz), 28.0, 3.5, int(rng.integers(0, 2**63)))
    if quantity == "noise_dose":
        return NoiseDose("%", sound(seed, spec, tz))
    if quantity == "dose_rate":
        return dose_rate(seed, spec, tz)
    if quantity == "hp10":
        return Hp10("uSv", dose_rate(seed, spec, tz))
    if quantity != "concentration":
        raise SignalError(f"no simulated signal for quantity {quantity!r}")
    family = gas_family(spec.agent, spec.fraction)
    gas = GASES.get(family, GENERIC_GAS)
    rng = source_key(seed, f"{spec.source}/{family}")
    key = int(rng.integers(0, 2**63))
    return Level(
        gas.unit, gas.production, gas.quiet, gas.noise_abs, gas.noise_rel, gas.drift_rel,
        tz, key, Drift.seeded(rng, gas.drift_rel),
    )


def site_reference(temperature_c: float, pressure_kpa: float) -> thresholds.ReferenceConditions:
    """The reference conditions the gateway converts ppm with (gateway.app.site_reference):
    the standard's 24.04 L/mol at 20 C / 101.3 kPa, else the ideal-gas molar volume."""
    standard = thresholds.STANDARD_REFERENCE
    if (temperature_c, pressure_kpa) == (standard.temperature_c, standard.pressure_kpa):
        return standard
    return thresholds.ReferenceConditions.ideal(temperature_c, pressure_kpa)


def unit_factor(
    spec: SensorSpec,
    signal_unit: str,
    reference: thresholds.ReferenceConditions = thresholds.STANDARD_REFERENCE,
) -> float:
    """Multiply a signal value by this to express it in the sensor's configured unit.

    A gas sensor set to mg/m3 (or ug/m3) gets the ppm signal converted at the site's
    reference conditions, so the gateway converting it back finds the same level."""
    unit = spec.unit or signal_unit
    if unit == signal_unit:
        return 1.0
    known = QUANTITIES.get(spec.quantity)
    if spec.quantity != "concentration" and known is not None and unit in known.factors:
        return 1.0 / known.factors[unit]
    if spec.quantity == "concentration":
        try:
            agent = thresholds.lookup(spec.agent)
            return float(thresholds.to_canonical(1.0, signal_unit, agent, reference)
                         / thresholds.to_canonical(1.0, unit, agent, reference))
        except (thresholds.UnitError, thresholds.UnknownAgent):
            pass
    raise SignalError(
        f"the simulator gives {spec.quantity} of {spec.agent!r} in {signal_unit}, "
        f"and cannot give {unit!r}; set the sensor's unit to {signal_unit}"
    )
