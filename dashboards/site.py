"""What the boards need to know about a site: its points, what each measures, its limits.

Read once from the site configuration (``occmon.config.SiteConfig``) and the exposure-limit
catalogue (``thresholds``), so every board draws the same set-point and limit lines. A
point whose agent the catalogue does not know still gets its panels, without lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import thresholds
from dashboards.panels import Line
from occmon.config.modbus_links import PolledModbus
from occmon.config.opcua import OpcUaDevice
from occmon.config.schema import Point, SiteConfig
from occmon.quantities import QUANTITIES

PRE_ALARM, ALARM, HIGH_ALARM, LIMIT = "#EAB839", "orange", "red", "purple"


@dataclass(frozen=True, slots=True)
class Measure:
    """One (point, quantity) series: what a sensor bound to the point reports."""

    quantity: str
    unit: str  # canonical unit
    poll_interval: float | None  # Modbus devices only: the expected reading interval


@dataclass(frozen=True, slots=True)
class PointView:
    point: Point
    kind: str  # catalogue kind: chemical, dust, noise, radiation, or "" when unknown
    measures: tuple[Measure, ...]
    setpoint_lines: tuple[Line, ...]  # GBZ/T 223 pre-alarm / alarm / high alarm
    live_limit_lines: tuple[Line, ...]  # MAC or PC-STEL: compare with live values
    twa_lines: tuple[Line, ...]  # PC-TWA for the running TWA
    stel_lines: tuple[Line, ...]  # PC-STEL for the 15-min average

    @property
    def title(self) -> str:
        return f"{self.point.name.zh} {self.point.name.en}"

    def measure(self, quantity: str) -> Measure | None:
        return next((m for m in self.measures if m.quantity == quantity), None)


@dataclass(frozen=True, slots=True)
class Wearing:
    """A worker wore a dosimeter that feeds ``point`` from ``start`` to ``end`` (epoch s;
    None: still worn): one assignment of the registry (``dashboards.wearers``)."""

    worker: str
    point: str
    start: float
    end: float | None


@dataclass(frozen=True, slots=True)
class SiteView:
    config: SiteConfig
    points: tuple[PointView, ...]
    wearings: tuple[Wearing, ...] = ()

    def workers(self) -> dict[str, list[Wearing]]:
        """Each worker's wearings, by employee number, in time order."""
        out: dict[str, list[Wearing]] = {}
        for w in sorted(self.wearings, key=lambda w: (w.worker, w.start, w.point)):
            out.setdefault(w.worker, []).append(w)
        return out

    @property
    def site(self) -> str:
        return self.config.site.id

    def area_title(self, area_id: str) -> str:
        area = next(a for a in self.config.areas if a.id == area_id)
        return f"{area.name.zh} {area.name.en}"

    def of_kind(self, *kinds: str) -> list[PointView]:
        return [p for p in self.points if p.kind in kinds]


def _agent(agent_id: str) -> thresholds.Agent | None:
    try:
        return thresholds.lookup(agent_id)
    except Exception:  # unknown agent: panels without limit lines
        return None


def _airborne_lines(
    agent: thresholds.Agent, point: Point
) -> tuple[tuple[Line, ...], tuple[Line, ...], tuple[Line, ...], tuple[Line, ...]]:
    sp = thresholds.setpoints(agent)
    setpoints = tuple(
        Line(v, label, color)
        for v, label, color in (
            (sp.pre_alarm, "预报 pre-alarm", PRE_ALARM),
            (sp.alarm, "警报 alarm", ALARM),
            (sp.high_alarm, "高报 high alarm", HIGH_ALARM),
        )
        if v is not None
    )
    lim = agent.limits()
    live = []
    if lim.mac is not None:
        live.append(Line(lim.mac, "MAC", LIMIT))
    twa_value = lim.pc_twa
    if point.fraction == "respirable" and lim.pc_twa_respirable is not None:
        twa_value = lim.pc_twa_respirable
    elif twa_value is None:
        twa_value = lim.pc_twa_total
    twa = (Line(twa_value, "PC-TWA", LIMIT),) if twa_value is not None else ()
    stel = (Line(lim.pc_stel, "PC-STEL", LIMIT),) if lim.pc_stel is not None else ()
    return setpoints, tuple(live), twa, stel


def point_view(config: SiteConfig, point: Point) -> PointView:
    measures: list[Measure] = []
    for sensor in config.sensors:
        if sensor.point != point.id or any(m.quantity == sensor.quantity for m in measures):
            continue
        quantity = QUANTITIES.get(sensor.quantity)
        device = config.device(sensor.device)
        poll = None
        if isinstance(device, PolledModbus | OpcUaDevice):  # every polled link kind
            poll = device.poll_interval
        unit = quantity.unit if quantity is not None else (sensor.unit or "")
        measures.append(Measure(sensor.quantity, unit, poll))
    agent = _agent(point.agent)
    kind = agent.kind if agent is not None else ""
    lines: tuple[tuple[Line, ...], ...] = ((), (), (), ())
    if agent is not None and kind in ("chemical", "dust"):
        try:
            lines = _airborne_lines(agent, point)
        except ValueError:  # an agent without a limit the profile can use
            lines = ((), (), (), ())
    return PointView(point, kind, tuple(measures), *lines)


def site_view(config: SiteConfig, wearings: tuple[Wearing, ...] = ()) -> SiteView:
    return SiteView(config, tuple(point_view(config, p) for p in config.points), wearings)


def noise_limits() -> tuple[float, float]:
    """(LEX,8h limit dB(A), impulse peak limit dB(C) for <= 100 impulses a day)."""
    agent = thresholds.lookup("noise")
    assert agent.noise is not None
    peaks = sorted(agent.noise.impulse_peak, key=lambda b: b.max_impulses)
    return agent.noise.lex_8h, peaks[0].peak_db


def dose_lines_usv() -> tuple[Line, ...]:
    """GB 18871-2002 annex B1.1.1 and the GBZ 128 investigation level, in uSv."""
    agent = thresholds.lookup("ionising-radiation")
    rad = agent.radiation
    assert rad is not None
    return (
        Line(rad.investigation_msv_per_year * 1000, "调查水平 investigation level", PRE_ALARM),
        Line(rad.effective_5y_avg_msv * 1000, "20 mSv/a (5-year average)", ALARM),
        Line(rad.effective_single_year_msv * 1000, "单年 single-year limit", HIGH_ALARM),
    )
