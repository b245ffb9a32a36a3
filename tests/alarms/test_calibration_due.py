"""Moving a point's calibration due date in the engine: the warning clears at once, the new
date is filed in the tick schedule (a tick at it raises the warning again, with no sample
to prompt it), and the rule that dates a calibration is the one the records use."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.alarms.actions import AlarmEvent
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.errors import UnknownPoint
from gateway.alarms.events import Sample, Tick
from gateway.alarms.spec import PointSpec
from occmon import calibration
from occmon.model import Quality, Reason

POINT = "p1"
WARNING = f"{POINT}:calibration"


def engine(due: float | None, poll: float = 1.0) -> AlarmEngine:
    return AlarmEngine([PointSpec(point=POINT, unit="mg/m3", poll_interval=poll,
                                  calibration_due=due)])


def warnings(events: list[AlarmEvent]) -> list[str]:
    return [e.name for e in events if e.alarm_id == WARNING]


def test_a_calibration_clears_the_warning_and_files_the_new_date() -> None:
    eng = engine(due=50.0)
    assert warnings(eng.handle(Tick(100.0))) == ["warning"]
    # the point never answers: stale fault at 100 + 3 polls, after which it has no timer
    # left, so only the new date filed by the move can bring a tick's judgement to it
    assert [e.name for e in eng.handle(Tick(104.0))] == ["fault-raised"]
    out = eng.move_calibration_due(POINT, 1_000.0, 105.0)
    assert warnings(out) == ["warning-cleared"]
    (cleared,) = out
    assert (cleared.kind, cleared.state, cleared.time) == ("warning", "normal", 105.0)
    assert not eng.point_snapshot(POINT).calibration_overdue  # type: ignore[union-attr]
    assert eng.calibration_due(POINT) == 1_000.0
    seen: list[str] = []
    for t in range(106, 1_000, 7):
        seen += [e.name for e in eng.handle(Tick(float(t)))]
    assert seen == []
    assert warnings(eng.handle(Tick(1_000.0))) == ["warning"]
    assert eng.point_snapshot(POINT).calibration_overdue  # type: ignore[union-attr]


def test_a_date_moved_before_the_first_tick_never_raises() -> None:
    eng = engine(due=50.0)
    assert eng.move_calibration_due(POINT, 10_000.0, 99.0) == []
    assert warnings(eng.handle(Tick(100.0))) == []


def test_a_date_already_past_raises_at_once_and_none_clears() -> None:
    eng = engine(due=None)
    assert warnings(eng.handle(Tick(100.0))) == []
    assert warnings(eng.move_calibration_due(POINT, 90.0, 101.0)) == ["warning"]
    assert warnings(eng.move_calibration_due(POINT, None, 102.0)) == ["warning-cleared"]
    assert warnings(eng.handle(Tick(10_000.0))) == []


def test_a_point_is_judged_no_earlier_than_its_last_sample() -> None:
    eng = engine(due=50.0)
    eng.handle(Tick(100.0))
    eng.handle(Sample(POINT, 200.0, 1.0))
    (cleared,) = eng.move_calibration_due(POINT, 1_000.0, 150.0)  # a clock behind
    assert cleared.time == 200.0


def test_the_instrument_no_longer_reporting_overdue_ends_the_warning() -> None:
    eng = engine(due=None)
    eng.handle(Tick(0.0))
    raised = eng.handle(Sample(POINT, 1.0, 2.0, Quality.UNCERTAIN,
                               Reason.CALIBRATION_OVERDUE))
    assert warnings(raised) == ["warning"]
    assert warnings(eng.handle(Sample(POINT, 2.0, 2.0))) == ["warning-cleared"]


def test_an_unknown_point_is_refused() -> None:
    with pytest.raises(UnknownPoint):
        engine(due=None).move_calibration_due("nowhere", 1.0, 1.0)


@pytest.mark.parametrize(("event", "counts"), [
    ({"event": "calibration", "result": "passed"}, True),
    ({"event": "calibration", "result": None}, True),  # the instrument did not say
    ({"event": "calibration"}, True),
    ({"event": "calibration", "result": "failed"}, False),
    ({"event": "bump-test", "result": "passed"}, False),
    ({"event": "state-changed", "state": "normal"}, False),
])
def test_what_counts_as_a_calibration(event: dict[str, object], counts: bool) -> None:
    assert calibration.counts(event) is counts


def test_the_due_instant_is_local_midnight_of_the_due_day() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    # 2026-03-01 + 30 days = 2026-03-31; midnight +08:00 is 2026-03-30 16:00 UTC
    expected = dt.datetime(2026, 3, 30, 16, tzinfo=dt.UTC).timestamp()
    assert calibration.due_at(dt.date(2026, 3, 1), 30, tz) == expected
    # 2026-03-31 17:30 UTC is already 1 April in Shanghai
    ended = dt.datetime(2026, 3, 31, 17, 30, tzinfo=dt.UTC).timestamp()
    assert calibration.local_day(ended, tz) == dt.date(2026, 4, 1)
    assert calibration.later(dt.date(2026, 4, 2), dt.date(2026, 4, 1)) == dt.date(2026, 4, 2)
    assert calibration.later(dt.date(2026, 4, 1), dt.date(2026, 4, 2)) == dt.date(2026, 4, 2)
    assert calibration.later(None, dt.date(2026, 4, 2)) == dt.date(2026, 4, 2)
    assert calibration.ended({"end": "2026-03-31T17:30:00.000Z"}, 0.0) == ended
    assert calibration.ended({"end": "not a time"}, 7.0) == 7.0
