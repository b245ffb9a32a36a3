"""The interlock's two tables, row by row."""

from __future__ import annotations

import pytest

from gateway.interlock import errors
from gateway.interlock.states import (
    DEMAND,
    DemandDo,
    DemandState,
    DemandTrigger,
    DriveDo,
    DriveState,
    DriveTrigger,
    demand_step,
    drive_step,
)

D, DT, DD = DemandState, DemandTrigger, DemandDo

DEMAND_ROWS = [
    (D.IDLE, DT.DEMAND, D.ACTIVE, (DD.START,)),
    (D.IDLE, DT.CLEAR, D.IDLE, ()),
    (D.ACTIVE, DT.ELEVATED, D.ACTIVE, ()),
    (D.ACTIVE, DT.CLEAR, D.HOLD, (DD.START_HOLD,)),
    (D.HOLD, DT.DEMAND, D.ACTIVE, (DD.CANCEL_HOLD,)),
    (D.HOLD, DT.ELEVATED, D.ACTIVE, (DD.CANCEL_HOLD,)),
    (D.HOLD, DT.HOLD_ELAPSED, D.IDLE, (DD.STOP,)),
    (D.HOLD, DT.HOLD_ELAPSED_NEEDS_RESET, D.AWAIT_RESET, (DD.AWAIT_RESET,)),
    (D.AWAIT_RESET, DT.RESET, D.IDLE, (DD.RESET, DD.STOP)),
    (D.AWAIT_RESET, DT.DEMAND, D.ACTIVE, ()),
    (D.IDLE, DT.MANUAL_ON, D.MANUAL_ON, (DD.OVERRIDE, DD.START)),
    (D.ACTIVE, DT.MANUAL_OFF, D.MANUAL_OFF, (DD.OVERRIDE, DD.STOP)),
    (D.MANUAL_OFF, DT.DEMAND, D.MANUAL_OFF, (DD.INHIBITED,)),
    (D.MANUAL_OFF, DT.MANUAL_AUTO, D.IDLE, (DD.OVERRIDE,)),
    (D.MANUAL_ON, DT.MANUAL_AUTO, D.HOLD, (DD.OVERRIDE, DD.START_HOLD)),
    (D.MANUAL_ON, DT.CLEAR, D.MANUAL_ON, ()),
]


@pytest.mark.parametrize(("state", "trigger", "next_state", "actions"), DEMAND_ROWS)
def test_demand_row(state: DemandState, trigger: DemandTrigger, next_state: DemandState,
                    actions: tuple[DemandDo, ...]) -> None:
    step = demand_step("u", state, trigger)
    assert (step.next, step.actions) == (next_state, actions)


@pytest.mark.parametrize(("state", "trigger", "error"), [
    (D.IDLE, DT.RESET, errors.ResetNotAllowed),
    (D.HOLD, DT.RESET, errors.ResetNotAllowed),
    (D.ACTIVE, DT.MANUAL_AUTO, errors.NotOverridden),
    (D.MANUAL_ON, DT.MANUAL_ON, errors.AlreadyInMode),
    (D.MANUAL_OFF, DT.MANUAL_OFF, errors.AlreadyInMode),
])
def test_demand_illegal(state: DemandState, trigger: DemandTrigger,
                        error: type[errors.InterlockError]) -> None:
    with pytest.raises(error, match="'u'"):
        demand_step("u", state, trigger)


def test_demand_table_is_complete() -> None:
    """Zone changes and commands can land in any state: every pair is decided.

    The hold timer fires only in HOLD, so those two triggers need no other row.
    """
    timers = {DT.HOLD_ELAPSED, DT.HOLD_ELAPSED_NEEDS_RESET}
    missing = [(s, t) for s in D for t in DT if t not in timers and (s, t) not in DEMAND]
    assert missing == []


S, T, A = DriveState, DriveTrigger, DriveDo

DRIVE_ROWS = [
    (S.STOPPED, T.RUN, S.STARTING, (A.WRITE_ON, A.ARM_TIMEOUT)),
    (S.STARTING, T.FEEDBACK_ON, S.RUNNING, (A.CONFIRMED,)),
    (S.STARTING, T.TIMEOUT, S.FAILED, (A.FAIL, A.WRITE_ON, A.ARM_RETRY)),
    (S.RUNNING, T.FEEDBACK_OFF, S.STARTING, (A.LOST, A.WRITE_ON, A.ARM_TIMEOUT)),
    (S.FAILED, T.RETRY, S.FAILED, (A.WRITE_ON, A.ARM_RETRY)),
    (S.FAILED, T.FEEDBACK_ON, S.RUNNING, (A.RECOVER, A.CONFIRMED)),
    (S.FAILED, T.STOP, S.STOPPED, (A.RECOVER, A.WRITE_OFF)),
    (S.RUNNING, T.STOP, S.STOPPED, (A.WRITE_OFF,)),
    (S.STARTING, T.STOP, S.STOPPED, (A.WRITE_OFF,)),
    # a reported trip fails the drive at once, without waiting out the timeout
    (S.STARTING, T.FAULT, S.FAILED, (A.FAIL, A.WRITE_ON, A.ARM_RETRY)),
    (S.RUNNING, T.FAULT, S.FAILED, (A.LOST, A.FAIL, A.WRITE_ON, A.ARM_RETRY)),
]


@pytest.mark.parametrize(("state", "trigger", "next_state", "actions"), DRIVE_ROWS)
def test_drive_row(state: DriveState, trigger: DriveTrigger, next_state: DriveState,
                   actions: tuple[DriveDo, ...]) -> None:
    step = drive_step(state, trigger)
    assert step is not None and (step.next, step.actions) == (next_state, actions)


@pytest.mark.parametrize(("state", "trigger"), [
    (S.STOPPED, T.FEEDBACK_ON), (S.STOPPED, T.TIMEOUT), (S.RUNNING, T.RUN),
    (S.RUNNING, T.TIMEOUT), (S.STARTING, T.RUN), (S.STOPPED, T.FAULT), (S.FAILED, T.FAULT),
])
def test_drive_ignores_what_does_not_apply(state: DriveState, trigger: DriveTrigger) -> None:
    assert drive_step(state, trigger) is None
