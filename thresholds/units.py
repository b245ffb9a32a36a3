"""Unit conversion to each agent's canonical unit, at recorded reference conditions.

Chemicals and dusts: mg/m3 (GBZ 2.1-2019 states every limit in mg/m3); sound: dB; dose: uSv
(dose rate: uSv/h). ppm -> mg/m3 = ppm x M / Vm (DOMAIN.md section 1); Vm = 24.04 L/mol at
20 C, 101.3 kPa is the figure Chinese sampling practice uses (verify). The ideal gas gives
24.06 L/mol at those conditions: ``ReferenceConditions.ideal`` computes that, ``STANDARD_REFERENCE``
keeps the conventional 24.04, and every result records which one was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

from thresholds.catalogue import Agent
from thresholds.errors import UnitError

if TYPE_CHECKING:  # numpy only where a function needs it: lookups and conversions do not
    from thresholds.types import FloatArray

R_L_KPA = 8.314462618  # gas constant, L kPa / (mol K)


@dataclass(frozen=True)
class ReferenceConditions:
    """Temperature, pressure and the molar volume used for ppm <-> mg/m3."""

    temperature_c: float
    pressure_kpa: float
    molar_volume_l: float
    label: str

    @classmethod
    def ideal(cls, temperature_c: float, pressure_kpa: float) -> ReferenceConditions:
        """Vm from the ideal-gas law, Vm = R T / P (e.g. a site at altitude or in a hot shop)."""
        if pressure_kpa <= 0 or temperature_c <= -273.15:
            raise UnitError(f"reference conditions out of range: {temperature_c} C, "
                            f"{pressure_kpa} kPa")
        vm = R_L_KPA * (temperature_c + 273.15) / pressure_kpa
        return cls(temperature_c, pressure_kpa, vm, f"ideal gas {temperature_c:g} C "
                   f"{pressure_kpa:g} kPa")

    def as_dict(self) -> dict[str, float | str]:
        return {"temperature_c": self.temperature_c, "pressure_kpa": self.pressure_kpa,
                "molar_volume_l_per_mol": self.molar_volume_l, "label": self.label}


STANDARD_REFERENCE = ReferenceConditions(20.0, 101.3, 24.04, "GBZ 159 20 C 101.3 kPa (verify)")


@overload
def ppm_to_mgm3(ppm: float, molar_mass: float,
                ref: ReferenceConditions = STANDARD_REFERENCE) -> float: ...
@overload
def ppm_to_mgm3(ppm: FloatArray, molar_mass: float,
                ref: ReferenceConditions = STANDARD_REFERENCE) -> FloatArray: ...
def ppm_to_mgm3(ppm: float | FloatArray, molar_mass: float,
                ref: ReferenceConditions = STANDARD_REFERENCE) -> float | FloatArray:
    """mg/m3 = ppm x M / Vm (DOMAIN.md section 1)."""
    return ppm * molar_mass / ref.molar_volume_l


@overload
def mgm3_to_ppm(mgm3: float, molar_mass: float,
                ref: ReferenceConditions = STANDARD_REFERENCE) -> float: ...
@overload
def mgm3_to_ppm(mgm3: FloatArray, molar_mass: float,
                ref: ReferenceConditions = STANDARD_REFERENCE) -> FloatArray: ...
def mgm3_to_ppm(mgm3: float | FloatArray, molar_mass: float,
                ref: ReferenceConditions = STANDARD_REFERENCE) -> float | FloatArray:
    """ppm = mg/m3 x Vm / M, the inverse of ``ppm_to_mgm3``."""
    return mgm3 * ref.molar_volume_l / molar_mass


def usv_to_msv(usv: float) -> float:
    return usv / 1000.0


def msv_to_usv(msv: float) -> float:
    return msv * 1000.0


def db_sum(levels: FloatArray) -> float:
    """Energy sum of levels: 10 lg sum 10^(0.1 L) (equal-energy rule, GBZ 2.2-2007 cl. 11)."""
    import numpy as np

    return float(10.0 * np.log10(np.sum(np.power(10.0, 0.1 * np.asarray(levels, float)))))


def db_mean(levels: FloatArray, weights: FloatArray | None = None) -> float:
    """Energy (time-weighted) mean of levels: 10 lg (sum w 10^(0.1 L) / sum w)."""
    import numpy as np

    lv = np.asarray(levels, float)
    w = np.ones_like(lv) if weights is None else np.asarray(weights, float)
    return float(10.0 * np.log10(np.sum(w * np.power(10.0, 0.1 * lv)) / np.sum(w)))


_ALIASES = {
    "mg/m3": "mg/m3", "mg/m^3": "mg/m3", "mgm3": "mg/m3", "mg/nm3": "mg/m3",
    "ug/m3": "ug/m3", "ug/m^3": "ug/m3", "g/m3": "g/m3",
    "ppm": "ppm", "ppb": "ppb", "%vol": "%vol", "vol%": "%vol", "%v/v": "%vol",
    "%lel": "%LEL", "lel%": "%LEL",
    "db": "dB", "dba": "dB(A)", "db(a)": "dB(A)", "dbc": "dB(C)", "db(c)": "dB(C)",
    "dbz": "dB(Z)", "db(z)": "dB(Z)",
    "nsv": "nSv", "usv": "uSv", "msv": "mSv", "sv": "Sv",
    "nsv/h": "nSv/h", "usv/h": "uSv/h", "msv/h": "mSv/h",
}
_MASS_SCALE = {"mg/m3": 1.0, "ug/m3": 1e-3, "g/m3": 1e3}
_DOSE_SCALE = {"nSv": 1e-3, "uSv": 1.0, "mSv": 1e3, "Sv": 1e6}


def normalise_unit(unit: str) -> str:
    """Spelling-tolerant unit name: 'µg/m³', 'UG/M3', 'dBA', 'dB(A)' -> canonical spellings."""
    key = (unit.strip().replace(" ", "").replace("µ", "u").replace("μ", "u")
           .replace("³", "3").casefold())
    try:
        return _ALIASES[key]
    except KeyError:
        raise UnitError(f"unknown unit {unit!r}; known: {', '.join(sorted(set(_ALIASES.values())))}"
                        ) from None


def canonical_unit(agent: Agent, unit: str | None = None) -> str:
    """The unit ``to_canonical`` returns for this agent (and, for radiation, this input unit).

    mg/m3 for chemicals and dusts (a row may override, e.g. oxygen '%vol', methane '%LEL');
    'dB' for noise (the weighting, A or C, is metadata the caller keeps); 'uSv' for dose and
    'uSv/h' when the input is a dose rate.
    """
    if agent.kind in ("chemical", "dust"):
        return agent.canonical_unit or "mg/m3"
    if agent.kind == "noise":
        return "dB"
    if unit is not None and normalise_unit(unit).endswith("/h"):
        return "uSv/h"
    return "uSv"


def _incompatible(agent: Agent, unit: str, why: str = "") -> UnitError:
    target = canonical_unit(agent)
    return UnitError(f"unit {unit!r} cannot be converted to {target} for agent {agent.id!r}"
                     + (f": {why}" if why else ""))


@overload
def to_canonical(value: float, unit: str, agent: Agent,
                 ref: ReferenceConditions = STANDARD_REFERENCE) -> float: ...
@overload
def to_canonical(value: FloatArray, unit: str, agent: Agent,
                 ref: ReferenceConditions = STANDARD_REFERENCE) -> FloatArray: ...
def to_canonical(value: float | FloatArray, unit: str, agent: Agent,
                 ref: ReferenceConditions = STANDARD_REFERENCE) -> float | FloatArray:
    """Convert ``value`` in ``unit`` to ``canonical_unit(agent, unit)``; else ``UnitError``.

    The gateway calls this to normalise readings; ``ref`` is recorded with the result by the
    caller (see ``ReferenceConditions.as_dict``).
    """
    u = normalise_unit(unit)
    target = canonical_unit(agent, unit)
    if agent.kind in ("noise", "radiation") or u in ("dB", "dB(A)", "dB(C)", "dB(Z)") or \
            u in _DOSE_SCALE or u.endswith("/h"):
        return _physical(value, u, unit, agent, target)
    # Gas/vapour/particulate: first to ppm when the input is a volume fraction.
    if u in _MASS_SCALE:
        mgm3 = value * _MASS_SCALE[u]
        if target == "mg/m3":
            return mgm3
        return _from_ppm(_mgm3_to_ppm_checked(mgm3, agent, unit, ref), agent, unit, target)
    ppm = _to_ppm(value, u, unit, agent)
    return _from_ppm(ppm, agent, unit, target, ref)


def _physical(value: float | FloatArray, u: str, unit: str, agent: Agent,
              target: str) -> float | FloatArray:
    if agent.kind == "noise" and u in ("dB", "dB(A)", "dB(C)", "dB(Z)"):
        return value
    if agent.kind == "radiation" and u in _DOSE_SCALE:
        return value * _DOSE_SCALE[u]
    if agent.kind == "radiation" and u.endswith("/h"):
        return value * _DOSE_SCALE[u[:-2]]
    raise _incompatible(agent, unit, f"it is a unit of {_dimension(u)}")


def _dimension(u: str) -> str:
    if u.startswith("dB"):
        return "sound level"
    if u.endswith("/h"):
        return "dose rate"
    if u in _DOSE_SCALE:
        return "dose"
    return "concentration"


def _to_ppm(value: float | FloatArray, u: str, unit: str, agent: Agent) -> float | FloatArray:
    if u == "ppm":
        return value
    if u == "ppb":
        return value * 1e-3
    if u == "%vol":
        return value * 1e4
    if u == "%LEL":
        if agent.lel_percent_vol is None:
            raise _incompatible(agent, unit, "the catalogue has no LEL for it")
        return value * agent.lel_percent_vol / 100.0 * 1e4
    raise _incompatible(agent, unit)  # pragma: no cover - every alias is handled above


def _mgm3_to_ppm_checked(mgm3: float | FloatArray, agent: Agent, unit: str,
                         ref: ReferenceConditions) -> float | FloatArray:
    if agent.molar_mass is None:
        raise _incompatible(agent, unit, "no molar mass (a particulate or aerosol)")
    return mgm3_to_ppm(mgm3, agent.molar_mass, ref)


def _from_ppm(ppm: float | FloatArray, agent: Agent, unit: str, target: str,
              ref: ReferenceConditions = STANDARD_REFERENCE) -> float | FloatArray:
    if target == "mg/m3":
        if agent.molar_mass is None:
            raise _incompatible(agent, unit, "no molar mass (a particulate or aerosol); "
                                "give mg/m3")
        return ppm_to_mgm3(ppm, agent.molar_mass, ref)
    if target == "%vol":
        return ppm / 1e4
    if target == "%LEL":
        if agent.lel_percent_vol is None:
            raise _incompatible(agent, unit, "the catalogue has no LEL for it")
        return ppm / 1e4 / agent.lel_percent_vol * 100.0
    raise _incompatible(agent, unit)  # pragma: no cover - catalogue validates targets
