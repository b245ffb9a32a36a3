"""Every transition of a ventilation unit, in two tables in this one module.

* ``DEMAND``: what the unit wants (h11's "our role"): idle, ventilating on demand, holding
  after the zone cleared, waiting for an operator reset, or under manual override. It reacts
  to the zone's status (``demand`` / ``elevated`` / ``clear``, computed from the bound
  points), the hold timer and operator commands.
* ``DRIVE``: what one fan does (primary and standby each have one): stopped, starting
  (coil written, waiting for running feedback), running, failed (no feedback in time).

A value that is an ``InterlockError`` subclass marks a command that is illegal in that
state: the unit raises it and changes nothing. A missing (state, trigger) pair in ``DRIVE``
means the trigger does not apply and is ignored (timers of a state already left).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.interlock import errors


class DemandState(StrEnum):
    IDLE = "idle"
    ACTIVE = "active"  # ventilating because the zone demands it (or is not yet clear)
    HOLD = "hold"  # zone clear, ventilating until the hold time has passed
    AWAIT_RESET = "await-reset"  # hold passed, ventilating until an operator resets
    MANUAL_ON = "manual-on"
    MANUAL_OFF = "manual-off"


class Zone(StrEnum):
    """The bound points taken together."""

    DEMAND = "demand"  # a point at the trigger level, or faulted under fault_policy=start
    ELEVATED = "elevated"  # not demanding, but not every point is under the reset level
    CLEAR = "clear"  # every point under the reset level (and trusted, unless ignored)


class DemandTrigger(StrEnum):
    DEMAND = "demand"
    ELEVATED = "elevated"
    CLEAR = "clear"
    HOLD_ELAPSED = "hold-elapsed"  # reset: auto
    HOLD_ELAPSED_NEEDS_RESET = "hold-elapsed-needs-reset"  # reset: operator
    RESET = "operator-reset"
    MANUAL_ON = "manual-on"
    MANUAL_OFF = "manual-off"
    MANUAL_AUTO = "manual-auto"


class DemandDo(StrEnum):
    START = "start"
    STOP = "stop"
    START_HOLD = "start-hold"
    CANCEL_HOLD = "cancel-hold"
    AWAIT_RESET = "await-reset"
    RESET = "reset"
    OVERRIDE = "override"
    INHIBITED = "inhibited"


@dataclass(frozen=True, slots=True)
class DemandStep:
    next: DemandState
    actions: tuple[DemandDo, ...] = ()


D, DT, DD = DemandState, DemandTrigger, DemandDo
_OVERRIDE_ON = DemandStep(D.MANUAL_ON, (DD.OVERRIDE, DD.START))
_OVERRIDE_OFF = DemandStep(D.MANUAL_OFF, (DD.OVERRIDE, DD.STOP))
_STAY = {state: DemandStep(state) for state in D}

DEMAND: dict[tuple[DemandState, DemandTrigger],
             DemandStep | type[errors.InterlockError]] = {
    (D.IDLE, DT.DEMAND): DemandStep(D.ACTIVE, (DD.START,)),
    (D.IDLE, DT.ELEVATED): _STAY[D.IDLE],
    (D.IDLE, DT.CLEAR): _STAY[D.IDLE],
    (D.IDLE, DT.RESET): errors.ResetNotAllowed,
    (D.IDLE, DT.MANUAL_ON): _OVERRIDE_ON,
    (D.IDLE, DT.MANUAL_OFF): DemandStep(D.MANUAL_OFF, (DD.OVERRIDE,)),
    (D.IDLE, DT.MANUAL_AUTO): errors.NotOverridden,

    (D.ACTIVE, DT.DEMAND): _STAY[D.ACTIVE],
    (D.ACTIVE, DT.ELEVATED): _STAY[D.ACTIVE],
    (D.ACTIVE, DT.CLEAR): DemandStep(D.HOLD, (DD.START_HOLD,)),
    (D.ACTIVE, DT.RESET): errors.ResetNotAllowed,
    (D.ACTIVE, DT.MANUAL_ON): DemandStep(D.MANUAL_ON, (DD.OVERRIDE,)),
    (D.ACTIVE, DT.MANUAL_OFF): _OVERRIDE_OFF,
    (D.ACTIVE, DT.MANUAL_AUTO): errors.NotOverridden,

    (D.HOLD, DT.DEMAND): DemandStep(D.ACTIVE, (DD.CANCEL_HOLD,)),
    (D.HOLD, DT.ELEVATED): DemandStep(D.ACTIVE, (DD.CANCEL_HOLD,)),
    (D.HOLD, DT.CLEAR): _STAY[D.HOLD],
    (D.HOLD, DT.HOLD_ELAPSED): DemandStep(D.IDLE, (DD.STOP,)),
    (D.HOLD, DT.HOLD_ELAPSED_NEEDS_RESET): DemandStep(D.AWAIT_RESET, (DD.AWAIT_RESET,)),
    (D.HOLD, DT.RESET): errors.ResetNotAllowed,
    (D.HOLD, DT.MANUAL_ON): DemandStep(D.MANUAL_ON, (DD.OVERRIDE,)),
    (D.HOLD, DT.MANUAL_OFF): _OVERRIDE_OFF,
    (D.HOLD, DT.MANUAL_AUTO): errors.NotOverridden,

    (D.AWAIT_RESET, DT.DEMAND): DemandStep(D.ACTIVE),
    (D.AWAIT_RESET, DT.ELEVATED): DemandStep(D.ACTIVE),
    (D.AWAIT_RESET, DT.CLEAR): _STAY[D.AWAIT_RESET],
    (D.AWAIT_RESET, DT.RESET): DemandStep(D.IDLE, (DD.RESET, DD.STOP)),
    (D.AWAIT_RESET, DT.MANUAL_ON): DemandStep(D.MANUAL_ON, (DD.OVERRIDE,)),
    (D.AWAIT_RESET, DT.MANUAL_OFF): _OVERRIDE_OFF,
    (D.AWAIT_RESET, DT.MANUAL_AUTO): errors.NotOverridden,

    (D.MANUAL_ON, DT.DEMAND): _STAY[D.MANUAL_ON],
    (D.MANUAL_ON, DT.ELEVATED): _STAY[D.MANUAL_ON],
    (D.MANUAL_ON, DT.CLEAR): _STAY[D.MANUAL_ON],
    (D.MANUAL_ON, DT.RESET): errors.ResetNotAllowed,
    (D.MANUAL_ON, DT.MANUAL_ON): errors.AlreadyInMode,
    (D.MANUAL_ON, DT.MANUAL_OFF): _OVERRIDE_OFF,
    # back to auto: hold as if the zone had just cleared; a demand re-enters ACTIVE at once
    (D.MANUAL_ON, DT.MANUAL_AUTO): DemandStep(D.HOLD, (DD.OVERRIDE, DD.START_HOLD)),

    (D.MANUAL_OFF, DT.DEMAND): DemandStep(D.MANUAL_OFF, (DD.INHIBITED,)),
    (D.MANUAL_OFF, DT.ELEVATED): _STAY[D.MANUAL_OFF],
    (D.MANUAL_OFF, DT.CLEAR): _STAY[D.MANUAL_OFF],
    (D.MANUAL_OFF, DT.RESET): errors.ResetNotAllowed,
    (D.MANUAL_OFF, DT.MANUAL_ON): _OVERRIDE_ON,
    (D.MANUAL_OFF, DT.MANUAL_OFF): errors.AlreadyInMode,
    (D.MANUAL_OFF, DT.MANUAL_AUTO): DemandStep(D.IDLE, (DD.OVERRIDE,)),
}


class DriveState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"


class DriveTrigger(StrEnum):
    RUN = "run"
    STOP = "stop"
    FEEDBACK_ON = "feedback-on"
    FEEDBACK_OFF = "feedback-off"
    TIMEOUT = "timeout"  # no running feedback within feedback_timeout
    RETRY = "retry"  # back-off elapsed while failed
    FAULT = "fault"  # the starter or drive reports a trip: it will not run


class DriveDo(StrEnum):
    WRITE_ON = "write-on"
    WRITE_OFF = "write-off"
    ARM_TIMEOUT = "arm-timeout"
    ARM_RETRY = "arm-retry"
    CONFIRMED = "confirmed"
    LOST = "feedback-lost"
    FAIL = "failure-alarm"  # raise the ventilation-failure alarm and start the standby
    RECOVER = "failure-cleared"


@dataclass(frozen=True, slots=True)
class DriveStep:
    next: DriveState
    actions: tuple[DriveDo, ...] = ()


S, T, A = DriveState, DriveTrigger, DriveDo

DRIVE: dict[tuple[DriveState, DriveTrigger], DriveStep] = {
    (S.STOPPED, T.RUN): DriveStep(S.STARTING, (A.WRITE_ON, A.ARM_TIMEOUT)),
    (S.STOPPED, T.STOP): DriveStep(S.STOPPED),
    (S.STARTING, T.FEEDBACK_ON): DriveStep(S.RUNNING, (A.CONFIRMED,)),
    (S.STARTING, T.TIMEOUT): DriveStep(S.FAILED, (A.FAIL, A.WRITE_ON, A.ARM_RETRY)),
    (S.STARTING, T.STOP): DriveStep(S.STOPPED, (A.WRITE_OFF,)),
    # feedback dropped while running: re-write the coil and give it the timeout again
    (S.RUNNING, T.FEEDBACK_OFF): DriveStep(S.STARTING, (A.LOST, A.WRITE_ON, A.ARM_TIMEOUT)),
    (S.RUNNING, T.STOP): DriveStep(S.STOPPED, (A.WRITE_OFF,)),
    # a reported trip is a failure at once (no need to wait out the timeout); the command
    # is re-written with back-off (a drive's reset steps run first while it shows fault)
    (S.STARTING, T.FAULT): DriveStep(S.FAILED, (A.FAIL, A.WRITE_ON, A.ARM_RETRY)),
    (S.RUNNING, T.FAULT): DriveStep(S.FAILED, (A.LOST, A.FAIL, A.WRITE_ON, A.ARM_RETRY)),
    (S.FAILED, T.FEEDBACK_ON): DriveStep(S.RUNNING, (A.RECOVER, A.CONFIRMED)),
    (S.FAILED, T.RETRY): DriveStep(S.FAILED, (A.WRITE_ON, A.ARM_RETRY)),
    (S.FAILED, T.STOP): DriveStep(S.STOPPED, (A.RECOVER, A.WRITE_OFF)),
}


def demand_step(unit: str, state: DemandState, trigger: DemandTrigger) -> DemandStep:
    row = DEMAND[(state, trigger)]
    if isinstance(row, DemandStep):
        return row
    raise row(unit, f"ventilation unit {unit!r}: cannot {trigger} while {state}")


def drive_step(state: DriveState, trigger: DriveTrigger) -> DriveStep | None:
    """The step, or None when the trigger does not apply in ``state`` (ignored)."""
    return DRIVE.get((state, trigger))
