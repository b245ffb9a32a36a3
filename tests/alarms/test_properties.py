"""Random event sequences: only typed errors, and an error never changes anything."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.alarms.actions import AlarmState
from gateway.alarms.errors import AlarmError
from gateway.alarms.events import (
    Acknowledge,
    Event,
    Resolve,
    Sample,
    SetOutOfService,
    Shelve,
    Tick,
    Unshelve,
)
from occmon.model import Quality, Reason
from tests.alarms.support import FAULT, POINT, PROCESS, engine

_ID = st.sampled_from([PROCESS, FAULT])
_STEP = st.one_of(
    st.tuples(st.just("sample"), st.floats(0, 40, allow_nan=False)),
    st.tuples(st.just("bad"), st.sampled_from(list(Reason)[:4])),
    st.tuples(st.just("tick"), st.floats(0, 10, allow_nan=False)),
    st.tuples(st.just("ack"), _ID),
    st.tuples(st.just("shelve"), _ID),
    st.tuples(st.just("unshelve"), _ID),
    st.tuples(st.just("oos"), _ID),
    st.tuples(st.just("restore"), _ID),
    st.tuples(st.just("resolve"), _ID),
)


def _event(step: tuple[str, object], t: float) -> Event:
    kind, arg = step
    if kind == "sample":
        return Sample(POINT, t, float(arg))  # type: ignore[arg-type]
    if kind == "bad":
        return Sample(POINT, t, None, Quality.BAD, str(arg))
    if kind == "tick":
        return Tick(t + float(arg))  # type: ignore[arg-type]
    aid = str(arg)
    commands: dict[str, Event] = {
        "ack": Acknowledge(aid, "u", "", t),
        "shelve": Shelve(aid, "u", t + 30.0, "r", t),
        "unshelve": Unshelve(aid, "u", t),
        "oos": SetOutOfService(aid, "u", "r", t),
        "restore": SetOutOfService(aid, "u", "r", t, out_of_service=False),
        "resolve": Resolve(aid, "u", "false-alarm", t),
    }
    return commands[kind]


@settings(max_examples=200, deadline=None)
@given(st.lists(_STEP, max_size=80))
def test_random_sequences(steps: list[tuple[str, object]]) -> None:
    eng = engine()
    t = 0.0
    for step in steps:
        t += 0.7
        before = (eng.snapshot(), eng.alarms())
        try:
            out = eng.handle(_event(step, t))
        except AlarmError:
            assert (eng.snapshot(), eng.alarms()) == before
            continue
        for event in out:
            assert eng.alarm(event.alarm_id).alarm_id == event.alarm_id or event.name == "warning"
        for alarm in eng.alarms():
            # an alarm whose condition is present is never shown normal
            if alarm.active and alarm.state is AlarmState.NORMAL:
                raise AssertionError(f"{alarm.alarm_id} active but normal")
