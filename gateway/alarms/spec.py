"""Everything the engine needs to know about one point, resolved once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.alarms import config as defaults
from gateway.alarms.levels import LEVELS, Level, SetPointsLike


@dataclass(frozen=True, slots=True)
class PointSpec:
    """One monitored point. ``setpoints`` None: fault supervision only (e.g. noise)."""

    point: str
    unit: str
    poll_interval: float  # seconds between readings the point should get
    setpoints: SetPointsLike | None = None
    deadband_pct: float = defaults.DEADBAND_PCT
    deadband: float | None = None  # absolute, overrides deadband_pct
    on_delay: float = defaults.ON_DELAY_S
    high_alarm_on_delay: float = defaults.HIGH_ALARM_ON_DELAY_S
    off_delay: float = defaults.OFF_DELAY_S
    stale_after_polls: int = defaults.STALE_AFTER_POLLS
    fault_off_delay: float = defaults.FAULT_OFF_DELAY_S
    calibration_due: float | None = None  # epoch seconds; after it: warning
    area: str = ""
    agent: str = ""
    quantity: str = "concentration"  # which of the point's quantities the alarms judge

    @property
    def stale_after(self) -> float:
        return self.stale_after_polls * self.poll_interval

    def levels(self) -> list[tuple[Level, float, float, float]]:
        """(level, set-point, deadband, on-delay) for each level that has a set-point."""
        if self.setpoints is None:
            return []
        rows = []
        for level in LEVELS:
            value = getattr(self.setpoints, level.value)
            if value is None:
                continue
            band = self.deadband if self.deadband is not None else (
                value * self.deadband_pct / 100.0)
            delay = self.high_alarm_on_delay if level is Level.HIGH_ALARM else self.on_delay
            rows.append((level, float(value), band, delay))
        return rows
