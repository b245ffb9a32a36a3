"""A whole simulated day of every sensor, as arrays: what ``occmon simulate --day`` stores.

The same signals and scenarios as the live plant (``baselines``, ``scenarios``), with the
working day moved to start with the site's day shift (``records.shifts``), sampled at the
rate each device would give: a Modbus device at its ``poll_interval``, an MQTT
device every ``MQTT_STEP_S``. The scenario starts at the chosen local time of the day
(its effect times count from there). Pure: no I/O, no clock.

Accident ventilation is assumed to work, as it does in the live plant: a leak whose
excursion vents (``vent_tau``) decays once a fan runs, which is the alarm's on-delay and
the fan's spin-up after one of its sensors first reaches the agent's MAC (the alarm
set-point of GBZ/T 223 that starts the fans).
A dead device gives no samples while it is dead (a gap in the record, as the store would
show). Fans fail only in the live interlock; a day of readings has no fan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

import thresholds
from occmon.config.schema import MqttDevice, SiteConfig
from simulators.baselines import (
    SensorSpec,
    base_signal,
    gas_family,
    site_reference,
    unit_factor,
)
from simulators.fan import DEFAULT_SPIN_UP_S
from simulators.scenarios import DeviceInfo, Excursion, Plan, Scenario, SensorInfo, plan
from simulators.signals import SHIFT_START_H

FloatArray = npt.NDArray[np.float64]

MQTT_STEP_S = 10.0  # a wireless detector or dosimeter reporting every 10 s


@dataclass(frozen=True)
class SensorDay:
    """One sensor's samples: epoch seconds and values in the sensor's configured unit."""

    sensor: str
    unit: str
    times: FloatArray
    values: FloatArray


def pattern_offset(config: SiteConfig) -> float:
    """Seconds to move the simulators' working day (production from SHIFT_START_H, the
    dosimeters worn for its 8 h) so that it starts with the site's day shift: the
    ``records.shifts`` entry starting between 05:00 and 11:00, else the first one."""
    shifts = config.records.shifts if config.records else []
    starts = [int(s.start[:2]) + int(s.start[3:]) / 60.0 for s in shifts]
    daytime = [h for h in starts if 5.0 <= h <= 11.0] or starts
    return (daytime[0] - SHIFT_START_H) * 3600.0 if daytime else 0.0


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[float, float]:
    """Local midnight to the next local midnight, as epoch seconds."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return start.timestamp(), end.timestamp()


def scenario_start(day: dt.date, at: dt.time, tz: ZoneInfo) -> float:
    return dt.datetime.combine(day, at, tzinfo=tz).timestamp()


def simulate_day(
    config: SiteConfig,
    day: dt.date,
    scenario: Scenario,
    at: dt.time = dt.time(10, 0),
    seed: int = 1,
) -> Iterator[SensorDay]:
    """Every sensor of the site over ``day`` (site-local), with ``scenario`` from ``at``."""
    tz = ZoneInfo(config.site.timezone)
    start, end = day_bounds(day, tz)
    t0 = scenario_start(day, at, tz)
    ref = site_reference(config.reference.temperature_c, config.reference.pressure_kpa)
    infos, specs = [], {}
    for sensor in config.sensors:
        point = config.point(sensor.point)
        device = config.device(sensor.device)
        personal = isinstance(device, MqttDevice)
        spec = SensorSpec(point.agent, sensor.quantity, point.fraction, sensor.unit,
                          sensor.device, personal)
        family = (gas_family(point.agent, point.fraction) if sensor.quantity == "concentration"
                  else sensor.quantity)
        infos.append(SensorInfo(sensor.id, sensor.device, point.area, family))
        specs[sensor.id] = spec
    devices = [DeviceInfo(d.id, d.protocol, False) for d in config.devices]
    resolved = plan(scenario, infos, devices)
    vented = _vent_start(config, resolved, specs, (start, end, t0), seed, tz)
    shift = pattern_offset(config)
    for sensor in config.sensors:
        spec = specs[sensor.id]
        device = config.device(sensor.device)
        step = MQTT_STEP_S if isinstance(device, MqttDevice) else device.poll_interval
        times = np.arange(start, end, step, dtype=np.float64)
        times = times[_alive(resolved, sensor.device, times - t0)]
        signal = base_signal(seed, spec, tz)
        factor = unit_factor(spec, signal.unit, ref)
        values = _with_scenario(resolved, sensor.id, signal.series(times - shift),
                                times - t0, vented)
        yield SensorDay(sensor.id, spec.unit or signal.unit, times, values * factor)


def _alive(resolved: Plan, device: str, elapsed: FloatArray) -> npt.NDArray[np.bool_]:
    alive = np.ones(elapsed.shape, dtype=np.bool_)
    for outage in resolved.outages.get(device, ()):
        stop = np.inf if outage.end is None else outage.end
        alive &= ~((elapsed >= outage.start) & (elapsed < stop))
    return alive


def _with_scenario(resolved: Plan, sensor: str, base: FloatArray, elapsed: FloatArray,
                   vented: float | None) -> FloatArray:
    """The scenario applied where an excursion can act (its window); elsewhere the base."""
    excursions = resolved.excursions.get(sensor, ())
    if not excursions:
        return base
    out = base.copy()
    first = min(e.start for e in excursions)
    last = max(e.start + e.rise + e.hold + e.fall for e in excursions)
    for i in np.flatnonzero((elapsed > first) & (elapsed < last)):
        out[i] = resolved.value(sensor, float(base[i]), float(elapsed[i]), vented)
    return out


def _vent_start(config: SiteConfig, resolved: Plan, specs: dict[str, SensorSpec],
                span: tuple[float, float, float], seed: int, tz: ZoneInfo) -> float | None:
    """Elapsed scenario seconds at which the fans start: the first instant (1 s grid) a
    vented excursion brings one of its sensors to the agent's MAC."""
    start, end, t0 = span
    on_delay = config.alarms.on_delay if config.alarms else 2.0
    ref = site_reference(config.reference.temperature_c, config.reference.pressure_kpa)
    first: float | None = None
    for sensor, excursions in resolved.excursions.items():
        vents = [e for e in excursions if e.vent_tau is not None]
        if not vents:
            continue
        spec = specs[sensor]
        mac = thresholds.lookup(spec.agent).limits().mac
        if mac is None:
            continue
        signal = base_signal(seed, spec, tz)
        per_signal = float(thresholds.to_canonical(1.0, signal.unit, thresholds.lookup(
            spec.agent), ref)) if spec.quantity == "concentration" else 1.0
        window = _window(vents)
        times = np.arange(max(start, t0 + window[0]), min(end, t0 + window[1]), 1.0)
        if not times.size:
            continue
        base = signal.series(times - pattern_offset(config))
        for t, b in zip(times, base, strict=True):
            if resolved.value(sensor, float(b), float(t - t0)) * per_signal >= mac:
                at = float(t - t0) + on_delay + DEFAULT_SPIN_UP_S  # alarm, then the fan
                first = at if first is None else min(first, at)
                break
    return first


def _window(excursions: list[Excursion]) -> tuple[float, float]:
    return (min(e.start for e in excursions),
            max(e.start + e.rise + e.hold + e.fall for e in excursions))
