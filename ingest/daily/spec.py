"""What the analyzer needs to know about a point, taken from the site config and the catalogue.

Built once per close: the agent's names and kind, the limits applied (edition and sources as
the catalogue gives them), the hold of a reading (``max_gap``, the same staleness rule the
API uses), and the instruments with whether their calibration was current on the day. A
calibration the instrument reported (``ingest.instrument_events``) that is later than the
date typed into the site file stands in for it: the instrument line then says so
(``calibration_source: event`` and the event's id); otherwise the line is as it always was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import thresholds
from occmon import calibration
from occmon.config.schema import Point, SiteConfig

PRIMARY = {"chemical": "concentration", "dust": "concentration", "noise": "laeq",
           "radiation": "hp10"}
DEFAULT_HOLD_S = 60.0


@dataclass(frozen=True, slots=True)
class PointSpec:
    point: Point
    agent: thresholds.Agent
    limits: thresholds.Limits
    pc_twa: float | None  # dust: the fraction's PC-TWA
    holds: dict[str, float]  # quantity -> max_gap seconds
    instruments: tuple[dict[str, Any], ...]  # sensor, quantity, model, serial, calibrated, due
    intervals: Mapping[str, int] = field(default_factory=dict)  # sensor -> calibration days

    @property
    def kind(self) -> str:
        return str(self.agent.kind)

    @property
    def primary(self) -> str:
        return PRIMARY.get(self.kind, "concentration")

    def hold(self, quantity: str) -> float:
        return self.holds.get(quantity, DEFAULT_HOLD_S)

    def limits_content(self) -> dict[str, Any]:
        lim = self.limits
        out: dict[str, Any] = {"mac": lim.mac, "pc_twa": self.pc_twa, "pc_stel": lim.pc_stel,
                               "edition": lim.edition, "confidence": lim.confidence,
                               "sources": list(lim.sources)}
        if self.agent.noise is not None:
            out["lex_8h"] = self.agent.noise.lex_8h
            out["sources"] = [*out["sources"], self.agent.noise.grade_source.cite()]
        if self.agent.radiation is not None:
            out["investigation_msv_per_year"] = self.agent.radiation.investigation_msv_per_year
            out["sources"] = [*out["sources"], self.agent.radiation.investigation_source.cite()]
        if self.pc_twa is not None and lim.pc_stel is None and self.kind in ("chemical", "dust"):
            out["pe_3x"], out["pe_5x"] = 3 * self.pc_twa, 5 * self.pc_twa
        return out


def point_spec(config: SiteConfig, point: Point) -> PointSpec:
    agent = thresholds.lookup(point.agent)
    limits = agent.limits(altitude_m=config.site.altitude_m)
    pc_twa = limits.pc_twa
    if agent.kind == "dust":
        pc_twa = (limits.pc_twa_respirable if point.fraction == "respirable"
                  else limits.pc_twa_total)
    holds: dict[str, float] = {}
    instruments = []
    intervals: dict[str, int] = {}
    for sensor in config.sensors_at(point.id):  # indexed: specs() stays linear in points
        holds[sensor.quantity] = max(holds.get(sensor.quantity, 0.0), config.expiry(sensor.device))
        inst = sensor.instrument
        intervals[sensor.id] = inst.calibration_interval_days if inst else 365
        instruments.append({
            "sensor": sensor.id, "quantity": sensor.quantity, "device": sensor.device,
            "model": inst.model if inst else None, "serial": inst.serial if inst else None,
            "calibrated": inst.calibrated.isoformat() if inst and inst.calibrated else None,
            "calibration_due": (
                (inst.calibrated + dt.timedelta(days=inst.calibration_interval_days)).isoformat()
                if inst and inst.calibrated else None
            ),
        })
    return PointSpec(point, agent, limits, pc_twa, holds, tuple(instruments), intervals)


def instruments_on(spec: PointSpec, day: dt.date,
                   calibrations: Mapping[str, tuple[dt.date, str]] | None = None
                   ) -> list[dict[str, Any]]:
    """The point's instruments with ``calibration_current`` judged on ``day``.

    ``calibrations``: sensor -> (date, event id) of its last calibration event up to the
    day's end (``instrument_events.latest_calibrations``); used when later than the site
    file's date, the due date then counted from it."""
    out = []
    for inst in spec.instruments:
        event = (calibrations or {}).get(inst["sensor"])
        typed = inst["calibrated"]
        typed_day = dt.date.fromisoformat(typed) if typed else None
        if event is not None and event[0] <= day and (
                calibration.later(typed_day, event[0]) != typed_day):
            interval = spec.intervals.get(inst["sensor"], 365)
            inst = {**inst, "calibrated": event[0].isoformat(),
                    "calibration_due": calibration.due_date(event[0], interval).isoformat(),
                    "calibration_source": "event", "calibration_event": event[1]}
        cal, due = inst["calibrated"], inst["calibration_due"]
        current = (cal is not None and due is not None
                   and dt.date.fromisoformat(cal) <= day <= dt.date.fromisoformat(due))
        out.append({**inst, "calibration_current": current})
    return out


def specs(config: SiteConfig) -> list[PointSpec]:
    return [point_spec(config, p) for p in config.points]
