"""The ``alarms:`` section of the site configuration.

The models live in ``occmon.config.alarms`` (``SiteConfig.alarms`` uses them, and
``occmon.config`` imports no gateway code); re-exported here for the alarm core.
"""

from __future__ import annotations

from occmon.config.alarms import (
    DEADBAND_PCT,
    FAULT_OFF_DELAY_S,
    HIGH_ALARM_ON_DELAY_S,
    MAX_SHELVE_S,
    OFF_DELAY_S,
    ON_DELAY_S,
    STALE_AFTER_POLLS,
    AlarmsConfig,
    PointAlarm,
    Profile,
    Seconds,
)

__all__ = [
    "DEADBAND_PCT",
    "FAULT_OFF_DELAY_S",
    "HIGH_ALARM_ON_DELAY_S",
    "MAX_SHELVE_S",
    "OFF_DELAY_S",
    "ON_DELAY_S",
    "STALE_AFTER_POLLS",
    "AlarmsConfig",
    "PointAlarm",
    "Profile",
    "Seconds",
]
