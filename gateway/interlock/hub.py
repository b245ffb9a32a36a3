"""All ventilation units of a gateway, with events routed to the units they concern."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.interlock import errors
from gateway.interlock import events as ev
from gateway.interlock.config import VentilationConfig, bound_points
from gateway.interlock.unit import UnitMemory, UnitSnapshot, VentilationUnit


class Interlock:
    def __init__(self, units: Iterable[VentilationUnit]) -> None:
        self.units: dict[str, VentilationUnit] = {}
        for unit in units:
            if unit.id in self.units:
                raise ValueError(f"ventilation unit {unit.id!r} given twice")
            self.units[unit.id] = unit

    @classmethod
    def from_config(cls, config: VentilationConfig,
                    point_areas: Mapping[str, str]) -> Interlock:
        """``point_areas``: every point of the site and its area (to resolve zones)."""
        areas = dict(point_areas)
        return cls(VentilationUnit(u, bound_points(u, areas)) for u in config.units)

    def handle(self, event: ev.Input) -> list[ev.Output]:
        if isinstance(event, (ev.ZoneAlarm, ev.Tick)):
            out: list[ev.Output] = []
            for unit in self.units.values():
                out += unit.handle(event)
            return out
        if isinstance(event, (ev.Feedback, ev.CoilResult)):
            out = []
            for unit in self.units.values():
                if event.device in unit.devices():
                    out += unit.handle(event)
            return out
        unit_obj = self.units.get(event.unit)
        if unit_obj is None:
            raise errors.UnknownUnit(event.unit, f"no ventilation unit {event.unit!r}")
        return unit_obj.handle(event)

    def memory(self) -> dict[str, UnitMemory]:
        return {name: unit.memory() for name, unit in self.units.items()}

    def restore(self, saved: Mapping[str, tuple[UnitMemory, float]],
                time: float) -> list[ev.Output]:
        """Each unit's saved (memory, when saved) taken up (``VentilationUnit.restore``);
        a unit no longer configured is skipped."""
        out: list[ev.Output] = []
        for name, (memory, saved_at) in saved.items():
            unit = self.units.get(name)
            if unit is not None:
                out += unit.restore(memory, time, saved_at)
        return out

    def report(self, time: float, cause: str) -> list[ev.Output]:
        """One ``unit-state`` log line per unit: its state now (the shell adds the snapshot)."""
        return [ev.UnitReported(unit=unit.id, time=time, state=str(unit.state), cause=cause)
                for unit in self.units.values()]

    def snapshot(self) -> dict[str, UnitSnapshot]:
        return {name: unit.snapshot() for name, unit in self.units.items()}
