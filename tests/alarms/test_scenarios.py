"""Sample series through the engine: a leak, chattering, dead sensors, calibration."""

from __future__ import annotations

import json

import pytest

from gateway.alarms.actions import AlarmState, Cleared, FaultRaised, Raised, WarningRaised
from gateway.alarms.events import Acknowledge, ExternalAlarm, Sample, Shelve, Tick
from gateway.alarms.levels import Level
from occmon.model import Quality, Reason
from tests.alarms.support import FAULT, POINT, PROCESS, engine, feed, names, ticks


def test_h2s_leak_pre_alarm_alarm_clear_latched_until_acknowledged() -> None:
    eng = engine()
    rising = [1.0, 2.0, 4.0, 6.0, 6.5, 7.0, 9.0, 11.0, 12.0, 13.0, 14.0]
    out = feed(eng, rising)
    assert names(out) == ["raised", "escalated"]
    raised, escalated = out
    assert (raised.level, raised.setpoint, raised.time) == (Level.PRE_ALARM, 5.0, 5.0)
    assert (escalated.level, escalated.setpoint, escalated.time) == (Level.ALARM, 10.0, 9.0)
    assert escalated.previous_level is Level.PRE_ALARM  # type: ignore[attr-defined]
    assert escalated.value == 13.0 and "13 mg/m3" in escalated.cause  # armed at 7, held 2 s
    # the leak is stopped: values fall below 5 - 0.25 and stay there
    out = feed(eng, [8.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], start=11.0)
    assert names(out) == ["deescalated", "cleared"]
    cleared = out[-1]
    assert isinstance(cleared, Cleared)
    assert cleared.time == 17.0  # first value under 4.75 at t=12, off-delay 5 s
    assert cleared.state is AlarmState.CLEARED_UNACK
    # latched: stays so, whatever time passes with clean air
    feed(eng, [1.0] * 30, start=20.0)
    assert eng.alarm(PROCESS).state is AlarmState.CLEARED_UNACK
    out = eng.handle(Acknowledge(PROCESS, "li", "leak fixed", 60.0))
    assert names(out) == ["acknowledged", "returned"]
    assert eng.alarm(PROCESS).state is AlarmState.NORMAL
    assert eng.alarm(PROCESS).acknowledged_by == "li"


def test_oscillation_around_a_set_point_gives_one_alarm() -> None:
    eng = engine()
    wobble = [4.8, 5.2] * 60  # around the pre-alarm, inside its 0.25 deadband
    out = feed(eng, wobble)
    assert names(out) == ["raised"]
    out = feed(eng, [9.8, 10.2] * 60, start=120.0)  # around the alarm level
    assert names(out) == ["escalated"]


def test_oscillation_that_leaves_the_deadband_resets_the_on_delay() -> None:
    eng = engine()
    out = feed(eng, [4.0, 5.5] * 30)  # every other sample below 5 - 0.25: never 2 s above
    assert out == []


def test_one_spike_under_the_high_alarm_is_filtered_by_the_on_delay() -> None:
    eng = engine()
    assert feed(eng, [1.0, 15.0, 1.0, 1.0]) == []


def test_high_alarm_is_never_delayed() -> None:
    eng = engine()
    out = feed(eng, [1.0, 25.0])
    assert names(out) == ["raised"]
    assert (out[0].level, out[0].time) == (Level.HIGH_ALARM, 1.0)


def test_on_delay_confirmed_by_tick_without_a_new_sample() -> None:
    eng = engine(on_delay=2.0, poll_interval=5.0)
    feed(eng, [12.0])
    assert eng.handle(Tick(1.5)) == []
    out = eng.handle(Tick(2.0))
    assert names(out) == ["raised"] and out[0].level is Level.ALARM


def test_dead_sensor_is_a_fault_within_n_poll_intervals_and_shows_no_value() -> None:
    eng = engine(poll_interval=1.0, stale_after_polls=3)
    feed(eng, [1.0, 1.0, 1.0])  # last good sample at t=2
    out = ticks(eng, 2.5, 10.0)
    faults = [e for e in out if isinstance(e, FaultRaised)]
    assert len(faults) == 1
    assert faults[0].reason == "stale"
    assert 2.0 < faults[0].time <= 2.0 + 3 * 1.0 + 0.5
    snap = eng.snapshot()[POINT]
    assert snap.faulted and snap.value is None
    assert eng.conditions()[POINT].faulted


def test_never_reporting_sensor_is_stale_from_the_first_tick() -> None:
    eng = engine(poll_interval=1.0, stale_after_polls=3)
    out = ticks(eng, 0.0, 5.0)
    assert names(out) == ["fault-raised"]
    assert out[0].time == 3.0


@pytest.mark.parametrize("reason", [Reason.LOOP_UNDER_RANGE, Reason.LOOP_OVER_RANGE,
                                    Reason.OUT_OF_RANGE, Reason.MODBUS_EXCEPTION,
                                    Reason.NOT_A_NUMBER, Reason.SENSOR_FAULT])
def test_bad_quality_is_a_fault_at_once(reason: Reason) -> None:
    eng = engine()
    feed(eng, [1.0])
    out = eng.handle(Sample(POINT, 1.0, None, Quality.BAD, reason))
    assert names(out) == ["fault-raised"]
    assert out[0].reason == reason  # type: ignore[attr-defined]
    assert out[0].alarm_id == FAULT
    assert eng.snapshot()[POINT].value is None


def test_fault_clears_after_good_samples_and_stays_latched() -> None:
    eng = engine(fault_off_delay=5.0)
    feed(eng, [1.0])
    eng.handle(Sample(POINT, 1.0, None, Quality.BAD, Reason.LOOP_UNDER_RANGE))
    out = feed(eng, [1.0] * 4, start=2.0)
    assert out == []  # 2..5: not yet 5 s of good samples
    out = feed(eng, [1.0, 1.0], start=6.0)
    assert names(out) == ["fault-cleared"]
    assert eng.alarm(FAULT).state is AlarmState.CLEARED_UNACK


def test_faulted_sensor_neither_raises_nor_clears_the_gas_alarm() -> None:
    eng = engine()
    feed(eng, [12.0] * 4)
    assert eng.alarm(PROCESS).active
    out = ticks(eng, 4.0, 30.0)  # sensor silent: stale, but the alarm must not clear
    assert names(out) == ["fault-raised"]
    assert eng.alarm(PROCESS).active
    assert eng.conditions()[POINT].level is Level.ALARM


def test_calibration_overdue_warns_once_and_value_still_counts() -> None:
    eng = engine()
    samples = [Sample(POINT, float(t), 12.0, Quality.UNCERTAIN, Reason.CALIBRATION_OVERDUE)
               for t in range(5)]
    out = [e for s in samples for e in eng.handle(s)]
    assert [type(e) for e in out] == [WarningRaised, Raised]
    assert out[0].alarm_id == f"{POINT}:calibration"
    assert eng.snapshot()[POINT].calibration_overdue


def test_calibration_due_date_warns_on_tick() -> None:
    eng = engine(calibration_due=50.0, poll_interval=100.0)
    assert eng.handle(Tick(49.0)) == []
    assert names(eng.handle(Tick(50.0))) == ["warning"]
    assert eng.handle(Tick(51.0)) == []


def test_shelved_alarm_still_drives_the_interlock_condition() -> None:
    eng = engine()
    feed(eng, [1.0])
    eng.handle(Shelve(PROCESS, "li", 600.0, "nuisance", 1.0))
    assert feed(eng, [12.0] * 4, start=2.0) == []  # nothing annunciated
    assert eng.conditions()[POINT].level is Level.ALARM
    out = eng.handle(Tick(600.0))
    assert names(out) == ["fault-raised", "unshelved", "raised"]  # silent since t=5: stale
    assert "still present" in out[-1].cause


def test_external_alarm_has_the_same_life_cycle() -> None:
    eng = engine()
    aid = "fan-unit-1:primary:ventilation-failure"
    out = eng.handle(ExternalAlarm(aid, "fan-unit-1", True, 10.0, "no running feedback"))
    assert names(out) == ["raised"] and out[0].level is Level.HIGH_ALARM
    assert eng.handle(ExternalAlarm(aid, "fan-unit-1", True, 11.0, "still")) == []
    out = eng.handle(ExternalAlarm(aid, "fan-unit-1", False, 20.0, "feedback seen"))
    assert names(out) == ["cleared"]
    assert eng.alarm(aid).state is AlarmState.CLEARED_UNACK
    assert names(eng.handle(Acknowledge(aid, "li", "", 21.0))) == ["acknowledged", "returned"]


def test_events_and_snapshot_serialise_to_json() -> None:
    eng = engine()
    out = feed(eng, [25.0])
    body = json.loads(json.dumps(out[0].to_dict()))
    assert body["event"] == "raised" and body["level"] == "high_alarm"
    assert body["state"] == "active-unacknowledged" and body["kind"] == "process"
    snap = json.loads(json.dumps(eng.snapshot()[POINT].to_dict()))
    assert snap["alarms"][0]["state"] == "active-unacknowledged"
