"""The engine as a table: (state it is driven into, event, next state, events emitted).

Illegal commands raise a typed error and leave the whole engine snapshot unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.alarms import errors
from gateway.alarms.actions import AlarmState
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.events import (
    Acknowledge,
    Event,
    Resolve,
    Sample,
    SetOutOfService,
    Shelve,
    Tick,
    Unshelve,
)
from tests.alarms.support import POINT, PROCESS, engine, feed, names

NOW = 100.0  # every setup leaves the engine at a time below this


def normal() -> AlarmEngine:
    eng = engine()
    feed(eng, [1.0, 1.0])
    return eng


def active_unack() -> AlarmEngine:
    eng = engine()
    feed(eng, [12.0] * 4)  # alarm after the 2 s on-delay
    assert eng.alarm(PROCESS).state is AlarmState.ACTIVE_UNACK
    return eng


def active_ack() -> AlarmEngine:
    eng = active_unack()
    eng.handle(Acknowledge(PROCESS, "li", "seen", 4.0))
    return eng


def cleared_unack() -> AlarmEngine:
    eng = active_unack()
    feed(eng, [1.0] * 8, start=4.0)  # below 5 - 0.25 for more than the 5 s off-delay
    assert eng.alarm(PROCESS).state is AlarmState.CLEARED_UNACK
    return eng


def shelved() -> AlarmEngine:
    eng = normal()
    eng.handle(Shelve(PROCESS, "li", 3600.0, "sensor work", 2.0))
    return eng


def shelved_briefly() -> AlarmEngine:
    eng = normal()
    eng.handle(Shelve(PROCESS, "li", 3.0, "sensor work", 2.0))
    return eng


def out_of_service() -> AlarmEngine:
    eng = normal()
    eng.handle(SetOutOfService(PROCESS, "li", "detector replaced", 2.0))
    return eng


ACK = Acknowledge(PROCESS, "wang", "on it", NOW)
SHELVE = Shelve(PROCESS, "wang", NOW + 600, "nuisance", NOW)
UNSHELVE = Unshelve(PROCESS, "wang", NOW)
OOS = SetOutOfService(PROCESS, "wang", "calibration", NOW)
RESTORE = SetOutOfService(PROCESS, "wang", "calibrated", NOW, out_of_service=False)
RESOLVE = Resolve(PROCESS, "wang", "real-release", NOW)
S = AlarmState

ROWS: list[tuple[Callable[[], AlarmEngine], Event, AlarmState, list[str]]] = [
    (normal, SHELVE, S.SHELVED, ["shelved"]),
    (normal, OOS, S.OUT_OF_SERVICE, ["out-of-service"]),
    (active_unack, ACK, S.ACTIVE_ACK, ["acknowledged"]),
    (active_unack, SHELVE, S.SHELVED, ["shelved"]),
    (active_ack, SHELVE, S.SHELVED, ["shelved"]),
    (active_ack, OOS, S.OUT_OF_SERVICE, ["out-of-service"]),
    (cleared_unack, ACK, S.NORMAL, ["acknowledged", "returned"]),
    (cleared_unack, RESOLVE, S.NORMAL, ["resolved", "returned"]),
    (shelved, UNSHELVE, S.NORMAL, ["unshelved"]),
    (shelved_briefly, Tick(2.9), S.SHELVED, []),
    (shelved_briefly, Tick(3.0), S.NORMAL, ["unshelved"]),
    (shelved, Sample(POINT, 3.0, 30.0), S.SHELVED, []),
    (out_of_service, RESTORE, S.NORMAL, ["in-service"]),
    (out_of_service, Sample(POINT, 3.0, 30.0), S.OUT_OF_SERVICE, []),
    (normal, Sample(POINT, 3.0, 30.0), S.ACTIVE_UNACK, ["raised"]),  # high alarm: no delay
    (active_ack, Sample(POINT, 4.5, 30.0), S.ACTIVE_UNACK, ["escalated"]),
]


@pytest.mark.parametrize(("setup", "event", "next_state", "emitted"), ROWS)
def test_row(setup: Callable[[], AlarmEngine], event: Event, next_state: AlarmState,
             emitted: list[str]) -> None:
    eng = setup()
    out = eng.handle(event)
    assert names(out) == emitted
    assert eng.alarm(PROCESS).state is next_state
    assert all(e.state is next_state for e in out)


ILLEGAL: list[tuple[Callable[[], AlarmEngine], Event, type[errors.AlarmError]]] = [
    (normal, Acknowledge("nope:process", "wang", "", NOW), errors.UnknownAlarm),
    (normal, Sample("nope", NOW, 1.0), errors.UnknownPoint),
    (normal, ACK, errors.AlreadyAcknowledged),
    (active_ack, ACK, errors.AlreadyAcknowledged),
    (active_unack, Shelve(PROCESS, "wang", None, "no expiry", NOW), errors.ShelveNeedsExpiry),
    (active_unack, Shelve(PROCESS, "wang", NOW - 1, "past", NOW), errors.ShelveNeedsExpiry),
    (active_unack, Shelve(PROCESS, "wang", NOW + 9 * 3600, "long", NOW), errors.ShelveTooLong),
    (normal, UNSHELVE, errors.NotShelved),
    (shelved, ACK, errors.IsShelved),
    (out_of_service, ACK, errors.OutOfService),
    (out_of_service, OOS, errors.OutOfService),
    (normal, RESTORE, errors.InService),
    (active_unack, RESOLVE, errors.StillActive),
    (normal, RESOLVE, errors.NothingToResolve),
    (cleared_unack, Resolve(PROCESS, "wang", "because", NOW), errors.UnknownReasonCode),
]


@pytest.mark.parametrize(("setup", "event", "error"), ILLEGAL)
def test_illegal_changes_nothing(setup: Callable[[], AlarmEngine], event: Event,
                                 error: type[errors.AlarmError]) -> None:
    eng = setup()
    before = (eng.snapshot(), eng.alarms(), eng.conditions())
    with pytest.raises(error) as caught:
        eng.handle(event)
    assert caught.value.code == error.code
    assert (eng.snapshot(), eng.alarms(), eng.conditions()) == before


@pytest.mark.parametrize("event", [
    SetOutOfService(PROCESS, "wang", "", NOW),
    SetOutOfService(PROCESS, "wang", "   ", NOW),
    SetOutOfService(PROCESS, "", "calibration", NOW),
    SetOutOfService(PROCESS, " ", "calibrated", NOW, out_of_service=False),
])
def test_silencing_without_who_or_why_is_refused_and_changes_nothing(event: Event) -> None:
    eng = active_unack()
    before = eng.alarm(PROCESS)
    with pytest.raises(errors.MissingWho):
        eng.handle(event)
    assert eng.alarm(PROCESS) == before


def test_returning_to_service_needs_a_name_but_no_reason() -> None:
    eng = out_of_service()
    eng.handle(SetOutOfService(PROCESS, "wang", "", NOW, out_of_service=False))
    assert eng.alarm(PROCESS).state is AlarmState.NORMAL
