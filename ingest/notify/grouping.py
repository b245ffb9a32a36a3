"""When a push leaves: at once, or merged into its area's grouping window. No I/O, no clock.

Grouping exists so a spreading leak or a chattering sensor is one message, not a flood. It
must never hold back news that changes what people do, so the rule (``decide``) is:

* the **first push of an alarm** to a contact group leaves at once;
* an **escalation to a higher priority** than the group was last told for the alarm leaves
  at once;
* every **ventilation failure** leaves at once (the mitigation itself has failed);
* only a **follow-up of equal or lower priority** (a re-raise of a latched alarm, a repeat)
  may wait for the area's open window, and goes out with the next message of that area and
  group, or when the window ends.

A push that leaves at once takes the follow-ups waiting in its window along (it first) and
opens a new window, so an area gets at most one message of follow-ups per window. Newer news
of an alarm replaces what waits of it, so a message has one line per alarm.

Priority order, from the alarm levels (GBZ/T 223-2009) and the interlock's priorities:
pre-alarm < alarm = sensor fault < high alarm < ventilation failure. A sensor fault ranks
with the alarm because under the default ``fault_policy: start`` a faulted point demands
accident ventilation just as a gas alarm does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from ingest.notify.message import Notice

VENTILATION_FAILURE_SUFFIX = ":ventilation-failure"  # gateway/interlock: {unit}:{fan}:...


class Priority(IntEnum):
    PRE_ALARM = 1
    ALARM = 2  # also a sensor fault (level None)
    HIGH_ALARM = 3
    VENTILATION_FAILURE = 4


_LEVELS = {"pre_alarm": Priority.PRE_ALARM, "alarm": Priority.ALARM,
           "high_alarm": Priority.HIGH_ALARM}


def is_ventilation_failure(notice: Notice) -> bool:
    return (notice.event == "ventilation-failure"
            or notice.alarm_id.endswith(VENTILATION_FAILURE_SUFFIX))


def priority(notice: Notice) -> Priority:
    """The notice's place in the priority order; an unknown level counts as an alarm."""
    if is_ventilation_failure(notice):
        return Priority.VENTILATION_FAILURE
    if notice.level is None:
        return Priority.ALARM
    return _LEVELS.get(notice.level, Priority.ALARM)


class Route(StrEnum):
    NOW = "now"
    HOLD = "hold"


def decide(*, told: Priority | None, now_priority: Priority, ventilation: bool,
           window_open: bool) -> Route:
    """The whole rule. ``told``: the priority of the last push of this alarm to this group
    (None: never told of it), so a level that falls and rises again is news again."""
    if ventilation or told is None or now_priority > told or not window_open:
        return Route.NOW
    return Route.HOLD


@dataclass(frozen=True, slots=True)
class Send:
    """One message to send now: to escalation step ``step``'s group, most urgent first."""

    step: int
    notices: tuple[Notice, ...]


@dataclass(slots=True)
class _Window:
    until: float
    pending: list[Notice] = field(default_factory=list)


class Grouping:
    """The grouping windows of every (area, escalation step) and what each group was told.

    ``offer`` returns the sends a notice causes now; ``due`` those of windows that ended;
    ``forget`` drops a closed alarm (acknowledged, returned, ...) so its next raise is a
    first push again.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._windows: dict[tuple[str, int], _Window] = {}
        self._told: dict[tuple[str, int], Priority] = {}

    def offer(self, notice: Notice, step: int, now: float) -> list[Send]:
        key = (notice.area, step)
        told_key = (notice.alarm_id, step)
        window = self._windows.get(key)
        open_ = window is not None and now < window.until
        rank = priority(notice)
        route = decide(told=self._told.get(told_key), now_priority=rank,
                       ventilation=is_ventilation_failure(notice), window_open=open_)
        self._told[told_key] = rank
        # newer news of an alarm supersedes what waits of it: one line per alarm
        riders = [n for n in (window.pending if window else []) if n.alarm_id != notice.alarm_id]
        if route is Route.HOLD:
            assert window is not None
            window.pending = [*riders, notice]
            return []
        self._windows[key] = _Window(now + self.window)
        return [Send(step, (notice, *riders))]

    def due(self, now: float) -> list[Send]:
        out = []
        for key, window in list(self._windows.items()):
            if now < window.until:
                continue
            if window.pending:
                out.append(Send(key[1], tuple(window.pending)))
                self._windows[key] = _Window(now + self.window)
            else:
                del self._windows[key]
        return out

    def forget(self, alarm_id: str) -> None:
        for window in self._windows.values():
            window.pending = [n for n in window.pending if n.alarm_id != alarm_id]
        for key in [k for k in self._told if k[0] == alarm_id]:
            del self._told[key]

    def pending(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """(area, step) -> alarm ids waiting in that window (a view for tests and health)."""
        return {k: tuple(n.alarm_id for n in w.pending)
                for k, w in self._windows.items() if w.pending}
