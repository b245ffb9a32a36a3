"""What each quantity of a point is judged against: its limits, its set-points, its level.

Limits come from the catalogue (``thresholds``) with the clause they are printed in;
set-points are derived the way the gateway's alarm engine derives them (GBZ/T 223 by
default, the site's ``alarms:`` overrides on top), so the floor sees the figures the alarms
use. The display level of a live value is the higher of the gateway's alarm level and the
value against the set-points; a stale or missing value is ``offline``, a bad one ``fault``:
never a colour that says "fine" about a number nobody measured.
"""

from __future__ import annotations

from typing import Literal

import thresholds
from api.models import LatestReading, LimitOut, SetPointsOut
from occmon.config.alarms import AlarmsConfig, PointAlarm
from occmon.config.schema import Point, SiteConfig

DisplayLevel = Literal["normal", "pre-alarm", "alarm", "high", "fault", "offline"]
RANK: dict[str, int] = {"normal": 0, "pre-alarm": 1, "alarm": 2, "high": 3}
ENGINE_LEVEL: dict[str, DisplayLevel] = {"pre_alarm": "pre-alarm", "alarm": "alarm",
                                         "high_alarm": "high"}
# a named worker's dose (dosimeter Hp(10), personal noise dosimeter): personal data
PERSONAL = frozenset({"hp10", "noise_dose"})
_CHEMICAL = (("mac", "MAC"), ("pc_stel", "PC-STEL"), ("pc_twa", "PC-TWA"),
             ("pc_twa_total", "PC-TWA (total dust)"),
             ("pc_twa_respirable", "PC-TWA (respirable dust)"))


def limits_of(agent: thresholds.Agent, quantity: str,
              fraction: str | None = None) -> list[LimitOut]:
    """The catalogue's limits that apply to ``quantity`` of ``agent``, each with its source;
    a dust point's ``fraction`` (total / respirable) picks the limit of what it measures."""
    if quantity == "concentration" and agent.kind in ("chemical", "dust"):
        lim = agent.limits()
        source = "; ".join(lim.sources)
        other = {"total": "pc_twa_respirable", "respirable": "pc_twa_total"}.get(fraction or "")
        return [LimitOut(kind=name, value=float(value), unit="mg/m3", source=source,
                         edition=lim.edition, confidence=lim.confidence)
                for field, name in _CHEMICAL
                if field != other and (value := getattr(lim, field)) is not None]
    if agent.noise is not None and quantity in ("laeq", "lcpeak", "noise_dose"):
        src = agent.source.cite()
        noise = agent.noise
        if quantity == "laeq":
            return [LimitOut(kind="LEX,8h", value=noise.lex_8h, unit="dB(A)", source=src,
                             edition=agent.source.edition, confidence=agent.confidence)]
        if quantity == "lcpeak":
            top = max(b.peak_db for b in noise.impulse_peak)
            return [LimitOut(kind="peak (<= 100 impulses/day)", value=top, unit="dB(C)",
                             source=src, edition=agent.source.edition,
                             confidence=agent.confidence)]
        return [LimitOut(kind="dose (LEX,8h 85 dB(A))", value=100.0, unit="%", source=src,
                         edition=agent.source.edition, confidence=agent.confidence)]
    if agent.radiation is not None and quantity == "hp10":
        return [LimitOut(kind="effective dose, single year",
                         value=agent.radiation.effective_single_year_msv * 1000, unit="uSv",
                         source=agent.source.cite(), edition=agent.source.edition,
                         confidence=agent.confidence)]
    return []


def _alarm_entry(config: SiteConfig, point: str) -> tuple[AlarmsConfig, PointAlarm]:
    alarms = config.alarms or AlarmsConfig()
    return alarms, alarms.for_point(point)


def judged_quantity(config: SiteConfig, point: str) -> str | None:
    """The quantity the gateway's alarms judge: the first sensor's (as the engine does)."""
    return next((s.quantity for s in config.sensors if s.point == point), None)


def setpoints_of(config: SiteConfig, point: Point, quantity: str) -> SetPointsOut | None:
    """The set-points the gateway alarms ``point`` on, or None (no alarm on this quantity)."""
    alarms, entry = _alarm_entry(config, point.id)
    if not entry.enabled or judged_quantity(config, point.id) != quantity:
        return None
    agent = thresholds.lookup(point.agent)
    overrides = entry.overrides()
    try:
        sp = thresholds.setpoints(agent, profile=entry.profile or alarms.profile,
                                  overrides=overrides or None, fraction=point.fraction)
    except ValueError:
        if not overrides:
            return None
        unit = thresholds.canonical_unit(agent) if quantity == "concentration" else ""
        return SetPointsOut(pre_alarm=entry.pre_alarm, alarm=entry.alarm,
                            high_alarm=entry.high_alarm, low_alarm=None, unit=unit,
                            profile="site", derivation={k: "site" for k in overrides})
    return SetPointsOut(pre_alarm=sp.pre_alarm, alarm=sp.alarm, high_alarm=sp.high_alarm,
                        low_alarm=sp.low_alarm, unit=sp.unit, profile=sp.profile,
                        derivation=dict(sp.derivation))


def value_level(value: float, sp: SetPointsOut | None) -> DisplayLevel:
    """A value against set-points alone (no delays, no deadband): what the number says."""
    if sp is None:
        return "normal"
    if sp.low_alarm is not None and value <= sp.low_alarm:
        return "alarm"
    for name, level in (("high_alarm", "high"), ("alarm", "alarm"),
                        ("pre_alarm", "pre-alarm")):
        threshold = getattr(sp, name)
        if threshold is not None and value >= threshold:
            return level  # type: ignore[return-value]
    return "normal"


def display_level(latest: LatestReading, sp: SetPointsOut | None,
                  engine_level: str | None, faulted: bool) -> DisplayLevel:
    """normal / pre-alarm / alarm / high / fault / offline for one quantity's latest value."""
    if latest.stale or (latest.value is None and latest.reason == "no-data"):
        return "offline"
    if latest.value is None or latest.quality == "bad" or faulted:
        return "fault"
    by_value = value_level(latest.value, sp)
    by_engine = ENGINE_LEVEL.get(engine_level or "", "normal")
    return by_value if RANK[by_value] >= RANK[by_engine] else by_engine


def is_personal(config: SiteConfig, point: str) -> bool:
    """A point that measures a named worker's dose (e.g. Hp(10) of a dosimeter)."""
    return any(s.point == point and s.quantity in PERSONAL for s in config.sensors)
