"""The tick judges only the points whose timers fell due: the same events and states as a
scan of every point on every tick (the engine's behaviour before), over random sequences of
samples (good, bad, device offline, check function, calibration overdue, late, ahead of the
clock), ticks (also behind the samples), operator commands and external alarms."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.alarms.actions import AlarmEvent, AlarmState
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.errors import AlarmError
from gateway.alarms.events import (
    Acknowledge,
    Event,
    ExternalAlarm,
    Resolve,
    Sample,
    SetOutOfService,
    Shelve,
    Tick,
    Unshelve,
)
from gateway.alarms.levels import Level
from gateway.alarms.spec import PointSpec
from gateway.alarms.states import Trigger
from occmon.model import Quality, Reason
from tests.alarms.support import SP


class ScanEngine(AlarmEngine):
    """The engine with the tick it had before: every point, then every alarm, each tick."""

    def _tick(self, time: float) -> list[AlarmEvent]:
        out: list[AlarmEvent] = []
        for p in self._points.values():
            if p.last_time is not None and p.last_time > time:
                self.counters["clock-rewound"] += 1
                p.rewind(time)
            p.fault.tick(time)
            out += self._evaluate(p, time)
        for alarm in self._alarms.values():
            if (alarm.state is AlarmState.SHELVED and alarm.shelved_until is not None
                    and time >= alarm.shelved_until):
                out += self._fire(alarm, Trigger.SHELVE_EXPIRED, time, user=None,
                                  cause="shelve expired")
                alarm.shelved_until = None
        return out


def _specs() -> list[PointSpec]:
    return [
        PointSpec("h2s", "mg/m3", 1.0, SP()),
        PointSpec("co", "mg/m3", 0.5, SP(), on_delay=1.5, off_delay=2.0, deadband=1.0,
                  stale_after_polls=4, fault_off_delay=1.0, calibration_due=25.0),
        PointSpec("noise", "dB(A)", 2.0, None, fault_off_delay=0.0),
        PointSpec("nh3", "mg/m3", 1.0, SP(), high_alarm_on_delay=3.0, on_delay=0.0,
                  off_delay=0.0, stale_after_polls=1),
    ]


_POINTS = [s.point for s in _specs()]
_ALARMS = [f"{p}:{k}" for p in _POINTS for k in ("process", "fault")] + ["ext-1"]
_REASONS = [str(Reason.DEVICE_OFFLINE), "stale", "out-of-range", str(Reason.CHECK_FUNCTION),
            str(Reason.CALIBRATION_OVERDUE)]

_STEP = st.one_of(
    st.tuples(st.just("sample"), st.sampled_from(_POINTS), st.floats(0, 30),
              st.floats(-1.5, 1.5)),
    st.tuples(st.just("bad"), st.sampled_from(_POINTS), st.sampled_from(_REASONS),
              st.floats(-1.5, 1.5)),
    st.tuples(st.just("odd"), st.sampled_from(_POINTS), st.sampled_from(_REASONS),
              st.floats(0, 30)),
    st.tuples(st.just("tick"), st.just(""), st.just(""), st.floats(-2.0, 4.0)),
    st.tuples(st.just("tick"), st.just(""), st.just(""), st.floats(-2.0, 4.0)),
    st.tuples(st.sampled_from(["ack", "shelve", "unshelve", "oos", "restore", "resolve"]),
              st.sampled_from(_ALARMS), st.just(""), st.floats(0.5, 40.0)),
    st.tuples(st.just("external"), st.just("ext-1"), st.sampled_from([None, *Level]),
              st.just(0.0)),
)


def _event(step: tuple[str, str, Any, float], t: float) -> Event:
    kind, name, arg, number = step
    if kind == "sample":
        return Sample(name, t + number, float(arg))
    if kind == "bad":
        return Sample(name, t + number, None, Quality.BAD, str(arg))
    if kind == "odd":  # an uncertain good value with a reason (check function, overdue)
        return Sample(name, t, number, Quality.UNCERTAIN, str(arg))
    if kind == "tick":
        return Tick(t + number)
    if kind == "external":
        return ExternalAlarm(name, "ventilation", arg is not None, t, "fan stopped",
                             arg or Level.HIGH_ALARM)
    commands: dict[str, Event] = {
        "ack": Acknowledge(name, "u", "", t),
        "shelve": Shelve(name, "u", t + number, "r", t),
        "unshelve": Unshelve(name, "u", t),
        "oos": SetOutOfService(name, "u", "r", t),
        "restore": SetOutOfService(name, "u", "r", t, out_of_service=False),
        "resolve": Resolve(name, "u", "false-alarm", t),
    }
    return commands[kind]


def _state(eng: AlarmEngine) -> object:
    return eng.snapshot(), eng.alarms(), eng.conditions(), dict(eng.counters)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 3.0), _STEP), max_size=120))
def test_tick_as_scan(steps: list[tuple[float, tuple[str, str, Any, float]]]) -> None:
    scan, scheduled = ScanEngine(_specs()), AlarmEngine(_specs())
    t = 1000.0
    for gap, step in steps:
        t += gap
        event = _event(step, t)
        results = []
        for eng in (scan, scheduled):
            try:
                results.append(eng.handle(event))
            except AlarmError as error:
                results.append(type(error))
        assert results[0] == results[1], event
        assert _state(scan) == _state(scheduled), event
    for end in (t + 1.0, t + 5.0, t + 30.0):  # every timer left running runs out alike
        assert scan.handle(Tick(end)) == scheduled.handle(Tick(end))
        assert _state(scan) == _state(scheduled)


def test_nan_times_as_scan() -> None:
    """A time that is not a number (never from the gateway's clock) judges as the scan did."""
    nan = float("nan")
    scan, scheduled = ScanEngine(_specs()), AlarmEngine(_specs())
    events: list[Event] = [Tick(1000.0), Sample("h2s", 1000.5, 6.0), Sample("co", nan, 12.0),
                           Tick(1001.0), Tick(nan), Tick(1004.0), Sample("nh3", 1004.2, 25.0),
                           Tick(1010.0), Tick(1030.0)]
    for event in events:
        assert repr(scan.handle(event)) == repr(scheduled.handle(event)), event
        assert repr(_state(scan)) == repr(_state(scheduled)), event
