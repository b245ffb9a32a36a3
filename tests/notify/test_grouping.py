"""The grouping rule as tables: what leaves at once and what may wait for the area's window.

Time is an argument throughout (the injected clock); bodies come from the real alarm engine.
"""

from __future__ import annotations

from typing import Any

import pytest

from ingest.notify.grouping import Grouping, Priority, Route, decide, priority
from ingest.notify.message import Notice
from tests.notify.support import POINTS, fault_raised, raised, ventilation_failure

P = Priority
WINDOW = 30.0


@pytest.mark.parametrize(("told", "now", "ventilation", "window_open", "route"), [
    # first push of an alarm: at once, window or not
    (None, P.PRE_ALARM, False, True, Route.NOW),
    (None, P.ALARM, False, False, Route.NOW),
    (None, P.HIGH_ALARM, False, True, Route.NOW),
    # escalation to a higher priority than the group was last told: at once
    (P.PRE_ALARM, P.ALARM, False, True, Route.NOW),
    (P.ALARM, P.HIGH_ALARM, False, True, Route.NOW),
    (P.PRE_ALARM, P.HIGH_ALARM, False, True, Route.NOW),
    # a ventilation failure: always at once, even a repeat
    (P.VENTILATION_FAILURE, P.VENTILATION_FAILURE, True, True, Route.NOW),
    (None, P.VENTILATION_FAILURE, True, True, Route.NOW),
    # follow-ups of equal or lower priority wait only for an open window
    (P.ALARM, P.ALARM, False, True, Route.HOLD),
    (P.HIGH_ALARM, P.ALARM, False, True, Route.HOLD),
    (P.HIGH_ALARM, P.PRE_ALARM, False, True, Route.HOLD),
    (P.HIGH_ALARM, P.HIGH_ALARM, False, True, Route.HOLD),
    (P.ALARM, P.ALARM, False, False, Route.NOW),
    (P.HIGH_ALARM, P.PRE_ALARM, False, False, Route.NOW),
])
def test_decide(told: Priority | None, now: Priority, ventilation: bool, window_open: bool,
                route: Route) -> None:
    assert decide(told=told, now_priority=now, ventilation=ventilation,
                  window_open=window_open) is route


def notice(body: dict[str, Any], **change: Any) -> Notice:
    return Notice.from_event({**body, **change}, POINTS)


@pytest.mark.parametrize(("body", "expected"), [
    (raised("desulf-h2s-1"), P.HIGH_ALARM),
    ({**raised("desulf-h2s-1"), "level": "alarm"}, P.ALARM),
    ({**raised("desulf-h2s-1"), "level": "pre_alarm"}, P.PRE_ALARM),
    (fault_raised("desulf-h2s-1"), P.ALARM),
    (ventilation_failure("primary"), P.VENTILATION_FAILURE),
    (ventilation_failure("standby"), P.VENTILATION_FAILURE),
])
def test_priority_order_from_the_alarm_levels(body: dict[str, Any], expected: Priority) -> None:
    assert priority(notice(body)) is expected
    assert P.PRE_ALARM < P.ALARM < P.HIGH_ALARM < P.VENTILATION_FAILURE


H2S_1 = raised("desulf-h2s-1")
H2S_2 = raised("desulf-h2s-2")
NH3 = raised("ammonia-nh3-1")
FAULT_2 = fault_raised("desulf-h2s-2")
VENT_PRIMARY = ventilation_failure("primary")
VENT_STANDBY = ventilation_failure("standby")

# (time, body, sends at that moment: one tuple of alarm ids per message, most urgent first)
Row = tuple[float, dict[str, Any] | None, list[tuple[str, ...]]]
SCENARIOS: dict[str, list[Row]] = {
    "the fan-fails case: a fault opens the window, the high alarm does not wait": [
        (1000.0, FAULT_2, [("desulf-h2s-2:fault",)]),
        (1002.0, H2S_1, [("desulf-h2s-1:process",)]),
        (1010.0, VENT_PRIMARY, [("desulf-exhaust:primary:ventilation-failure",)]),
        (1016.0, VENT_STANDBY, [("desulf-exhaust:standby:ventilation-failure",)]),
        (1046.0, None, []),  # nothing was held back
    ],
    "a second alarm of the area is its first push: at once": [
        (1000.0, H2S_1, [("desulf-h2s-1:process",)]),
        (1005.0, H2S_2, [("desulf-h2s-2:process",)]),
        (1006.0, NH3, [("ammonia-nh3-1:process",)]),
    ],
    "escalation pre-alarm -> alarm -> high alarm: each at once": [
        (1000.0, {**H2S_1, "level": "pre_alarm"}, [("desulf-h2s-1:process",)]),
        (1003.0, {**H2S_1, "event": "escalated", "level": "alarm"},
         [("desulf-h2s-1:process",)]),
        (1004.0, {**H2S_1, "event": "escalated", "level": "high_alarm"},
         [("desulf-h2s-1:process",)]),
    ],
    "re-raises of equal priority share one message at the end of the window": [
        (1000.0, H2S_1, [("desulf-h2s-1:process",)]),
        (1005.0, H2S_2, [("desulf-h2s-2:process",)]),  # window now ends at 1035
        (1006.0, {**H2S_1, "occurrence": 2}, []),
        (1007.0, {**H2S_2, "occurrence": 2}, []),
        (1034.9, None, []),
        (1035.0, None, [("desulf-h2s-1:process", "desulf-h2s-2:process")]),
        (1065.0, None, []),  # the new window had nothing to send and is gone
        (1066.0, {**H2S_1, "occurrence": 3}, [("desulf-h2s-1:process",)]),  # no window open
    ],
    "a lower-priority follow-up waits, a rise back is news again": [
        (1000.0, H2S_1, [("desulf-h2s-1:process",)]),
        (1001.0, {**H2S_1, "level": "alarm", "occurrence": 2}, []),
        (1002.0, {**H2S_1, "event": "escalated", "level": "high_alarm"},
         [("desulf-h2s-1:process",)]),  # and supersedes the one that waited
        (1032.0, None, []),
    ],
    "a chattering alarm is one line per window, with its latest news": [
        (1000.0, H2S_1, [("desulf-h2s-1:process",)]),
        (1001.0, {**H2S_1, "occurrence": 2}, []),
        (1002.0, {**H2S_1, "occurrence": 3}, []),
        (1003.0, {**H2S_1, "occurrence": 4}, []),
        (1030.0, None, [("desulf-h2s-1:process",)]),
    ],
    "a push at once carries the area's waiting follow-ups": [
        (1000.0, FAULT_2, [("desulf-h2s-2:fault",)]),
        (1001.0, {**FAULT_2, "occurrence": 2}, []),
        (1002.0, H2S_1, [("desulf-h2s-1:process", "desulf-h2s-2:fault")]),
        (1032.0, None, []),
    ],
    "a repeated ventilation failure is never held": [
        (1000.0, VENT_PRIMARY, [("desulf-exhaust:primary:ventilation-failure",)]),
        (1001.0, {**VENT_PRIMARY, "occurrence": 2},
         [("desulf-exhaust:primary:ventilation-failure",)]),
    ],
    "other areas have windows of their own": [
        (1000.0, H2S_1, [("desulf-h2s-1:process",)]),
        (1001.0, {**H2S_1, "occurrence": 2}, []),
        (1002.0, NH3, [("ammonia-nh3-1:process",)]),
        (1003.0, {**NH3, "occurrence": 2}, []),
        (1030.0, None, [("desulf-h2s-1:process",)]),
        (1032.0, None, [("ammonia-nh3-1:process",)]),
    ],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_grouping_scenario(name: str) -> None:
    grouping = Grouping(WINDOW)
    for at, body, expected in SCENARIOS[name]:
        sends = grouping.due(at)
        if body is not None:
            sends += grouping.offer(notice(body, time=at), 0, at)
        got = [tuple(n.alarm_id for n in s.notices) for s in sends]
        assert got == expected, f"{name}: at {at}"
        assert all(s.step == 0 for s in sends)


def test_the_window_sends_the_latest_news_of_a_chattering_alarm() -> None:
    grouping = Grouping(WINDOW)
    grouping.offer(notice(H2S_1), 0, 1000.0)
    for k in (2, 3, 4):
        assert grouping.offer(notice({**H2S_1, "occurrence": k}), 0, 1000.0 + k) == []
    (send,) = grouping.due(1030.0)
    assert [n.occurrence for n in send.notices] == [4]


def test_forget_drops_waiting_follow_ups_and_makes_the_next_raise_a_first_push() -> None:
    grouping = Grouping(WINDOW)
    assert grouping.offer(notice(H2S_1), 0, 1000.0)
    assert grouping.offer(notice(H2S_2), 0, 1001.0)
    assert grouping.offer(notice({**H2S_1, "occurrence": 2}), 0, 1002.0) == []
    assert grouping.pending() == {("desulf", 0): ("desulf-h2s-1:process",)}
    grouping.forget("desulf-h2s-1:process")  # acknowledged and returned
    assert grouping.pending() == {}
    (send,) = grouping.offer(notice({**H2S_1, "occurrence": 3}), 0, 1003.0)
    assert [n.occurrence for n in send.notices] == [3]
    assert grouping.due(1031.0) == []


def test_escalation_steps_are_grouped_per_contact_group() -> None:
    grouping = Grouping(WINDOW)
    assert len(grouping.offer(notice(H2S_1), 0, 1000.0)) == 1
    # the managers (step 1) were never told: their first push leaves at once
    (send,) = grouping.offer(notice(H2S_1), 1, 1300.0)
    assert send.step == 1
    assert grouping.offer(notice({**H2S_1, "occurrence": 2}), 1, 1301.0) == []
    assert [s.step for s in grouping.due(1330.0)] == [1]
