"""The start-up rule of docs/alarms.md ("Start-up"): a device that has never answered is
judged by staleness (a fault after ``stale_after_polls`` polls), not at its first failed
poll; a device that has answered once faults at its first bad sample, as always."""

from __future__ import annotations

from gateway.alarms.events import Sample, Tick
from occmon.model import Quality, Reason
from tests.alarms.support import FAULT, POINT, engine, names

OFFLINE = str(Reason.DEVICE_OFFLINE)


def offline(t: float) -> Sample:
    return Sample(POINT, t, None, Quality.BAD, OFFLINE)


def test_a_device_that_never_answered_faults_after_the_grace_not_at_once() -> None:
    eng = engine(stale_after_polls=3)  # poll 1 s: grace 3 s from the first tick
    assert eng.handle(Tick(0.0)) == []
    for t in (0.1, 1.1, 2.1):  # polls inside the grace: nothing pushed, nothing reported
        assert eng.handle(offline(t)) == []
        assert eng.handle(Tick(t + 0.4)) == []
    assert eng.conditions()[POINT].time is None  # "not yet reported" to the interlock
    events = eng.handle(Tick(3.0))  # 3 polls without an answer: fault
    assert [(e.alarm_id, e.to_dict()["event"]) for e in events] == [(FAULT, "fault-raised")]
    assert eng.conditions()[POINT].faulted
    # after the grace a device-offline sample faults the point at once (no hiding later)
    assert eng.handle(offline(3.2)) == []  # already in fault: no second raise
    assert eng.conditions()[POINT].faulted


def test_a_device_that_answered_once_faults_at_its_first_bad_sample() -> None:
    eng = engine(stale_after_polls=3)
    eng.handle(Tick(0.0))
    assert eng.handle(Sample(POINT, 0.5, 0.4)) == []  # one good answer
    events = eng.handle(offline(1.5))  # inside what would have been the grace
    assert names(events) == ["fault-raised"]
    assert events[0].to_dict()["reason"] == OFFLINE


def test_the_grace_covers_only_a_silent_device_not_a_faulty_sensor() -> None:
    eng = engine(stale_after_polls=3)
    eng.handle(Tick(0.0))
    events = eng.handle(Sample(POINT, 0.2, None, Quality.BAD, str(Reason.LOOP_UNDER_RANGE)))
    assert names(events) == ["fault-raised"]  # the device answered: the sensor is faulty


def test_a_gas_level_during_the_grace_alarms_as_always() -> None:
    eng = engine(stale_after_polls=3, on_delay=0.0)
    eng.handle(Tick(0.0))
    eng.handle(offline(0.1))
    assert names(eng.handle(Sample(POINT, 1.1, 12.0))) == ["raised"]
    assert eng.conditions()[POINT].level is not None
