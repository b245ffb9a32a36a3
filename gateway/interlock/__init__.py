"""The accident-ventilation interlock (GBZ 1-2010 cl. 6.1.5-6.1.6): a pure core.

Bound gas points in (``ZoneAlarm``), fan feedback and coil results in, ``WriteCoil``
commands and a ventilation log out. No I/O and no clock: it runs at the edge beside the
alarm engine and keeps working with the broker, store and API all down.
"""

from __future__ import annotations

from gateway.interlock.config import (
    Annunciator,
    Fan,
    VentilationConfig,
    VentilationUnitConfig,
    bound_points,
)
from gateway.interlock.errors import (
    AlreadyInMode,
    InterlockError,
    MissingWho,
    NotOverridden,
    ResetNotAllowed,
    UnknownUnit,
)
from gateway.interlock.events import (
    AnnunciatorChanged,
    AwaitingReset,
    CoilResult,
    CoilWriteFailed,
    FanCommand,
    Feedback,
    FeedbackLost,
    HoldCancelled,
    HoldStarted,
    InterlockInhibited,
    ManualOverride,
    OperatorReset,
    OverrideChanged,
    Priority,
    Reset,
    StandbyStarted,
    StateRestored,
    Tick,
    UncommandedRun,
    UnitEvent,
    UnitReported,
    VentilationConfirmed,
    VentilationFailureAlarm,
    VentilationStarted,
    VentilationStopped,
    WriteCoil,
    ZoneAlarm,
)
from gateway.interlock.hub import Interlock
from gateway.interlock.states import DemandState, DriveState, Zone
from gateway.interlock.unit import UnitMemory, UnitSnapshot, VentilationUnit

__all__ = [
    "AlreadyInMode",
    "Annunciator",
    "AnnunciatorChanged",
    "AwaitingReset",
    "CoilResult",
    "CoilWriteFailed",
    "DemandState",
    "DriveState",
    "Fan",
    "FanCommand",
    "Feedback",
    "FeedbackLost",
    "HoldCancelled",
    "HoldStarted",
    "Interlock",
    "InterlockError",
    "InterlockInhibited",
    "ManualOverride",
    "MissingWho",
    "NotOverridden",
    "OperatorReset",
    "OverrideChanged",
    "Priority",
    "Reset",
    "ResetNotAllowed",
    "StandbyStarted",
    "StateRestored",
    "Tick",
    "UncommandedRun",
    "UnitEvent",
    "UnitMemory",
    "UnitReported",
    "UnitSnapshot",
    "UnknownUnit",
    "VentilationConfig",
    "VentilationConfirmed",
    "VentilationFailureAlarm",
    "VentilationStarted",
    "VentilationStopped",
    "VentilationUnit",
    "VentilationUnitConfig",
    "WriteCoil",
    "Zone",
    "ZoneAlarm",
    "bound_points",
]
