"""The ISA-18.2 alarm life cycle: every transition, in one table.

``TABLE[(state, trigger)]`` is either a ``Transition`` (next state and the abstract actions
the engine turns into events), a ``Split`` when the outcome depends on whether the
condition is still present (unshelve, shelve expiry, return to service), or an ``AlarmError``
subclass: that command is illegal in that state, the engine raises it and changes nothing.
Process, fault and external alarms share the table; only their condition differs.

A cleared alarm that was never acknowledged stays latched (``cleared-unacknowledged``) until
someone acknowledges it. A level rise re-opens an acknowledged alarm for acknowledgement.
Shelving and out-of-service silence annunciation only: the condition is still tracked and
still drives the ventilation interlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.alarms import errors
from gateway.alarms.actions import AlarmState


class Trigger(StrEnum):
    ACTIVATE = "activate"  # condition became present (after on-delay)
    ESCALATE = "escalate"  # level rose while present
    DEESCALATE = "deescalate"  # level fell, still present
    CLEAR = "clear"  # condition gone (after deadband and off-delay)
    ACK = "ack"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    SHELVE_EXPIRED = "shelve-expired"
    REMOVE = "remove-from-service"
    RESTORE = "return-to-service"
    RESOLVE = "resolve"


class Do(StrEnum):
    """Abstract actions; the engine emits the matching event class for the alarm's kind."""

    RAISE = "raise"
    ESCALATE = "escalate"
    DEESCALATE = "deescalate"
    CLEAR = "clear"
    ACK = "ack"
    RETURN = "return"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    REMOVE = "remove"
    RESTORE = "restore"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class Transition:
    next: AlarmState
    actions: tuple[Do, ...] = ()


@dataclass(frozen=True, slots=True)
class Split:
    """Outcome chosen by whether the condition is present when the command lands."""

    active: Transition
    inactive: Transition


Row = Transition | Split | type[errors.AlarmError]

S = AlarmState
T = Trigger
NORMAL, UNACK, ACKED, LATCHED = S.NORMAL, S.ACTIVE_UNACK, S.ACTIVE_ACK, S.CLEARED_UNACK
SHELVED, OOS = S.SHELVED, S.OUT_OF_SERVICE

_BACK = Split(Transition(UNACK, (Do.RAISE,)), Transition(NORMAL))

TABLE: dict[tuple[AlarmState, Trigger], Row] = {
    # normal
    (NORMAL, T.ACTIVATE): Transition(UNACK, (Do.RAISE,)),
    (NORMAL, T.ACK): errors.AlreadyAcknowledged,
    (NORMAL, T.SHELVE): Transition(SHELVED, (Do.SHELVE,)),
    (NORMAL, T.UNSHELVE): errors.NotShelved,
    (NORMAL, T.REMOVE): Transition(OOS, (Do.REMOVE,)),
    (NORMAL, T.RESTORE): errors.InService,
    (NORMAL, T.RESOLVE): Transition(NORMAL, (Do.RESOLVE,)),
    # active, unacknowledged
    (UNACK, T.ESCALATE): Transition(UNACK, (Do.ESCALATE,)),
    (UNACK, T.DEESCALATE): Transition(UNACK, (Do.DEESCALATE,)),
    (UNACK, T.CLEAR): Transition(LATCHED, (Do.CLEAR,)),
    (UNACK, T.ACK): Transition(ACKED, (Do.ACK,)),
    (UNACK, T.SHELVE): Transition(SHELVED, (Do.SHELVE,)),
    (UNACK, T.UNSHELVE): errors.NotShelved,
    (UNACK, T.REMOVE): Transition(OOS, (Do.REMOVE,)),
    (UNACK, T.RESTORE): errors.InService,
    (UNACK, T.RESOLVE): errors.StillActive,
    # active, acknowledged
    (ACKED, T.ESCALATE): Transition(UNACK, (Do.ESCALATE,)),
    (ACKED, T.DEESCALATE): Transition(ACKED, (Do.DEESCALATE,)),
    (ACKED, T.CLEAR): Transition(NORMAL, (Do.CLEAR, Do.RETURN)),
    (ACKED, T.ACK): errors.AlreadyAcknowledged,
    (ACKED, T.SHELVE): Transition(SHELVED, (Do.SHELVE,)),
    (ACKED, T.UNSHELVE): errors.NotShelved,
    (ACKED, T.REMOVE): Transition(OOS, (Do.REMOVE,)),
    (ACKED, T.RESTORE): errors.InService,
    (ACKED, T.RESOLVE): errors.StillActive,
    # cleared, unacknowledged: latched
    (LATCHED, T.ACTIVATE): Transition(UNACK, (Do.RAISE,)),
    (LATCHED, T.ACK): Transition(NORMAL, (Do.ACK, Do.RETURN)),
    (LATCHED, T.SHELVE): Transition(SHELVED, (Do.SHELVE,)),
    (LATCHED, T.UNSHELVE): errors.NotShelved,
    (LATCHED, T.REMOVE): Transition(OOS, (Do.REMOVE,)),
    (LATCHED, T.RESTORE): errors.InService,
    (LATCHED, T.RESOLVE): Transition(NORMAL, (Do.RESOLVE, Do.RETURN)),
    # shelved: condition tracked, nothing annunciated
    (SHELVED, T.ACTIVATE): Transition(SHELVED),
    (SHELVED, T.ESCALATE): Transition(SHELVED),
    (SHELVED, T.DEESCALATE): Transition(SHELVED),
    (SHELVED, T.CLEAR): Transition(SHELVED),
    (SHELVED, T.ACK): errors.IsShelved,
    (SHELVED, T.SHELVE): Transition(SHELVED, (Do.SHELVE,)),  # extend or shorten
    (SHELVED, T.UNSHELVE): Split(Transition(UNACK, (Do.UNSHELVE, Do.RAISE)),
                                 Transition(NORMAL, (Do.UNSHELVE,))),
    (SHELVED, T.SHELVE_EXPIRED): Split(Transition(UNACK, (Do.UNSHELVE, Do.RAISE)),
                                       Transition(NORMAL, (Do.UNSHELVE,))),
    (SHELVED, T.REMOVE): Transition(OOS, (Do.REMOVE,)),
    (SHELVED, T.RESTORE): errors.InService,
    (SHELVED, T.RESOLVE): errors.IsShelved,
    # out of service: condition tracked, nothing annunciated, no commands but return
    (OOS, T.ACTIVATE): Transition(OOS),
    (OOS, T.ESCALATE): Transition(OOS),
    (OOS, T.DEESCALATE): Transition(OOS),
    (OOS, T.CLEAR): Transition(OOS),
    (OOS, T.ACK): errors.OutOfService,
    (OOS, T.SHELVE): errors.OutOfService,
    (OOS, T.UNSHELVE): errors.OutOfService,
    (OOS, T.REMOVE): errors.OutOfService,
    (OOS, T.RESTORE): Split(Transition(UNACK, (Do.RESTORE, Do.RAISE)),
                            Transition(NORMAL, (Do.RESTORE,))),
    (OOS, T.RESOLVE): errors.OutOfService,
}

_WHY: dict[type[errors.AlarmError], str] = {
    errors.AlreadyAcknowledged: "is already acknowledged (state {state})",
    errors.NotShelved: "is not shelved (state {state})",
    errors.InService: "is already in service (state {state})",
    errors.StillActive: "is still active: resolve it after it clears (state {state})",
    errors.IsShelved: "is shelved: unshelve it first",
    errors.OutOfService: "is out of service: return it to service first",
}


class ImpossibleTransition(RuntimeError):
    """The engine fed a trigger its condition tracking should never produce: a bug."""


def transition(alarm_id: str, state: AlarmState, trigger: Trigger,
               active: bool) -> Transition:
    """Look up ``(state, trigger)``; raise the row's error (naming the alarm) if illegal."""
    row = TABLE.get((state, trigger))
    if row is None:
        raise ImpossibleTransition(f"alarm {alarm_id!r}: no transition for {trigger} in {state}")
    if isinstance(row, Split):
        return row.active if active else row.inactive
    if isinstance(row, Transition):
        return row
    why = _WHY.get(row, "cannot take {trigger} in state {state}")
    raise row(alarm_id, f"alarm {alarm_id!r} " + why.format(state=state, trigger=trigger))
