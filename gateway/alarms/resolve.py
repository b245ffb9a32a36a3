"""Build the engine's ``PointSpec``s from the site configuration and the limit catalogue.

Pure (config objects in, specs out): set-points come from ``thresholds.setpoints`` (GBZ/T 223
by default), overridden per point from the ``alarms:`` section. A point whose agent has no
airborne limit (noise, dose) and no override gets fault supervision only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import thresholds
from gateway.alarms.config import AlarmsConfig, PointAlarm
from gateway.alarms.levels import SetPointsLike
from gateway.alarms.spec import PointSpec
from occmon import calibration
from occmon.config.schema import MqttDevice, Sensor, SiteConfig
from occmon.quantities import QUANTITIES


@dataclass(frozen=True, slots=True)
class SiteSetPoints:
    """Set-points given entirely by the site, for agents the standards give none for."""

    pre_alarm: float | None
    alarm: float | None
    high_alarm: float | None
    unit: str
    profile: str = "site"


def _setpoints(agent: thresholds.Agent, entry: PointAlarm, profile: str,
               unit: str, fraction: str | None = None) -> SetPointsLike | None:
    overrides = entry.overrides()
    try:
        return thresholds.setpoints(agent, profile=profile, overrides=overrides or None,
                                    fraction=fraction if agent.kind == "dust" else None)
    except ValueError:
        if not overrides:
            return None
        return SiteSetPoints(entry.pre_alarm, entry.alarm, entry.high_alarm, unit)


def _calibration_due(site: SiteConfig, sensors: list[Sensor],
                     calibrated: Mapping[str, dt.date] | None = None) -> float | None:
    """The earliest calibration due date of a point's ``sensors``, as a timestamp.

    A sensor's calibration is the later of the site file's ``instrument.calibrated`` and
    the date in ``calibrated`` (sensor id -> site-local day of its last calibration that
    did not fail, as the gateway observed it: ``gateway.calibrations``); a sensor without
    an ``instrument`` section has no due date (``occmon.calibration`` has the rule)."""
    tz = ZoneInfo(site.site.timezone)
    dues = []
    for sensor in sensors:
        inst = sensor.instrument
        if inst is None:
            continue
        day = calibration.later(inst.calibrated, (calibrated or {}).get(sensor.id))
        if day is not None:
            dues.append(calibration.due_at(day, inst.calibration_interval_days, tz))
    return min(dues) if dues else None


def calibration_dues(site: SiteConfig, calibrated: Mapping[str, dt.date],
                     points: Iterable[str] | None = None) -> dict[str, float | None]:
    """point -> calibration due timestamp (``_calibration_due``) of ``points`` (default:
    every point), with ``calibrated`` standing in for older site-file dates."""
    names = [p.id for p in site.points] if points is None else list(points)
    return {name: _calibration_due(site, site.sensors_at(name), calibrated) for name in names}


def stale_after_polls(site: SiteConfig, alarms: AlarmsConfig) -> int:
    """Missed intervals that make a point stale: ``alarms.stale_after_polls`` when the alarms
    section sets it, else ``gateway.stale_after_polls`` (the one the API and records use)."""
    if "stale_after_polls" in alarms.model_fields_set:
        return alarms.stale_after_polls
    return site.gateway.stale_after_polls


def expected_interval(site: SiteConfig, alarms: AlarmsConfig, device_id: str) -> tuple[float, int]:
    """(expected interval, intervals of silence before stale) of a device's points.

    Modbus: the poll interval. MQTT: the configured ``interval``, else the default (the
    intake marks sensors stale sooner when it has learnt a faster rate, and the engine
    faults on those BAD ``stale`` readings at once: this is the backstop). An MQTT
    ``expire_after`` given outright is the whole window (one "interval").
    """
    device = site.device(device_id)
    if isinstance(device, MqttDevice):
        if device.expire_after is not None:
            return device.expire_after, 1
        return device.expected_interval, stale_after_polls(site, alarms)
    return device.poll_interval, stale_after_polls(site, alarms)


def point_specs(site: SiteConfig, alarms: AlarmsConfig | None = None) -> list[PointSpec]:
    """One spec per point that has a sensor; raises ValueError naming a bad override."""
    alarms = alarms or AlarmsConfig()
    known = {p.id for p in site.points}
    for entry in alarms.points:
        if entry.point not in known:
            raise ValueError(f"alarms.points: point {entry.point!r} is not in points")
    specs = []
    shared: dict[tuple[object, ...], SetPointsLike | None] = {}
    for point in site.points:
        sensors = site.sensors_at(point.id)  # indexed: linear in the points
        entry = alarms.for_point(point.id)
        if not sensors or not entry.enabled:
            continue
        first = sensors[0]
        agent = thresholds.lookup(point.agent)
        quantity = first.quantity
        unit = (thresholds.canonical_unit(agent) if quantity == "concentration"
                else QUANTITIES[quantity].unit)
        poll, polls = expected_interval(site, alarms, first.device)
        profile = entry.profile or alarms.profile
        # Points with the same agent, profile, overrides and unit share one set-points
        # object (with its derivation texts): 5,000 copies were ~8 MB of the gateway.
        key = (agent.id, profile, tuple(entry.overrides().items()), unit, point.fraction)
        if key in shared:
            sp = shared[key]
        else:
            sp = shared[key] = _setpoints(agent, entry, profile, unit, point.fraction)
        specs.append(PointSpec(
            point=point.id, unit=unit, poll_interval=poll, setpoints=sp,
            deadband_pct=entry.deadband_pct if entry.deadband_pct is not None
            else alarms.deadband_pct,
            deadband=entry.deadband,
            on_delay=entry.on_delay if entry.on_delay is not None else alarms.on_delay,
            high_alarm_on_delay=entry.high_alarm_on_delay
            if entry.high_alarm_on_delay is not None else alarms.high_alarm_on_delay,
            off_delay=entry.off_delay if entry.off_delay is not None else alarms.off_delay,
            stale_after_polls=entry.stale_after_polls or polls,
            fault_off_delay=alarms.fault_off_delay,
            calibration_due=_calibration_due(site, sensors),
            area=point.area, agent=agent.id, quantity=quantity))
    return specs
