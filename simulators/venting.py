"""Which fans vent which points, and the drives that run some of those fans.

A fan is a coil-driven starter (``fan.py``) or a variable-frequency drive (``drive.py``,
profiles ``abb-acs580`` and ``inovance-md500``). A leak decays once a fan that vents its point
runs (``scenarios.Excursion.vent_tau``); which fans vent a point comes from the site's
``ventilation:`` units: their duty and standby fans vent the points they are bound to (by
``points`` or ``areas``). A point bound to no unit is vented by any running fan, as before
units existed. Pure functions and one small dataclass; the plant owns the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from occmon.config.schema import ModbusTcpDevice, Sensor, SiteConfig
from occmon.config.ventilation import bound_points
from simulators.drive import AbbDrive, DriveServer, Md500Drive, Phase
from simulators.fan import Fan

log = logging.getLogger(__name__)

# Profiles served by a drive model instead of a register image: the drive's state machine
# answers the control word (ABB Drives profile) or command register (MD500) it is written.
DRIVE_MODELS: dict[str, type[AbbDrive] | type[Md500Drive]] = {
    "abb-acs580": AbbDrive,
    "inovance-md500": Md500Drive,
}


@dataclass
class SimDrive:
    """A fan's variable-frequency drive: its model and the server that answers for it."""

    config: ModbusTcpDevice
    model: AbbDrive | Md500Drive
    server: DriveServer


def venting_fans(config: SiteConfig,
                 sensors: Mapping[str, Sensor]) -> dict[str, frozenset[str] | None]:
    """Sensor id -> the fan devices that vent its point (its ventilation units' duty and
    standby fans); None: the point is bound to no unit, any running fan vents it."""
    units = config.ventilation.units if config.ventilation else []
    areas = {p.id: p.area for p in config.points}
    by_point: dict[str, set[str]] = {}
    for unit in units:
        fans = {unit.fan.device} | ({unit.standby.device} if unit.standby else set())
        try:
            points = bound_points(unit, areas)
        except ValueError:
            continue  # config check reports it; the simulator need not
        for point in points:
            by_point.setdefault(point, set()).update(fans)
    return {sid: (frozenset(by_point[s.point]) if s.point in by_point else None)
            for sid, s in sensors.items()}


def running_since(fans: Mapping[str, Fan | None],
                  drives: Mapping[str, SimDrive]) -> dict[str, float]:
    """Fan device -> the monotonic time it has been running since (running fans only)."""
    out = {i: fan.since for i, fan in fans.items() if fan is not None and fan.running}
    out.update({i: d.model.since for i, d in drives.items() if d.model.running})
    return out


def first_running(venting: frozenset[str] | None, running: Mapping[str, float]) -> float | None:
    """The monotonic time since which one of the ``venting`` fans (None: any) has run."""
    starts = [t for device, t in running.items() if venting is None or device in venting]
    return min(starts) if starts else None


def step_drive(device_id: str, model: AbbDrive | Md500Drive, failed: bool, at: float) -> None:
    """A failed drive trips (its cause present); a repaired one has its cause cleared and
    stays tripped until the gateway's reset edge, as the real drive does. Then time passes:
    a starting drive runs once its start-up delay is over."""
    if failed and model.phase is not Phase.TRIPPED:
        log.info("simulated drive %s: trip", device_id)
        model.trip(at)
    elif not failed and model.cause:
        model.clear()
    model.words(at)
