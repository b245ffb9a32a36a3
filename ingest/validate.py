"""Is a reading one this site can produce? Built once from the site file, O(1) per reading.

The gateway only publishes readings of configured sensors, in their canonical unit, with
the catalogue id of the point's agent. Anything else on the broker (a misconfigured second
publisher, a forged message, a broken device clock) is refused here with a specific code
before it can reach the store, the exposure figures or the public board:

``unknown-point``, ``agent-mismatch``, ``quantity-mismatch``, ``unit-mismatch``,
``implausible-value`` (``occmon.plausibility.check_value``), ``clock-skew`` and ``too-old``
(``occmon.plausibility.check_time`` against the receive time and ``SiteConfig.trust``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import thresholds
from occmon.config.schema import SiteConfig
from occmon.config.trust import TrustConfig
from occmon.model import Reading
from occmon.payload import PayloadError
from occmon.payload_v2 import SeriesBook
from occmon.plausibility import Implausible, check_time, check_value
from occmon.quantities import QUANTITIES


def canonical_unit(agent: thresholds.Agent, quantity: str) -> str:
    """The unit the gateway publishes a sensor's values in (``gateway.normalise.Binding``):
    the agent's for a concentration, the quantity's for everything else."""
    if quantity == "concentration":
        return thresholds.canonical_unit(agent)
    return QUANTITIES[quantity].unit


@dataclass(frozen=True, slots=True)
class PointRule:
    """What one point's readings must carry."""

    point: str
    agent: str  # the catalogue id the gateway publishes
    agents: frozenset[str]  # that id and the site file's spelling (a CAS, a name)
    units: dict[str, str]  # quantity the point's sensors produce -> its canonical unit


@dataclass(frozen=True, slots=True)
class Validator:
    """The site's points, indexed by id, and its trust window."""

    site: str
    trust: TrustConfig
    points: dict[str, PointRule]
    # payload-v2 series learnt from series/<id> (the one piece of state decoding needs)
    series: SeriesBook = field(default_factory=SeriesBook, compare=False)

    @classmethod
    def from_config(cls, config: SiteConfig) -> Validator:
        agents = {p.id: thresholds.lookup(p.agent) for p in config.points}
        units: dict[str, dict[str, str]] = {p.id: {} for p in config.points}
        for sensor in config.sensors:
            if sensor.point in agents and sensor.quantity in QUANTITIES:
                units[sensor.point][sensor.quantity] = canonical_unit(
                    agents[sensor.point], sensor.quantity
                )
        rules = {
            p.id: PointRule(p.id, agents[p.id].id, frozenset({agents[p.id].id, p.agent}),
                            units[p.id])
            for p in config.points
        }
        return cls(config.site.id, config.trust, rules)

    def reading(self, reading: Reading, received: float) -> Reading:
        """The reading to store, its agent the catalogue id (a reading naming the point's
        agent as the site file spells it, a CAS or a name, is stored under the id, so every
        reading of an agent has one id); raise ``PayloadError`` with the specific code if it
        must not be stored."""
        rule = self.points.get(reading.point)
        if rule is None:
            raise PayloadError("unknown-point", f"point {reading.point!r} is not in the site "
                                                f"file of {self.site!r}")
        if reading.agent not in rule.agents:
            raise PayloadError("agent-mismatch", f"point {rule.point!r} measures agent "
                                                 f"{rule.agent!r}, not {reading.agent!r}")
        unit = rule.units.get(reading.quantity)
        if unit is None:
            raise PayloadError("quantity-mismatch",
                               f"no sensor of point {rule.point!r} measures {reading.quantity!r}"
                               f" (its sensors give {sorted(rule.units)})")
        if reading.unit != unit:
            raise PayloadError("unit-mismatch", f"{reading.quantity} of point {rule.point!r} is "
                                                f"in {unit!r}, not {reading.unit!r}")
        try:
            check_value(reading.quantity, reading.value)
            check_time(reading.time, received, self.trust)
        except Implausible as exc:
            raise PayloadError(exc.code, str(exc)) from None
        if reading.agent != rule.agent:
            return replace(reading, agent=rule.agent)
        return reading

    def time(self, time: float, received: float) -> None:
        """Raise ``PayloadError`` (``clock-skew``, ``too-old``) for a time outside the window."""
        try:
            check_time(time, received, self.trust)
        except Implausible as exc:
            raise PayloadError(exc.code, str(exc)) from None
