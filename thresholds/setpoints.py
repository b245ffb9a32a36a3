"""Alarm set-points derived from an agent's limits, each with the clause it comes from.

Two profiles a site can choose:

* ``GBZ/T 223`` (GBZ/T 223-2009, detection-alarm devices in workplaces): pre-alarm (预报) =
  1/2 MAC or 1/2 PC-STEL; alarm (警报) = MAC or PC-STEL. For an agent with only a PC-TWA the
  standard refers to the abolished excursion value; occmon uses the GBZ 2.1-2019 peak-exposure
  threshold 3 x PC-TWA as alarm and half of it as pre-alarm (an inference; docs/alarms.md says
  what follows from it). A dust's PC-TWA is the measured fraction's (``fraction``). High alarm
  (高报) is the employer's to set; occmon's default is 2 x alarm, labelled as such.
* ``GB/T 50493`` (GB/T 50493-2019 cl. 5.5.2, petrochemical): toxic level 1 <= 100 % OEL,
  level 2 <= 200 % OEL; combustible 25 / 50 %LEL; oxygen deficiency 19.5 %vol, enrichment
  23.5 %vol. Toxic-and-flammable gases are alarmed on toxicity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from thresholds.catalogue import Agent
from thresholds.units import canonical_unit

Profile = Literal["GBZ/T 223", "GB/T 50493"]
PROFILES: tuple[Profile, ...] = ("GBZ/T 223", "GB/T 50493")
_FIELDS = ("pre_alarm", "alarm", "high_alarm", "low_alarm")


@dataclass(frozen=True)
class SetPoints:
    """Rising alarm levels (and ``low_alarm`` for oxygen deficiency) in ``unit``.

    ``derivation`` maps each field name to the text saying where its value comes from.
    """

    pre_alarm: float | None
    alarm: float | None
    high_alarm: float | None
    unit: str
    profile: str
    derivation: dict[str, str]
    low_alarm: float | None = None


def _oel(agent: Agent) -> tuple[float, str]:
    lim = agent.limits()
    for value, name in ((lim.mac, "MAC"), (lim.pc_stel, "PC-STEL"), (lim.pc_twa, "PC-TWA"),
                        (lim.pc_twa_total, "PC-TWA (total dust)")):
        if value is not None:
            return value, f"{name} {value:g} mg/m3 ({'; '.join(lim.sources)}, {lim.edition})"
    raise ValueError(f"agent {agent.id!r} has no occupational exposure limit")


def _dust_twa(agent: Agent, fraction: str | None) -> tuple[float | None, str]:
    """A dust's PC-TWA for the fraction measured (GBZ 2.1-2019 Table 2): a respirable-dust
    monitor is alarmed on the respirable limit, never on the (higher) total-dust one."""
    lim = agent.limits()
    if fraction == "respirable":
        if lim.pc_twa_respirable is None:
            raise ValueError(f"agent {agent.id!r} has no respirable-dust PC-TWA "
                             "(GBZ 2.1-2019 Table 2); measure total dust or override")
        return lim.pc_twa_respirable, "PC-TWA (respirable dust)"
    if fraction not in (None, "total"):
        raise ValueError(f"dust fraction must be 'total' or 'respirable', got {fraction!r}")
    return lim.pc_twa_total, "PC-TWA (total dust)"


def _gbzt223(agent: Agent, fraction: str | None = None) -> SetPoints:
    if agent.kind not in ("chemical", "dust"):
        raise ValueError(f"GBZ/T 223 set-points apply to airborne agents, not {agent.kind}")
    lim = agent.limits()
    cite = f"{'; '.join(lim.sources)}, {lim.edition}"
    employer = ("employer-set (GBZ/T 223-2009: by toxicity, people present, consequences; "
                "starts the emergency plan); occmon default 2 x alarm")
    ceiling = lim.mac if lim.mac is not None else lim.pc_stel
    if ceiling is not None:
        name = "MAC" if lim.mac is not None else "PC-STEL"
        return SetPoints(
            ceiling / 2, ceiling, 2 * ceiling, "mg/m3", "GBZ/T 223",
            {"pre_alarm": f"GBZ/T 223-2009: 1/2 {name} = {ceiling / 2:g} ({name} from {cite})",
             "alarm": f"GBZ/T 223-2009: {name} = {ceiling:g} ({cite})",
             "high_alarm": employer})
    if agent.kind == "dust":
        twa, which = _dust_twa(agent, fraction)
    else:
        twa, which = lim.pc_twa, "PC-TWA"
    if twa is None:
        raise ValueError(f"agent {agent.id!r} has no MAC, PC-STEL or PC-TWA; "
                         "use profile 'GB/T 50493' (%LEL / %vol)")
    inference = (f"occmon inference: GBZ/T 223-2009 refers to the abolished excursion value; "
                 f"GBZ 2.1-2019 cl. 3 peak-exposure threshold 3 x {which} = {3 * twa:g}")
    return SetPoints(
        1.5 * twa, 3 * twa, 6 * twa, "mg/m3", "GBZ/T 223",
        {"pre_alarm": f"{inference}; pre-alarm is half of it = {1.5 * twa:g} ({cite})",
         "alarm": f"{inference} ({cite})",
         "high_alarm": employer})


def _gbt50493(agent: Agent, fraction: str | None = None) -> SetPoints:
    unit = canonical_unit(agent)
    clause = "GB/T 50493-2019 cl. 5.5.2"
    if unit == "%vol":
        return SetPoints(None, 23.5, None, "%vol", "GB/T 50493",
                         {"alarm": f"{clause}: oxygen enrichment 23.5 %vol",
                          "low_alarm": f"{clause}: oxygen deficiency 19.5 %vol"},
                         low_alarm=19.5)
    if unit == "%LEL":
        return SetPoints(25.0, 50.0, None, "%LEL", "GB/T 50493",
                         {"pre_alarm": f"{clause}: combustible level 1 <= 25 %LEL",
                          "alarm": f"{clause}: combustible level 2 <= 50 %LEL"})
    if agent.kind == "dust":
        value, name = _dust_twa(agent, fraction)
        assert value is not None   # a dust row always has a total-dust PC-TWA
        lim = agent.limits()
        oel, text = value, f"{name} {value:g} mg/m3 ({'; '.join(lim.sources)}, {lim.edition})"
    else:
        oel, text = _oel(agent)
    return SetPoints(
        oel, 2 * oel, None, "mg/m3", "GB/T 50493",
        {"pre_alarm": f"{clause}: toxic level 1 <= 100 % OEL; OEL = {text}",
         "alarm": f"{clause}: toxic level 2 <= 200 % OEL = {2 * oel:g}",
         "high_alarm": "not defined by GB/T 50493-2019; set by override if wanted"})


def setpoints(agent: Agent, profile: str = "GBZ/T 223",
              overrides: Mapping[str, float] | None = None,
              fraction: str | None = None) -> SetPoints:
    """Derive the set-points of ``profile`` for ``agent``; ``overrides`` replaces any of
    pre_alarm / alarm / high_alarm / low_alarm and records "override" in its derivation.
    ``fraction`` ("total" | "respirable", dusts only) picks the dust limit the monitor
    measures against: a respirable-dust point follows the respirable PC-TWA."""
    if profile == "GBZ/T 223":
        sp = _gbzt223(agent, fraction)
    elif profile == "GB/T 50493":
        sp = _gbt50493(agent, fraction)
    else:
        raise ValueError(f"unknown set-point profile {profile!r}; one of {PROFILES}")
    if not overrides:
        return sp
    values = {f: getattr(sp, f) for f in _FIELDS}
    derivation = dict(sp.derivation)
    for key, value in overrides.items():
        if key not in _FIELDS:
            raise ValueError(f"override {key!r}: not a set-point; one of {_FIELDS}")
        if not value > 0:
            raise ValueError(f"override {key!r}: must be > 0, got {value}")
        was = derivation.get(key, "unset")
        derivation[key] = f"override: {value:g} {sp.unit} set by the site (derived: {was})"
        values[key] = float(value)
    rising = [values[f] for f in ("pre_alarm", "alarm", "high_alarm") if values[f] is not None]
    if rising != sorted(rising):
        raise ValueError(f"set-points must rise pre_alarm <= alarm <= high_alarm, got {rising}")
    return SetPoints(values["pre_alarm"], values["alarm"], values["high_alarm"], sp.unit,
                     sp.profile, derivation, values["low_alarm"])
