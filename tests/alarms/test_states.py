"""The ISA-18.2 transition table, row by row: (state, trigger, condition) -> next, actions."""

from __future__ import annotations

import pytest

from gateway.alarms import errors
from gateway.alarms.actions import AlarmState
from gateway.alarms.states import TABLE, Do, ImpossibleTransition, Split, Trigger, transition

S, T = AlarmState, Trigger

ROWS = [
    (S.NORMAL, T.ACTIVATE, True, S.ACTIVE_UNACK, (Do.RAISE,)),
    (S.ACTIVE_UNACK, T.ESCALATE, True, S.ACTIVE_UNACK, (Do.ESCALATE,)),
    (S.ACTIVE_UNACK, T.DEESCALATE, True, S.ACTIVE_UNACK, (Do.DEESCALATE,)),
    (S.ACTIVE_UNACK, T.CLEAR, False, S.CLEARED_UNACK, (Do.CLEAR,)),
    (S.ACTIVE_UNACK, T.ACK, True, S.ACTIVE_ACK, (Do.ACK,)),
    (S.ACTIVE_ACK, T.ESCALATE, True, S.ACTIVE_UNACK, (Do.ESCALATE,)),
    (S.ACTIVE_ACK, T.DEESCALATE, True, S.ACTIVE_ACK, (Do.DEESCALATE,)),
    (S.ACTIVE_ACK, T.CLEAR, False, S.NORMAL, (Do.CLEAR, Do.RETURN)),
    (S.CLEARED_UNACK, T.ACK, False, S.NORMAL, (Do.ACK, Do.RETURN)),
    (S.CLEARED_UNACK, T.ACTIVATE, True, S.ACTIVE_UNACK, (Do.RAISE,)),
    (S.CLEARED_UNACK, T.RESOLVE, False, S.NORMAL, (Do.RESOLVE, Do.RETURN)),
    (S.NORMAL, T.RESOLVE, False, S.NORMAL, (Do.RESOLVE,)),
    (S.NORMAL, T.SHELVE, False, S.SHELVED, (Do.SHELVE,)),
    (S.ACTIVE_UNACK, T.SHELVE, True, S.SHELVED, (Do.SHELVE,)),
    (S.SHELVED, T.ACTIVATE, True, S.SHELVED, ()),
    (S.SHELVED, T.CLEAR, False, S.SHELVED, ()),
    (S.SHELVED, T.SHELVE, True, S.SHELVED, (Do.SHELVE,)),
    (S.SHELVED, T.UNSHELVE, True, S.ACTIVE_UNACK, (Do.UNSHELVE, Do.RAISE)),
    (S.SHELVED, T.UNSHELVE, False, S.NORMAL, (Do.UNSHELVE,)),
    (S.SHELVED, T.SHELVE_EXPIRED, True, S.ACTIVE_UNACK, (Do.UNSHELVE, Do.RAISE)),
    (S.SHELVED, T.SHELVE_EXPIRED, False, S.NORMAL, (Do.UNSHELVE,)),
    (S.ACTIVE_ACK, T.REMOVE, True, S.OUT_OF_SERVICE, (Do.REMOVE,)),
    (S.OUT_OF_SERVICE, T.ACTIVATE, True, S.OUT_OF_SERVICE, ()),
    (S.OUT_OF_SERVICE, T.RESTORE, True, S.ACTIVE_UNACK, (Do.RESTORE, Do.RAISE)),
    (S.OUT_OF_SERVICE, T.RESTORE, False, S.NORMAL, (Do.RESTORE,)),
]


@pytest.mark.parametrize(("state", "trigger", "active", "next_state", "actions"), ROWS)
def test_transition(state: AlarmState, trigger: Trigger, active: bool,
                    next_state: AlarmState, actions: tuple[Do, ...]) -> None:
    step = transition("a", state, trigger, active)
    assert (step.next, step.actions) == (next_state, actions)


ILLEGAL = [
    (S.NORMAL, T.ACK, errors.AlreadyAcknowledged),
    (S.ACTIVE_ACK, T.ACK, errors.AlreadyAcknowledged),
    (S.SHELVED, T.ACK, errors.IsShelved),
    (S.OUT_OF_SERVICE, T.ACK, errors.OutOfService),
    (S.NORMAL, T.UNSHELVE, errors.NotShelved),
    (S.ACTIVE_UNACK, T.RESOLVE, errors.StillActive),
    (S.ACTIVE_ACK, T.RESOLVE, errors.StillActive),
    (S.OUT_OF_SERVICE, T.REMOVE, errors.OutOfService),
    (S.OUT_OF_SERVICE, T.SHELVE, errors.OutOfService),
    (S.NORMAL, T.RESTORE, errors.InService),
]


@pytest.mark.parametrize(("state", "trigger", "error"), ILLEGAL)
def test_illegal_command_raises_typed_error(state: AlarmState, trigger: Trigger,
                                            error: type[errors.AlarmError]) -> None:
    with pytest.raises(error) as caught:
        transition("pt:process", state, trigger, True)
    assert caught.value.alarm_id == "pt:process"
    assert "pt:process" in str(caught.value)


def test_every_operator_command_is_decided_in_every_state() -> None:
    """Operator commands may land at any moment: each state must say yes or a typed no."""
    commands = (T.ACK, T.SHELVE, T.UNSHELVE, T.REMOVE, T.RESTORE, T.RESOLVE)
    missing = [(s, t) for s in S for t in commands if (s, t) not in TABLE]
    assert missing == []


def test_split_rows_only_where_the_condition_decides() -> None:
    split = {key for key, row in TABLE.items() if isinstance(row, Split)}
    assert split == {(S.SHELVED, T.UNSHELVE), (S.SHELVED, T.SHELVE_EXPIRED),
                     (S.OUT_OF_SERVICE, T.RESTORE)}


def test_a_trigger_the_condition_cannot_produce_is_a_bug() -> None:
    with pytest.raises(ImpossibleTransition):
        transition("a", S.NORMAL, T.CLEAR, False)
