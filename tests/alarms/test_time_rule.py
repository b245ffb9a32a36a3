"""The engine's time rule as a table: a late sample is ignored (counted), a newer one is
always evaluated, and a stored time ahead of a Tick is pulled back to it.

Each row starts from ``normal()`` (samples of 1.0 mg/m3 at t = 0 and 1; set-points 5 / 10
/ 20, alarm on-delay 2 s, high alarm undelayed, stale after 3 polls of 1 s), feeds its
events and lists (event name, alarm id, time) of what the engine emitted.
"""

from __future__ import annotations

import pytest

from gateway.alarms.actions import AlarmState
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.events import Event, Sample, Tick
from tests.alarms.support import FAULT, POINT, PROCESS, engine, feed

HOUR = 3600.0


def normal() -> AlarmEngine:
    eng = engine()
    feed(eng, [1.0, 1.0])
    return eng


Row = tuple[str, list[Event], list[tuple[str, str, float]], dict[str, int]]

ROWS: list[Row] = [
    ("late sample ignored, even a high one",
     [Sample(POINT, 0.5, 30.0)], [], {"late-sample": 1}),
    ("a sample at the same time is evaluated",
     [Sample(POINT, 1.0, 30.0)], [("raised", PROCESS, 1.0)], {}),
    ("a newer sample is evaluated",
     [Sample(POINT, 3.0, 30.0)], [("raised", PROCESS, 3.0)], {}),
    ("after a late one, the next newer sample is still evaluated",
     [Sample(POINT, 0.5, 1.0), Sample(POINT, 2.0, 30.0)],
     [("raised", PROCESS, 2.0)], {"late-sample": 1}),
    # Without a Tick the engine cannot know the hour-ahead sample is wrong: real samples
    # of that hour are late. The gateway never lets that happen (Safety.readings caps
    # every sample's time at its clock); a Tick repairs it in the engine itself.
    ("an hour ahead, then real samples: ignored until a Tick",
     [Sample(POINT, HOUR, 1.0), Sample(POINT, 2.0, 30.0)], [], {"late-sample": 1}),
    ("an hour ahead, a Tick pulls it back: the real high sample raises at once",
     [Sample(POINT, HOUR, 1.0), Tick(2.0), Sample(POINT, 2.5, 30.0)],
     [("raised", PROCESS, 2.5)], {"clock-rewound": 1}),
    ("a high sample an hour ahead does not delay the alarm by an hour",
     # alarm set-point 10 with a 2 s on-delay: armed at the tick (3.0), due at 5.0
     [Sample(POINT, HOUR, 12.0), Tick(3.0), Sample(POINT, 4.0, 12.0), Sample(POINT, 5.0, 12.0)],
     [("raised", PROCESS, 5.0)], {"clock-rewound": 1}),
    ("a dead sensor after a sample an hour ahead still goes stale",
     # last good pulled back to 2.0; stale after 3 s -> fault at the 5.0 tick
     [Sample(POINT, HOUR, 1.0), Tick(2.0), Tick(4.5), Tick(5.0)],
     [("fault-raised", FAULT, 5.0)], {"clock-rewound": 1}),
    ("a Tick behind a sample only pulls back, never forward",
     [Tick(0.5), Sample(POINT, 2.0, 30.0)], [("raised", PROCESS, 2.0)], {"clock-rewound": 1}),
]


@pytest.mark.parametrize(("case", "events", "emitted", "counters"), ROWS,
                         ids=[row[0] for row in ROWS])
def test_row(case: str, events: list[Event], emitted: list[tuple[str, str, float]],
             counters: dict[str, int]) -> None:
    eng = normal()
    out = []
    for event in events:
        out += eng.handle(event)
    assert [(e.name, e.alarm_id, e.time) for e in out] == emitted
    assert dict(eng.counters) == counters


def test_a_late_sample_changes_nothing() -> None:
    eng = normal()
    eng.handle(Sample(POINT, 3.0, 12.0))
    before = (eng.snapshot(), eng.alarms(), eng.conditions())
    assert eng.handle(Sample(POINT, 2.5, 30.0)) == []
    assert (eng.snapshot(), eng.alarms(), eng.conditions()) == before
    assert eng.alarm(PROCESS).state is AlarmState.NORMAL


def test_rewound_point_reports_the_tick_time() -> None:
    eng = normal()
    eng.handle(Sample(POINT, HOUR, 1.0))
    assert eng.conditions()[POINT].time == HOUR
    eng.handle(Tick(2.0))
    assert eng.conditions()[POINT].time == 2.0
