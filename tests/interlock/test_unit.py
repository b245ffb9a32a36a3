"""Ventilation-unit scenarios over the pure core: leak, failed fan, dead sensor, operators."""

from __future__ import annotations

import pytest

from gateway.alarms.actions import AlarmState
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.events import Acknowledge, ExternalAlarm, Sample
from gateway.alarms.events import Tick as AlarmTick
from gateway.alarms.levels import Level
from gateway.alarms.spec import PointSpec
from gateway.interlock import (
    CoilResult,
    CoilWriteFailed,
    DemandState,
    Feedback,
    HoldStarted,
    Interlock,
    ManualOverride,
    OperatorReset,
    Tick,
    VentilationConfig,
    VentilationFailureAlarm,
    VentilationUnit,
    WriteCoil,
    ZoneAlarm,
    errors,
)
from gateway.interlock.events import Output
from tests.alarms.support import SP
from tests.interlock.support import POINT, names, unit, zone


class Plant:
    """The alarm engine and one unit wired as the gateway will wire them (pure, no I/O)."""

    def __init__(self, vent: VentilationUnit) -> None:
        self.alarms = AlarmEngine([PointSpec(POINT, "mg/m3", 1.0, SP())])
        self.vent = vent
        self.log: list[tuple[float, str]] = []

    def _route(self, time: float, outputs: list[Output]) -> list[Output]:
        for o in outputs:
            if isinstance(o, VentilationFailureAlarm):
                self.alarms.handle(ExternalAlarm(o.alarm_id, o.unit, o.active, time, o.cause))
        self.log += [(time, n) for n in names(outputs)]
        return outputs

    def sample(self, time: float, value: float) -> list[Output]:
        for e in self.alarms.handle(Sample(POINT, time, value)):
            self.log.append((time, f"alarm {e.name} {e.level}"))
        cond = self.alarms.conditions()[POINT]
        return self._route(time, self.vent.handle(ZoneAlarm(time, (cond,))))

    def tick(self, time: float) -> list[Output]:
        for e in self.alarms.handle(AlarmTick(time)):
            self.log.append((time, f"alarm {e.name} {e.level}"))
        cond = self.alarms.conditions()[POINT]
        out = self.vent.handle(ZoneAlarm(time, (cond,)))
        return self._route(time, out + self.vent.handle(Tick(time)))

    def feedback(self, time: float, device: str, running: bool) -> list[Output]:
        return self._route(time, self.vent.handle(Feedback(device, running, time)))


def writes(outputs: list[Output]) -> list[tuple[str, str, bool]]:
    return [(o.device, o.coil, o.value) for o in outputs if isinstance(o, WriteCoil)]


def test_h2s_leak_full_sequence() -> None:
    plant = Plant(unit(hold_time=900.0))
    out: list[Output] = []
    for i, v in enumerate([1.0, 6.0, 6.0, 6.0, 6.0]):  # pre-alarm only: no ventilation
        out += plant.sample(float(i), v)
    assert writes(out) == []
    assert plant.alarms.alarm(f"{POINT}:process").level is Level.PRE_ALARM
    out = []
    for at, v in [(5.0, 12.0), (6.0, 12.0), (7.0, 12.5)]:  # alarm after the 2 s on-delay
        out += plant.sample(at, v)
    assert ("fan-1", "run_command", True) in writes(out)
    assert ("panel-1", "horn", True) in writes(out)
    assert "started" in names(out)
    assert plant.vent.snapshot().state is DemandState.ACTIVE
    assert names(plant.feedback(8.0, "fan-1", True)) == ["confirmed"]
    assert [w for w in plant.tick(20.0) if isinstance(w, VentilationFailureAlarm)] == []
    out = []
    for second in range(9, 20):  # the leak is stopped
        out += plant.sample(float(second), 1.0)
    assert "hold-started" in names(out)
    assert ("panel-1", "horn", False) in writes(out)
    hold = next(o for o in out if isinstance(o, HoldStarted))
    assert plant.alarms.alarm(f"{POINT}:process").state is AlarmState.CLEARED_UNACK
    # fans keep running through the hold time, then stop
    out = []
    t = 20.0
    while t < hold.until:
        out += plant.sample(t, 1.0)
        out += plant.tick(t + 0.5)
        t += 1.0
    assert ("fan-1", "run_command", False) not in writes(out)
    out = plant.sample(t, 1.0) + plant.tick(t + 0.5)
    assert ("fan-1", "run_command", False) in writes(out)
    assert plant.vent.state is DemandState.IDLE
    assert hold.until - hold.time == 900.0
    # the gas alarm is still latched until someone acknowledges it
    assert plant.alarms.alarm(f"{POINT}:process").state is AlarmState.CLEARED_UNACK
    plant.alarms.handle(Acknowledge(f"{POINT}:process", "li", "fixed", t + 1))
    assert plant.alarms.alarm(f"{POINT}:process").state is AlarmState.NORMAL


def test_fan_fails_failure_alarm_within_timeout_and_standby_started() -> None:
    plant = Plant(unit(feedback_timeout=10.0))
    for second in range(4):
        plant.sample(float(second), 15.0)  # alarm at t=2
    started = next(at for at, n in plant.log if n == "write fan-1.run_command=1")
    out: list[Output] = []
    t = started
    while t <= started + 12.0:
        out += plant.tick(t)
        t += 0.5
    failure = [o for o in out if isinstance(o, VentilationFailureAlarm)]
    assert len(failure) == 1 and failure[0].active
    assert started < failure[0].time <= started + 10.0 + 0.5
    assert ("fan-2", "run_command", True) in writes(out)
    assert "standby-started" in names(out)
    assert "fan-2" in failure[0].cause
    # the failure is an ISA alarm in the engine: high priority, latched until acknowledged
    alarm = plant.alarms.alarm(failure[0].alarm_id)
    assert alarm.state is AlarmState.ACTIVE_UNACK and alarm.level is Level.HIGH_ALARM
    # the primary coil is re-written with back-off
    retries = [o for o in out if isinstance(o, WriteCoil) and o.device == "fan-1" and o.value]
    assert len(retries) >= 2
    assert names(plant.feedback(t, "fan-2", True)) == ["confirmed"]


def test_dead_sensor_faults_and_starts_ventilation_fail_safe() -> None:
    plant = Plant(unit())
    plant.sample(0.0, 1.0)
    out: list[Output] = []
    t = 0.5
    while t <= 4.0:
        out += plant.tick(t)
        t += 0.5
    assert any("fault-raised" in n for _, n in plant.log)
    assert ("fan-1", "run_command", True) in writes(out)
    started = next(o for o in out if o.name == "started")  # type: ignore[union-attr]
    assert "fail-safe" in started.cause and started.time <= 3.5  # type: ignore[union-attr]


@pytest.mark.parametrize(("policy", "starts"), [("start", True), ("hold", False),
                                                 ("ignore", False)])
def test_fault_policy(policy: str, starts: bool) -> None:
    vent = unit(fault_policy=policy)
    out = vent.handle(zone(1.0, faulted=True))
    assert (("fan-1", "run_command", True) in writes(out)) is starts


def test_fault_policy_hold_keeps_running_fans_on() -> None:
    vent = unit(fault_policy="hold", hold_time=10.0)
    vent.handle(zone(1.0, Level.ALARM))
    vent.handle(Feedback("fan-1", True, 1.5))
    vent.handle(zone(2.0, Level.ALARM, faulted=True))
    out = vent.handle(Tick(100.0))
    assert vent.state is DemandState.ACTIVE and writes(out) == []


def test_zone_rising_again_during_hold_restarts_it() -> None:
    vent = unit(hold_time=60.0)
    vent.handle(zone(0.0, Level.ALARM))
    vent.handle(Feedback("fan-1", True, 1.0))
    assert "hold-started" in names(vent.handle(zone(10.0)))
    assert "hold-cancelled" in names(vent.handle(zone(40.0, Level.PRE_ALARM)))
    vent.handle(zone(50.0))
    assert writes(vent.handle(Tick(105.0))) == []  # 60 s from t=50, not from t=10
    assert ("fan-1", "run_command", False) in writes(vent.handle(Tick(110.0)))


def test_coil_write_exception_is_counted_retried_with_backoff_and_unit_keeps_going() -> None:
    vent = unit(retry_initial=2.0, retry_max=8.0)
    vent.handle(zone(0.0, Level.ALARM))
    failures = []
    t = 0.0
    for _ in range(4):
        out = vent.handle(CoilResult("fan-1", "run_command", True, False, t,
                                     "ExceptionResponse(illegal data address)"))
        failure = out[0]
        assert isinstance(failure, CoilWriteFailed)
        failures.append(failure.retry_at - t)
        t = failure.retry_at
        vent.handle(Feedback("fan-1", True, t - 0.5))  # running on the last good write
        assert ("fan-1", "run_command", True) not in writes(vent.handle(Tick(t - 0.1)))
        assert ("fan-1", "run_command", True) in writes(vent.handle(Tick(t)))
    assert failures == [2.0, 4.0, 8.0, 8.0]
    assert vent.snapshot().coil_failures == 4
    assert "illegal data address" in failure.cause
    # a good write resets the back-off; the unit still reacts to feedback
    vent.handle(CoilResult("fan-1", "run_command", True, True, t))
    assert vent.snapshot().primary.value == "running"
    assert names(vent.handle(Feedback("fan-1", False, t + 1))) == ["feedback-lost",
                                                                  "write fan-1.run_command=1"]


def test_result_for_a_value_no_longer_wanted_is_ignored() -> None:
    vent = unit(hold_time=0.0)
    vent.handle(zone(0.0, Level.ALARM))
    vent.handle(zone(1.0))
    vent.handle(Tick(1.0))  # stopped: run_command now wanted False
    assert vent.handle(CoilResult("fan-1", "run_command", True, False, 2.0, "late")) == []


def test_manual_override_with_who_and_why() -> None:
    vent = unit()
    with pytest.raises(errors.MissingWho):
        vent.handle(ManualOverride("desulf-exhaust", "off", "", "", 0.0))
    out = vent.handle(ManualOverride("desulf-exhaust", "off", "zhang", "belt change", 0.0))
    assert names(out) == ["override"]
    out = vent.handle(zone(1.0, Level.ALARM))
    assert "inhibited" in names(out)
    assert writes(out) == [("panel-1", "horn", True)]  # the horn sounds, the fan stays off
    with pytest.raises(errors.AlreadyInMode):
        vent.handle(ManualOverride("desulf-exhaust", "off", "zhang", "again", 2.0))
    out = vent.handle(ManualOverride("desulf-exhaust", "auto", "zhang", "done", 3.0))
    assert ("fan-1", "run_command", True) in writes(out)
    assert vent.state is DemandState.ACTIVE
    with pytest.raises(errors.NotOverridden):
        vent.handle(ManualOverride("desulf-exhaust", "auto", "zhang", "again", 4.0))
    out = vent.handle(ManualOverride("desulf-exhaust", "on", "zhang", "purge", 5.0))
    assert names(out)[0] == "override" and vent.snapshot().override_by == "zhang"


def test_operator_reset_required() -> None:
    vent = unit(reset="operator", hold_time=5.0)
    vent.handle(zone(0.0, Level.HIGH_ALARM))
    vent.handle(Feedback("fan-1", True, 1.0))
    with pytest.raises(errors.ResetNotAllowed):
        vent.handle(OperatorReset("desulf-exhaust", "li", 1.0))
    vent.handle(zone(2.0))
    assert names(vent.handle(Tick(7.0))) == ["awaiting-reset"]
    assert writes(vent.handle(Tick(100.0))) == []  # still ventilating
    out = vent.handle(OperatorReset("desulf-exhaust", "li", 101.0, "room checked"))
    assert names(out)[:2] == ["reset", "stopped"]
    assert ("fan-1", "run_command", False) in writes(out)


def test_illegal_command_changes_nothing() -> None:
    vent = unit()
    vent.handle(zone(0.0, Level.ALARM))
    before = vent.snapshot()
    for bad in (OperatorReset("desulf-exhaust", "li", 1.0),
                ManualOverride("desulf-exhaust", "auto", "li", "x", 1.0),
                OperatorReset("desulf-exhaust", " ", 1.0)):
        with pytest.raises(errors.InterlockError):
            vent.handle(bad)
        assert vent.snapshot() == before


def test_hub_routes_by_device_and_unit() -> None:
    config = VentilationConfig.model_validate({"units": [
        {"id": "u1", "fan": {"device": "fan-1"}, "areas": ["desulf"]},
        {"id": "u2", "fan": {"device": "fan-3"}, "points": ["nh3-1"]},
    ]})
    hub = Interlock.from_config(config, {POINT: "desulf", "nh3-1": "ammonia"})
    out = hub.handle(ZoneAlarm(0.0, zone(0.0, Level.ALARM).conditions))
    assert writes(out) == [("fan-1", "run_command", True)]
    assert names(hub.handle(Feedback("fan-1", True, 1.0))) == ["confirmed"]
    # fan-3 is u2's alone, and u2 never started it: u2 (not u1) logs it as running anyway
    [line] = hub.handle(Feedback("fan-3", True, 1.0))
    assert (line.name, line.unit) == ("uncommanded-run", "u2")
    with pytest.raises(errors.UnknownUnit):
        hub.handle(ManualOverride("nope", "on", "li", "x", 2.0))
    with pytest.raises(ValueError, match="area 'nowhere'"):
        Interlock.from_config(VentilationConfig.model_validate({"units": [
            {"id": "u", "fan": {"device": "f"}, "areas": ["nowhere"]}]}), {POINT: "desulf"})
