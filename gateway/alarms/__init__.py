"""Leak alarms: a pure core (h11-style) that turns samples and commands into alarm events.

No I/O and no clock here: the gateway feeds ``AlarmEngine.handle`` and ships what it returns.
See docs/alarms.md for states, transitions and defaults.
"""

from __future__ import annotations

from gateway.alarms.actions import (
    Acknowledged,
    AlarmEvent,
    AlarmKind,
    AlarmState,
    Cleared,
    Deescalated,
    Escalated,
    FaultCleared,
    FaultRaised,
    Raised,
    RemovedFromService,
    Resolved,
    Returned,
    ReturnedToService,
    Shelved,
    Unshelved,
    WarningCleared,
    WarningRaised,
)
from gateway.alarms.config import AlarmsConfig, PointAlarm
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.errors import (
    AlarmError,
    AlreadyAcknowledged,
    ShelveNeedsExpiry,
    UnknownAlarm,
)
from gateway.alarms.events import (
    Acknowledge,
    Event,
    ExternalAlarm,
    Resolve,
    ResolveReason,
    Sample,
    SetOutOfService,
    Shelve,
    Tick,
    Unshelve,
)
from gateway.alarms.levels import Level, SetPointsLike
from gateway.alarms.snapshot import AlarmSnapshot, PointCondition, PointSnapshot
from gateway.alarms.spec import PointSpec

__all__ = [
    "Acknowledge",
    "Acknowledged",
    "AlarmEngine",
    "AlarmError",
    "AlarmEvent",
    "AlarmKind",
    "AlarmSnapshot",
    "AlarmState",
    "AlarmsConfig",
    "AlreadyAcknowledged",
    "Cleared",
    "Deescalated",
    "Escalated",
    "Event",
    "ExternalAlarm",
    "FaultCleared",
    "FaultRaised",
    "Level",
    "PointAlarm",
    "PointCondition",
    "PointSnapshot",
    "PointSpec",
    "Raised",
    "RemovedFromService",
    "Resolve",
    "ResolveReason",
    "Resolved",
    "Returned",
    "ReturnedToService",
    "Sample",
    "SetOutOfService",
    "SetPointsLike",
    "Shelve",
    "ShelveNeedsExpiry",
    "Shelved",
    "Tick",
    "UnknownAlarm",
    "Unshelve",
    "Unshelved",
    "WarningCleared",
    "WarningRaised",
]
