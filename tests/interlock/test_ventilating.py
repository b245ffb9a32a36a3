"""``ventilating`` means a fan confirms it runs: never while both fans have failed."""

from __future__ import annotations

from gateway.alarms.levels import Level
from gateway.interlock import DemandState, Feedback, Tick
from gateway.interlock.states import DriveState
from tests.interlock.support import unit, zone


def test_ventilating_only_with_running_feedback_never_with_both_fans_failed() -> None:
    vent = unit(feedback_timeout=2.0, retry_initial=0.5, retry_max=1.0)
    vent.handle(zone(0.0, Level.ALARM))
    snap = vent.snapshot()
    assert snap.state is DemandState.ACTIVE and snap.demanded
    assert snap.ventilating is False  # commanded, no feedback yet: not ventilating
    t = 0.0
    while t < 10.0:  # neither fan ever reports running
        t += 0.5
        vent.handle(zone(t, Level.ALARM))
        vent.handle(Tick(t))
    snap = vent.snapshot()
    assert snap.primary is DriveState.FAILED and snap.standby is DriveState.FAILED
    assert snap.failure and snap.demanded
    assert snap.ventilating is False
    assert snap.to_dict()["ventilating"] is False and snap.to_dict()["demanded"] is True
    vent.handle(Feedback("fan-2", True, t + 0.5))  # the standby comes up at last
    snap = vent.snapshot()
    assert snap.standby is DriveState.RUNNING and snap.ventilating is True
