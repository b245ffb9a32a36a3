"""The alarm engine and instrument states: check function is held, failure is a fault.

A bump test's test gas arrives as bad ``check-function:bump-test`` samples without a value.
The engine must neither evaluate them (no process alarm) nor call them a fault (under the
default fault policy a fault starts the fans), must not let the point go stale while the
instrument answers, and must keep whatever was true before: an alarm raised before the
inhibit stays raised, a fault present before stays present.
"""

from __future__ import annotations

from gateway.alarms.actions import AlarmEvent
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.events import Sample, Tick
from occmon.model import Quality
from tests.alarms.support import FAULT, POINT, PROCESS, engine

BUMP = "check-function:bump-test"


def bump(eng: AlarmEngine, start: float, seconds: int) -> list[AlarmEvent]:
    out: list[AlarmEvent] = []
    for t in range(seconds):
        out += eng.handle(Sample(POINT, start + t, None, Quality.BAD, BUMP))
        out += eng.handle(Tick(start + t + 0.5))
    return out


def ids(events: list[AlarmEvent]) -> list[tuple[str, str]]:
    return [(e.alarm_id, type(e).__name__) for e in events]


def test_a_bump_test_raises_nothing_and_never_goes_stale() -> None:
    eng = engine(on_delay=0.0, stale_after_polls=3)  # stale after 3 s without a good value
    assert eng.handle(Sample(POINT, 0.0, 0.4)) == []
    assert bump(eng, 1.0, 60) == []  # 60 s of test gas: 20 stale windows
    condition = eng.conditions()[POINT]
    assert not condition.faulted and condition.level is None
    assert ids(eng.handle(Sample(POINT, 61.0, 0.4))) == []


def test_an_alarm_raised_before_the_inhibit_stays_and_a_fault_stays() -> None:
    eng = engine(on_delay=0.0, off_delay=1.0, stale_after_polls=3)
    assert ids(eng.handle(Sample(POINT, 0.0, 12.0))) == [(PROCESS, "Raised")]
    assert bump(eng, 1.0, 10) == []  # no clear while the detector is under test
    assert eng.conditions()[POINT].level == "alarm"

    eng = engine(on_delay=0.0, stale_after_polls=3, fault_off_delay=1.0)
    eng.handle(Sample(POINT, 0.0, 0.4))
    assert ids(eng.handle(Sample(POINT, 1.0, None, Quality.BAD, "sensor-fault"))) == [
        (FAULT, "FaultRaised")]
    assert bump(eng, 2.0, 10) == []
    assert eng.conditions()[POINT].faulted  # a check function does not repair a sensor


def test_a_failure_state_is_a_fault_at_once() -> None:
    eng = engine(on_delay=0.0)
    eng.handle(Sample(POINT, 0.0, 0.4))
    events = eng.handle(Sample(POINT, 1.0, None, Quality.BAD, "failure:instrument-fault"))
    assert ids(events) == [(FAULT, "FaultRaised")]
    assert eng.conditions()[POINT].fault_reason == "failure:instrument-fault"


def test_a_detector_that_starts_in_warm_up_goes_stale() -> None:
    """No good value was ever seen: nothing proves the air clean, so staleness applies."""
    eng = engine(on_delay=0.0, stale_after_polls=3)
    out: list[AlarmEvent] = []
    for t in range(5):
        out += eng.handle(Sample(POINT, float(t), None, Quality.BAD, "check-function:warm-up"))
        out += eng.handle(Tick(t + 0.5))
    assert ids(out) == [(FAULT, "FaultRaised")]
