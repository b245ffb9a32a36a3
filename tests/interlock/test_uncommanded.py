"""A fan that runs though the interlock did not start it is logged and shown as running.

After a gateway restart the interlock starts with every fan stopped (its command); a fan
left running (its coil latched on) or started by hand at the panel still runs. The unit
does not stop it (an operator may have started it on purpose), but says so: an
``uncommanded-run`` log line and ``uncommanded`` in its snapshot, which the board shows.
"""

from __future__ import annotations

from gateway.alarms.levels import Level
from gateway.interlock import Feedback, Tick, UncommandedRun, WriteCoil
from tests.interlock.support import names, unit, zone


def test_a_fan_running_at_start_is_logged_and_shown_until_it_stops() -> None:
    vent = unit()
    [line] = vent.handle(Feedback("fan-1", True, 1.0))  # the first poll after a restart
    assert isinstance(line, UncommandedRun)
    assert (line.fan, line.device, line.running, line.state, line.at_start) == (
        "primary", "fan-1", True, "idle", True)
    # the interlock may have started it before the restart: not "not started by" it
    assert "fan-1 was running at its first poll since the gateway started" in line.cause
    assert "not started by the interlock" not in line.cause
    snap = vent.snapshot()
    assert snap.uncommanded == ("primary",) and snap.to_dict()["uncommanded"] == ["primary"]
    assert snap.found_running == ("primary",) and snap.to_dict()["found_running"] == ["primary"]
    assert str(snap.primary) == "stopped" and not snap.ventilating  # the command, as before
    assert vent.handle(Feedback("fan-1", True, 2.0)) == []  # said once
    assert vent.handle(Feedback("fan-2", False, 2.0)) == []  # a stopped fan is no news
    assert vent.handle(Tick(3.0)) == []  # nothing written: an operator may have started it
    [stopped] = vent.handle(Feedback("fan-1", False, 4.0))
    assert isinstance(stopped, UncommandedRun) and stopped.running is False
    assert stopped.at_start
    assert "it was running at its first poll since the gateway" in stopped.cause
    assert vent.snapshot().uncommanded == () and vent.snapshot().found_running == ()
    [again] = vent.handle(Feedback("fan-1", True, 5.0))  # started while the gateway watched
    assert again.running is True and not again.at_start
    assert "fan-1 runs, not started by the interlock" in again.cause
    assert vent.snapshot().uncommanded == ("primary",)
    assert vent.snapshot().found_running == ()
    [off] = vent.handle(Feedback("fan-1", False, 6.0))
    assert not off.at_start and "it was not started by the interlock" in off.cause


def test_a_fan_seen_stopped_first_then_running_is_not_found_running() -> None:
    """Only the first feedback after the start can find a fan running; the standby seen
    stopped and then running was started while the gateway watched."""
    vent = unit()
    assert vent.handle(Feedback("fan-2", False, 1.0)) == []
    [line] = vent.handle(Feedback("fan-2", True, 2.0))
    assert (line.fan, line.at_start) == ("standby", False)
    snap = vent.snapshot()
    assert snap.uncommanded == ("standby",) and snap.found_running == ()


def test_the_interlock_taking_over_a_fan_found_running_clears_both() -> None:
    vent = unit()
    vent.handle(Feedback("fan-1", True, 1.0))
    assert vent.snapshot().found_running == ("primary",)
    out = vent.handle(zone(2.0, Level.ALARM))
    assert "started" in names(out)
    snap = vent.snapshot()
    assert snap.uncommanded == () and snap.found_running == ()


def test_the_interlocks_own_run_and_stop_are_not_uncommanded() -> None:
    vent = unit(hold_time=5.0)
    assert vent.handle(Feedback("fan-1", False, 0.5)) == []
    out = vent.handle(zone(1.0, Level.ALARM))
    assert "started" in names(out)
    assert names(vent.handle(Feedback("fan-1", True, 2.0))) == ["confirmed"]
    vent.handle(zone(10.0))
    out = vent.handle(Tick(20.0))
    assert any(isinstance(o, WriteCoil) and not o.value for o in out)  # stopped
    # still spinning down after the stop, then stopped: neither is news
    assert vent.handle(Feedback("fan-1", True, 21.0)) == []
    assert vent.handle(Feedback("fan-1", False, 25.0)) == []
    assert vent.snapshot().uncommanded == ()


def test_a_demand_takes_over_a_fan_running_by_hand() -> None:
    vent = unit()
    vent.handle(Feedback("fan-1", True, 1.0))
    assert vent.snapshot().uncommanded == ("primary",)
    out = vent.handle(zone(2.0, Level.ALARM))
    assert "started" in names(out) and vent.snapshot().uncommanded == ()
    assert names(vent.handle(Feedback("fan-1", True, 3.0))) == ["confirmed"]
    assert vent.snapshot().ventilating


def test_a_poll_the_fan_does_not_answer_says_nothing_of_whether_it_runs() -> None:
    """Offline at the start, then answering running: found running at its first answered
    poll. Offline again while running: not "stopped running" but not known; answering
    running again after that: running, and no longer its first poll."""
    vent = unit()
    assert vent.handle(Feedback("fan-1", False, 1.0, answered=False)) == []
    [found] = vent.handle(Feedback("fan-1", True, 2.0))
    assert found.at_start and "first poll since the gateway started" in found.cause
    [lost] = vent.handle(Feedback("fan-1", False, 3.0, answered=False))
    assert lost.running is False and "does not answer" in lost.cause
    assert "stopped running" not in lost.cause
    assert vent.snapshot().uncommanded == () and vent.snapshot().found_running == ()
    assert vent.handle(Feedback("fan-1", False, 4.0, answered=False)) == []  # said once
    [back] = vent.handle(Feedback("fan-1", True, 5.0))
    assert back.running and not back.at_start
    assert "runs, not started by the interlock" in back.cause
    assert vent.snapshot().uncommanded == ("primary",)
    assert vent.snapshot().found_running == ()
