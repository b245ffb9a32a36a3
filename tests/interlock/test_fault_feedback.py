"""A fan that reports a trip (fault input or a drive's fault bit) fails at once."""

from __future__ import annotations

from gateway.alarms.levels import Level
from gateway.interlock import DriveState, Feedback, Tick, VentilationFailureAlarm, WriteCoil
from gateway.interlock.events import Output
from tests.interlock.support import names, unit, zone


def _writes(out: list[Output]) -> list[tuple[str, str, bool]]:
    return [(o.device, o.coil, o.value) for o in out if isinstance(o, WriteCoil)]


def test_a_trip_while_starting_is_a_failure_before_the_timeout() -> None:
    vent = unit(feedback_timeout=10.0)
    vent.handle(zone(0.0, Level.ALARM))
    out = vent.handle(Feedback("fan-1", False, 1.0, fault=True))
    failure = [o for o in out if isinstance(o, VentilationFailureAlarm)]
    assert failure and failure[0].active and failure[0].time == 1.0  # not at 10 s
    assert "reports a fault" in failure[0].cause
    assert ("fan-2", "run_command", True) in _writes(out)  # the standby
    assert ("fan-1", "run_command", True) in _writes(out)  # the duty fan retried
    assert vent.snapshot().primary is DriveState.FAILED


def test_a_trip_while_running_loses_feedback_and_fails() -> None:
    vent = unit()
    vent.handle(zone(0.0, Level.ALARM))
    vent.handle(Feedback("fan-1", True, 1.0))
    out = vent.handle(Feedback("fan-1", False, 5.0, fault=True))
    assert names(out)[:3] == ["feedback-lost", "ventilation-failure", "standby-started"]


def test_a_trip_of_a_stopped_or_already_failed_fan_changes_nothing() -> None:
    vent = unit()
    assert vent.handle(Feedback("fan-1", False, 1.0, fault=True)) == []
    vent.handle(zone(2.0, Level.ALARM))
    vent.handle(Tick(13.0))  # failed by the timeout (10 s)
    assert vent.snapshot().primary is DriveState.FAILED
    assert vent.handle(Feedback("fan-1", False, 13.1, fault=True)) == []


def test_a_fault_with_the_running_bit_still_set_counts_as_running() -> None:
    """Running feedback proves air moves; the trip is judged when running drops."""
    vent = unit()
    vent.handle(zone(0.0, Level.ALARM))
    out = vent.handle(Feedback("fan-1", True, 1.0, fault=True))
    assert names(out) == ["confirmed"]
