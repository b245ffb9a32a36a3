"""A unit takes up the state saved before a gateway restart (``VentilationUnit.restore``).

Before, every unit started idle: a hold under way was forgotten and its fan ran on with
nobody to stop it, a latch waiting for an operator's reset was lost (the reset was then
refused), and a manual on was no longer an override. The pure unit is given its saved
memory before it handles anything, and goes on from there as if it had not stopped.
"""

from __future__ import annotations

import pytest

from gateway.alarms.levels import Level
from gateway.interlock import (
    DemandState,
    Feedback,
    HoldCancelled,
    InterlockError,
    ManualOverride,
    OperatorReset,
    ResetNotAllowed,
    StateRestored,
    Tick,
    UnitMemory,
    WriteCoil,
)
from gateway.interlock.unit import RESTORE_SETTLE_S
from tests.interlock.support import names, unit, zone

HOLD = 60.0


def test_a_hold_under_way_ends_when_it_would_have_ended() -> None:
    before = unit(hold_time=HOLD)
    before.handle(zone(0.0, Level.HIGH_ALARM))
    before.handle(Feedback("fan-1", True, 1.0))
    before.handle(zone(10.0, None))  # clear: the hold runs to 70 s
    saved = before.memory()
    assert saved == UnitMemory(DemandState.HOLD, 70.0, None)

    after = unit(hold_time=HOLD)  # the restarted gateway's unit, 30 s later
    out = after.restore(saved, 40.0, saved_at=10.0)
    assert names(out) == ["restored", "write fan-1.run_command=1"]
    restored = out[0]
    assert isinstance(restored, StateRestored)
    assert (restored.was, restored.state, restored.restored, restored.until) == (
        "hold", "hold", True, 70.0)
    assert restored.saved == 10.0
    assert restored.cause == ("restored after a gateway restart: holding after the zone "
                              "cleared")
    snap = after.snapshot()
    assert snap.state is DemandState.HOLD and snap.hold_until == 70.0 and snap.demanded
    after.handle(Feedback("fan-1", True, 41.0))  # still running: confirmed, not uncommanded
    assert after.snapshot().ventilating and after.snapshot().uncommanded == ()
    assert after.handle(zone(42.0, None)) == []  # still clear: the hold goes on
    assert names(after.handle(Tick(69.0))) == []
    assert names(after.handle(Tick(70.0))) == ["stopped", "write fan-1.run_command=0"]
    assert after.state is DemandState.IDLE


def test_a_saved_hold_is_never_longer_than_a_hold_from_now() -> None:
    """The hold time was shortened in the site file meanwhile: the earlier end wins."""
    after = unit(hold_time=20.0)
    after.restore(UnitMemory(DemandState.HOLD, 500.0), 100.0, saved_at=90.0)
    assert after.snapshot().hold_until == 120.0


def test_a_hold_that_ended_while_the_gateway_was_down_stops_once_the_zone_is_heard_clear(
        ) -> None:
    after = unit(hold_time=HOLD)
    after.restore(UnitMemory(DemandState.HOLD, 70.0), 500.0, saved_at=10.0)
    assert names(after.handle(Tick(500.5))) == []  # nothing heard since the restart yet
    after.handle(zone(501.0, None))
    assert names(after.handle(Tick(501.5))) == ["stopped", "write fan-1.run_command=0"]


def test_points_not_yet_heard_after_a_restore_neither_cancel_nor_end_the_hold() -> None:
    """A unit of two points: the first poll of one comes, the other's is due. The hold is
    not cancelled for want of the second (it would then start again in full), nor ended
    without it; a point still unheard when the settling time is over keeps the zone
    elevated, as ever: the fan runs until it reports clear and a full hold has passed."""
    two = ["desulf-h2s-1", "desulf-h2s-2"]
    after = unit(hold_time=HOLD, points=two)
    after.restore(UnitMemory(DemandState.HOLD, 520.0), 500.0, saved_at=480.0)
    after.handle(Feedback("fan-1", True, 500.5))  # the fan runs: confirmed
    assert after.handle(zone(501.0, None, point=two[0])) == []  # undecided, hold kept
    assert after.handle(Tick(520.5)) == []  # due, but desulf-h2s-2 is not heard yet
    assert names(after.handle(zone(521.0, None, point=two[1]))) == []  # clear now
    assert names(after.handle(Tick(521.5))) == ["stopped", "write fan-1.run_command=0"]

    silent = unit(hold_time=HOLD, points=two)
    silent.restore(UnitMemory(DemandState.HOLD, 520.0), 500.0, saved_at=480.0)
    silent.handle(Feedback("fan-1", True, 500.5))
    silent.handle(zone(501.0, None, point=two[0]))
    late = 500.0 + RESTORE_SETTLE_S + 1
    [cancelled] = silent.handle(zone(late, None, point=two[0]))
    assert cancelled.name == "hold-cancelled" and silent.state is DemandState.ACTIVE
    assert isinstance(cancelled, HoldCancelled)
    assert cancelled.cause == "desulf-h2s-2 not yet reported"


def test_a_latch_awaiting_reset_is_kept_and_the_reset_still_works() -> None:
    before = unit(hold_time=HOLD, reset="operator")
    before.handle(zone(0.0, Level.ALARM))
    before.handle(zone(5.0, None))
    before.handle(Tick(65.0))
    assert before.state is DemandState.AWAIT_RESET
    saved = before.memory()

    after = unit(hold_time=HOLD, reset="operator")
    out = after.restore(saved, 200.0, saved_at=65.0)
    assert names(out) == ["restored", "write fan-1.run_command=1"]  # ventilating until the reset
    assert "ventilating until an operator resets" in out[0].cause
    assert after.handle(zone(201.0, None)) == []  # clear: still latched
    assert names(after.handle(OperatorReset("desulf-exhaust", "li.wei", 202.0))) == [
        "reset", "stopped", "write fan-1.run_command=0"]


def test_ventilating_on_demand_goes_on_and_a_clear_zone_then_holds_in_full() -> None:
    after = unit(hold_time=HOLD)
    out = after.restore(UnitMemory(DemandState.ACTIVE), 100.0, saved_at=99.0)
    assert names(out) == ["restored", "write fan-1.run_command=1"]
    assert names(after.handle(zone(101.0, None))) == ["hold-started"]
    assert after.snapshot().hold_until == 101.0 + HOLD


def test_a_manual_on_is_kept_with_who_set_it_and_auto_hands_it_back() -> None:
    before = unit()
    before.handle(ManualOverride("desulf-exhaust", "on", "wang.fang", "purge", 1.0))
    saved = before.memory()
    assert saved == UnitMemory(DemandState.MANUAL_ON, None, "wang.fang")
    after = unit()
    out = after.restore(saved, 50.0, saved_at=1.0)
    assert names(out) == ["restored", "write fan-1.run_command=1"]
    assert out[0].cause == "restored after a gateway restart: forced on by wang.fang"
    assert after.snapshot().override_by == "wang.fang"
    back = after.handle(ManualOverride("desulf-exhaust", "auto", "wang.fang", "done", 60.0))
    assert names(back)[:2] == ["override", "hold-started"]


def test_a_manual_off_is_not_taken_up_and_the_log_says_so() -> None:
    """After a restart the interlock is automatic again: a leak starts the fan."""
    before = unit()
    before.handle(ManualOverride("desulf-exhaust", "off", "zhao.lei", "maintenance", 1.0))
    saved = before.memory()
    assert saved.state is DemandState.MANUAL_OFF
    after = unit()
    out = after.restore(saved, 50.0, saved_at=1.0)
    assert names(out) == ["restored"]  # nothing written
    assert isinstance(out[0], StateRestored) and out[0].restored is False
    assert out[0].state == "idle" and out[0].was == "manual-off"
    assert out[0].cause == ("not restored after a gateway restart: ventilation forced off by "
                            "zhao.lei; the interlock is automatic again")
    assert after.snapshot().override_by is None
    assert "write fan-1.run_command=1" in names(after.handle(zone(51.0, Level.ALARM)))


def test_idle_restores_to_nothing_and_a_running_unit_cannot_be_restored() -> None:
    after = unit()
    assert after.restore(UnitMemory(DemandState.IDLE), 5.0, saved_at=1.0) == []
    with pytest.raises(ResetNotAllowed):
        after.handle(OperatorReset("desulf-exhaust", "li.wei", 6.0))
    after.handle(zone(7.0, Level.ALARM))
    with pytest.raises(InterlockError):
        after.restore(UnitMemory(DemandState.HOLD, 100.0), 8.0, saved_at=1.0)


def test_memory_names_only_what_a_state_keeps() -> None:
    """A hold's end only in hold, the override's author only under an override: a save is
    written only when what is worth keeping changes."""
    vent = unit(hold_time=HOLD)
    assert vent.memory() == UnitMemory(DemandState.IDLE)
    vent.handle(zone(0.0, Level.ALARM))
    assert vent.memory() == UnitMemory(DemandState.ACTIVE)
    out = vent.handle(zone(1.0, None))
    assert vent.memory() == UnitMemory(DemandState.HOLD, 61.0)
    assert not any(isinstance(o, WriteCoil) and o.device == "fan-1" for o in out)
