"""The alarm engine: per-point machines fed events, returning alarm events. No I/O, no clock.

``AlarmEngine.handle(event)`` takes a ``Sample``, ``Tick``, operator command or
``ExternalAlarm`` and returns the alarm events it caused, in order. An illegal command
raises a typed ``AlarmError`` and leaves every machine exactly as it was: commands are
validated and looked up in the transition table before anything is changed.

Time only moves forward, and never past the clock the engine is told about. A sample older
than its point's last one is late (a replay, a device's buffered backlog): it is counted in
``counters["late-sample"]`` and ignored for alarm evaluation, and a newer sample is always
evaluated, so a late sample can never hide a live one. A point whose last time is ahead of
a ``Tick`` (a sample stamped by a clock running fast) has every stored time pulled back to
the tick's time (``counters["clock-rewound"]``), so one sample dated an hour ahead cannot
make the engine ignore the real samples of that hour.

A device's good poll on a quiet site is judged in one step: once a poll has found every
point of its plan quiet, later quiet polls are kept in the plan (``GoodPlan``) and written
into the points only when something reads or changes one, and the plan holds its points'
stale checks meanwhile. Events and states are those of ``handle(Sample)`` value by value
(``tests/alarms/test_fast_paths.py``).
"""

from __future__ import annotations

import heapq
import operator
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway.alarms import actions as act
from gateway.alarms import errors
from gateway.alarms.actions import AlarmEvent, AlarmKind, AlarmState
from gateway.alarms.condition import FaultDetector, LevelDetector, at_most
from gateway.alarms.config import MAX_SHELVE_S
from gateway.alarms.events import (
    Acknowledge,
    Event,
    ExternalAlarm,
    Resolve,
    ResolveReason,
    Sample,
    SetOutOfService,
    Shelve,
    Tick,
    Unshelve,
)
from gateway.alarms.levels import Level, rank
from gateway.alarms.snapshot import AlarmSnapshot, PointCondition, PointSnapshot
from gateway.alarms.spec import PointSpec
from gateway.alarms.states import Do, Trigger, transition
from occmon.model import Quality, Reason, iso_utc

_REASONS = {r.value for r in ResolveReason}
_CHECK_FUNCTION = str(Reason.CHECK_FUNCTION)  # "check-function" or "check-function:<detail>"
_NEVER = float("inf")
_BAD = Quality.BAD


def _quiet_check(last: float, stale: float, due: float) -> float:
    """The check a quiet, fresh point files after a sample at ``last`` (``AlarmEngine.
    _schedule`` in that state): stale then, or its calibration due date (inf: none) first,
    filed a little early as every check is."""
    check = last + stale
    if due < check:
        check = due
    return check - (1e-3 + abs(check) * 1e-12)


def _quiet_below(spec: PointSpec, detector: LevelDetector | None) -> float:
    """``_Point.quiet_below``: the lowest set-point or set-point minus deadband; +inf with
    no levels; -inf (no short way) unless staleness takes a positive time."""
    if not spec.stale_after > 0:
        return -_NEVER
    if detector is None:
        return _NEVER
    return min(min(c.setpoint, c.setpoint - c.deadband) for c in detector.comparators)


@dataclass(slots=True)
class _Alarm:
    alarm_id: str
    point: str
    kind: AlarmKind
    unit: str
    state: AlarmState = AlarmState.NORMAL
    active: bool = False
    level: Level | None = None
    value: float | None = None
    setpoint: float | None = None
    occurrence: int = 0
    raised_at: float | None = None
    resolved: bool = True
    acknowledged_by: str | None = None
    shelved_until: float | None = None
    cause: str = ""  # why the current occurrence was raised
    condition_cause: str = ""  # why the condition is present (kept while shelved)
    reason: str | None = None

    def view(self) -> AlarmSnapshot:
        return AlarmSnapshot(
            self.alarm_id, self.point, self.kind, self.state, self.active, self.level,
            self.value, self.setpoint, self.unit, self.occurrence, self.raised_at,
            self.acknowledged_by, self.shelved_until, self.cause)


@dataclass(slots=True)
class _Point:
    spec: PointSpec
    detector: LevelDetector | None
    fault: FaultDetector
    process: _Alarm | None
    faults: _Alarm
    last_time: float | None = None
    value: float | None = None
    overdue_sample: bool = False
    warned: bool = False
    index: int = 0  # position in the engine's points: ticks judge due points in this order
    due_at: float = _NEVER  # earliest pending tick check (``AlarmEngine._schedule``)
    next_check: float = _NEVER  # the check its last judgement filed (later samples move it)
    # a good value below this (every level's set-point and set-point minus deadband) leaves
    # a quiet point quiet: ``AlarmEngine.observe`` takes the short way; -inf: never
    quiet_below: float = -_NEVER
    # the lazy ``GoodPlan`` holding this point's last quiet values, if any
    group: GoodPlan | None = None

    def rewind(self, time: float) -> None:
        """Pull every stored time ahead of ``time`` back to it (a sender's clock ran fast)."""
        self.last_time = at_most(self.last_time, time)
        self.fault.rewind(time)
        if self.detector is not None:
            self.detector.rewind(time)


@dataclass(slots=True, eq=False)
class GoodPlan:
    """``AlarmEngine.good_plan``: the points a device's good polls are judged on, and,
    while every one of them is quiet, the device's last quiet poll, kept here.

    After a run of quiet values (``AlarmEngine._quiet``) a quiet point's state is that of
    the last value alone: its time and value, and the check it files; the first value of
    the run disarmed its comparators and started their low times, and the rest change
    neither. So once a poll has found every point quiet, the plan goes *lazy*: a later poll
    whose every value is below its point's quiet bound, not behind the last poll and before
    every point's calibration due date is kept as (time, values) in one step, and nothing
    else is written. Whatever else reads a point settles its plan first (``_settle``:
    the kept poll written into each point, as ``_quiet`` would have); whatever may change
    a point ends the lazy run (``_break``).
    """

    plan: list[tuple[int, _Point]]  # (index in a poll's values, point) of each value judged
    indices: tuple[int, ...]
    below: tuple[float, ...]  # each point's quiet_below
    whole: bool  # the plan takes a poll's values 0..n-1, in order
    eligible: bool  # every point has a positive, finite staleness (_keep's short filing)
    number: int  # its place in the engine's plans: its checks are filed as ~number
    stale: float  # the points' shortest staleness
    lazy: bool = False
    dirty: bool = False  # a poll kept here is not yet written into the points
    due_at: float = _NEVER  # its check filed in the engine's schedule (while lazy)
    time: float = -_NEVER
    values: tuple[float, ...] = ()
    before: float = _NEVER  # the points' earliest calibration due date


_lt = operator.lt


class AlarmEngine:
    """All alarms of one gateway. Alarm ids: ``{point}:process``, ``{point}:fault``, and the
    ids of external alarms as given."""

    def __init__(self, points: Iterable[PointSpec], *, max_shelve: float = MAX_SHELVE_S) -> None:
        self._points: dict[str, _Point] = {}
        self._alarms: dict[str, _Alarm] = {}
        self._max_shelve = max_shelve
        self.counters: Counter[str] = Counter()  # late-sample, clock-rewound
        self._order: list[_Point] = []
        self._due: list[tuple[float, int]] = []  # heap of (check time, point index)
        # at least every time a point was judged at (samples, ticks): a tick before it scans
        self._latest = -_NEVER
        self._started = False  # the first tick starts the supervision of every point
        self._shelved: dict[str, int] = {}  # alarms with a shelve expiry: id -> position
        self._position: dict[str, int] = {}
        self._plans: list[GoodPlan] = []  # every good_plan made (the lazy ones settle)
        for spec in points:
            if spec.point in self._points:
                raise ValueError(f"point {spec.point!r} given twice")
            levels = spec.levels()
            detector = LevelDetector.build(levels, spec.off_delay) if levels else None
            process = (_Alarm(f"{spec.point}:process", spec.point, AlarmKind.PROCESS, spec.unit)
                       if detector else None)
            faults = _Alarm(f"{spec.point}:fault", spec.point, AlarmKind.FAULT, spec.unit)
            point = _Point(spec, detector, FaultDetector(spec.stale_after, spec.fault_off_delay),
                           process, faults, index=len(self._order))
            point.quiet_below = _quiet_below(spec, detector)
            self._points[spec.point] = point
            self._order.append(point)
            for alarm in (process, faults):
                if alarm is not None:
                    self._add(alarm)

    def _add(self, alarm: _Alarm) -> None:
        self._position[alarm.alarm_id] = len(self._alarms)
        self._alarms[alarm.alarm_id] = alarm

    # -- the one entry point ------------------------------------------------------------------
    def handle(self, event: Event) -> list[AlarmEvent]:
        if isinstance(event, Sample):
            return self._sample(event)
        if isinstance(event, Tick):
            return self._tick(event.time)
        if isinstance(event, Acknowledge):
            alarm = self._alarm(event.alarm_id)
            out = self._fire(alarm, Trigger.ACK, event.time, user=event.user,
                             comment=event.comment,
                             cause=f"acknowledged by {event.user}: {event.comment}")
            alarm.acknowledged_by = event.user
            return out
        if isinstance(event, Shelve):
            return self._shelve(event)
        if isinstance(event, Unshelve):
            alarm = self._alarm(event.alarm_id)
            out = self._fire(alarm, Trigger.UNSHELVE, event.time, user=event.user,
                             cause=f"unshelved by {event.user}")
            alarm.shelved_until = None
            self._shelved.pop(alarm.alarm_id, None)
            return out
        if isinstance(event, SetOutOfService):
            alarm = self._alarm(event.alarm_id)
            if not event.user.strip() or (event.out_of_service and not event.reason.strip()):
                raise errors.MissingWho(alarm.alarm_id, "taking an alarm out of service needs "
                                        "the user's name and the reason; returning it, the name")
            trigger = Trigger.REMOVE if event.out_of_service else Trigger.RESTORE
            verb = "taken out of service" if event.out_of_service else "returned to service"
            return self._fire(alarm, trigger, event.time, user=event.user, reason=event.reason,
                              cause=f"{verb} by {event.user}: {event.reason}")
        if isinstance(event, Resolve):
            return self._resolve(event)
        if isinstance(event, ExternalAlarm):
            return self._external(event)
        raise TypeError(f"not an alarm engine event: {event!r}")

    # -- views --------------------------------------------------------------------------------
    def alarm(self, alarm_id: str) -> AlarmSnapshot:
        return self._alarm(alarm_id).view()

    def alarms(self) -> list[AlarmSnapshot]:
        self._settle_all()
        return [a.view() for a in self._alarms.values()]

    def active(self) -> list[AlarmSnapshot]:
        """Alarms that are not normal: what an operator's active list shows."""
        self._settle_all()
        return [a.view() for a in self._alarms.values() if a.state is not AlarmState.NORMAL]

    def conditions(self) -> dict[str, PointCondition]:
        self._settle_all()
        return {name: self._condition(p) for name, p in self._points.items()}

    def condition(self, point: str) -> PointCondition:
        """``conditions()[point]`` alone: the interlock asks for its few points after every
        batch of readings, not for the whole site's."""
        p = self._points.get(point)
        if p is None:
            raise errors.UnknownPoint(point, f"no alarm point {point!r}")
        if p.group is not None:
            self._settle(p.group)
        return self._condition(p)

    @staticmethod
    def _condition(p: _Point) -> PointCondition:
        return PointCondition(p.spec.point, p.detector.level if p.detector else None,
                              p.faults.active, p.last_time, p.faults.reason)

    def snapshot(self) -> dict[str, PointSnapshot]:
        self._settle_all()
        return {name: self._snapshot(p) for name, p in self._points.items()}

    def point_snapshot(self, point: str) -> PointSnapshot | None:
        """``snapshot()[point]`` without the other points (None: not an alarm point). The
        state documents sent with each batch of alarm events are built from it, so their
        cost is that of the points the events are about, not of the whole site."""
        p = self._points.get(point)
        if p is None:
            return None
        if p.group is not None:
            self._settle(p.group)
        return self._snapshot(p)

    def alarms_of(self, source: str) -> list[AlarmSnapshot]:
        """The alarms of one point or external source (``alarms()`` filtered)."""
        p = self._points.get(source)
        if p is not None and p.group is not None:
            self._settle(p.group)
        return [a.view() for a in self._alarms.values() if a.point == source]

    @staticmethod
    def _snapshot(p: _Point) -> PointSnapshot:
        alarms = [a.view() for a in (p.process, p.faults) if a is not None]
        return PointSnapshot(
            p.spec.point, p.spec.unit, None if p.faults.active else p.value, p.last_time,
            p.detector.level if p.detector else None, p.faults.active, p.faults.reason,
            p.warned, alarms)

    # -- samples and time ---------------------------------------------------------------------
    def _sample(self, sample: Sample) -> list[AlarmEvent]:
        return self._observe(sample.point, sample.time, sample.value, sample.quality,
                             sample.reason, sample.quantity)

    def observe(self, point: str, time: float, value: float | None,
                quality: Quality = Quality.GOOD, reason: str | None = None,
                quantity: str = "concentration") -> list[AlarmEvent]:
        """``handle(Sample(...))`` without building the Sample: the gateway's per-reading
        path (``gateway.safety.Safety.readings``) for readings that are not part of a good
        poll. A good value with no reason on a quiet point takes the short way (``_quiet``).
        """
        p = self._points.get(point)
        if (p is not None and reason is None and value is not None and quality is not _BAD
                and quantity == p.spec.quantity and self._quiet(p, time, value)):
            return []
        return self._observe(point, time, value, quality, reason, quantity)

    def good_plan(self, series: Iterable[tuple[int, str, str]]) -> GoodPlan:
        """``observe_good``'s plan for a device's polls: (index in the poll's values, point)
        of each (index, point, quantity) judged here. A series of another quantity than its
        point's (the C-weighted peak of a noise point judged on LAeq) is left out, as
        ``observe`` ignores it; an unknown point is ``UnknownPoint``, as there."""
        plan: list[tuple[int, _Point]] = []
        for index, point, quantity in series:
            p = self._points.get(point)
            if p is None:
                raise errors.UnknownPoint(point, f"no alarm point {point!r}")
            if quantity == p.spec.quantity:
                plan.append((index, p))
        indices = tuple(index for index, _ in plan)
        made = GoodPlan(
            plan, indices, tuple(p.quiet_below for _, p in plan),
            whole=indices == tuple(range(len(indices))),
            eligible=all(0.0 < p.fault.stale_after < _NEVER for _, p in plan),
            number=len(self._plans),
            stale=min((p.fault.stale_after for _, p in plan), default=_NEVER))
        self._plans.append(made)
        return made

    def observe_good(self, plan: GoodPlan, time: float,
                     values: Sequence[float]) -> list[AlarmEvent]:
        """``observe(point, time, values[index])`` for each (index, point) of ``plan``
        (``good_plan``), each a good value with no reason: a poll whose every value is good
        (``occmon.batch.GoodBatch``), the gateway's common case, without a call per value
        through ``observe``; and while the plan is lazy (``GoodPlan``), a quiet poll in one
        step, without a call per value at all."""
        if not plan.plan:
            return []  # a device none of whose values has an alarm
        picked = (tuple(values) if plan.whole and len(values) == len(plan.indices)
                  else tuple(map(values.__getitem__, plan.indices)))
        if plan.lazy:
            if (time >= plan.time and time < plan.before
                    and all(map(_lt, picked, plan.below))):
                plan.time, plan.values, plan.dirty = time, picked, True
                if not time <= self._latest:
                    self._latest = time
                return []
            self._break(plan)
        out: list[AlarmEvent] = []
        quiet = self._quiet
        every = plan.eligible
        for (_, p), value in zip(plan.plan, picked, strict=True):
            if not quiet(p, time, value):
                every = False
                found = self._observe(p.spec.point, time, value, Quality.GOOD, None,
                                      p.spec.quantity)
                if found:
                    out += found
        if every:  # every point quiet now: the next quiet polls are kept in the plan
            plan.lazy, plan.dirty, plan.time, plan.values = True, False, time, picked
            dues = [p.spec.calibration_due for _, p in plan.plan
                    if p.spec.calibration_due is not None]
            plan.before = min(dues, default=_NEVER)
            for _, p in plan.plan:
                p.group = plan
        return out

    def _quiet(self, p: _Point, time: float, value: float) -> bool:
        """The short way for a good value with no reason, taken when it has the same
        outcome as ``_observe``: the value is below every level's band, on a point that is
        quiet (no fault, no level on or pending, no process alarm, no calibration warning or
        due date passed) and not behind its last sample. ``_observe`` would then only store
        the value and time, reset each comparator's arming (and start its low time), find
        nothing to judge and file the next check; that is what is done here, without the
        detector and judging calls. False (nothing changed) otherwise
        (``tests/alarms/test_fast_paths.py`` compares both ways on random sequences)."""
        if p.group is not None:
            self._break(p.group)
        fault = p.fault
        last = p.last_time
        due = p.spec.calibration_due
        if not (value < p.quiet_below and last is not None and time >= last
                and fault.bad_reason is None and not fault.faulted
                and fault.good_since is not None and not p.faults.active
                and not p.warned and (due is None or time < due)):
            return False
        detector, process = p.detector, p.process
        if detector is not None and process is not None:
            if process.active:
                return False
            for comp in detector.comparators:
                if comp.on:
                    return False
            for comp in detector.comparators:
                comp.armed_since = None
                if comp.low_since is None:
                    comp.low_since = time
        if not time <= self._latest:
            self._latest = time
        self._keep(p, time, value)
        return True

    def _keep(self, p: _Point, time: float, value: float) -> None:
        """What a quiet value changes on a quiet point besides its comparators (``_quiet``):
        its last time and value, and its next check filed."""
        fault = p.fault
        p.last_time = time
        fault.last_good = time
        p.overdue_sample = False
        p.value = value
        detector, process = p.detector, p.process
        if detector is not None and process is not None:
            detector.value = value
            process.value = value
        stale = fault.stale_after
        if 0.0 < stale < _NEVER and (detector is None or process is not None):
            # _schedule(p, time) in this state: no comparator on or armed, no fault, fresh now
            due = p.spec.calibration_due
            check = p.next_check = _quiet_check(time, stale, _NEVER if due is None else due)
            if check < p.due_at:
                p.due_at = check
                heapq.heappush(self._due, (check, p.index))
        else:
            self._schedule(p, time)

    def _settle(self, plan: GoodPlan) -> None:
        """Write a lazy plan's kept poll into its points, as ``_quiet`` would have."""
        if plan.dirty:
            plan.dirty = False
            time, keep = plan.time, self._keep
            for (_, p), value in zip(plan.plan, plan.values, strict=True):
                keep(p, time, value)

    def _break(self, plan: GoodPlan) -> None:
        """End a plan's lazy run (settled first): one of its points is about to change.
        Each point whose check the plan held has it filed again, as its own."""
        self._settle(plan)
        plan.lazy = False
        plan.due_at = _NEVER  # its filed check, if any, is void
        for _, p in plan.plan:
            p.group = None
            if p.due_at == _NEVER and p.next_check != _NEVER:
                p.due_at = p.next_check
                heapq.heappush(self._due, (p.next_check, p.index))

    def _plan_due(self, plan: GoodPlan, at: float, time: float) -> None:
        """A tick at ``time`` came to a lazy plan's check filed at ``at``, or (``at``
        never) to the check of one of its points, which the plan now holds.

        While a plan is lazy its points' checks are one (``_tick`` takes each point's own
        off the schedule when it comes up): every point's last sample is the plan's last
        poll, so the earliest is that poll plus the shortest staleness, or the earliest
        calibration due date first. Due now: the run ends (``_break`` files each point's
        own check again, and the points due come up in this same tick); else the plan's
        check is filed for then."""
        if at != _NEVER:
            if at != plan.due_at or not plan.lazy:
                return  # void: superseded, or the plan's run ended
            plan.due_at = _NEVER
        check = _quiet_check(plan.time, plan.stale, plan.before)
        if not check > time:
            self._break(plan)
        elif check < plan.due_at:
            plan.due_at = check
            heapq.heappush(self._due, (check, ~plan.number))

    def _settle_all(self) -> None:
        for plan in self._plans:
            if plan.dirty:
                self._settle(plan)

    def _observe(self, point: str, time: float, value: float | None,
                 quality: Quality = Quality.GOOD, reason: str | None = None,
                 quantity: str = "concentration") -> list[AlarmEvent]:
        """One sample the whole way: fault, levels, judging, scheduling."""
        p = self._points.get(point)
        if p is None:
            raise errors.UnknownPoint(point, f"no alarm point {point!r}")
        if quantity != p.spec.quantity:
            return []  # e.g. the C-weighted peak of a noise point judged on LAeq
        if p.group is not None:
            self._break(p.group)
        if p.last_time is not None and time < p.last_time:
            self.counters["late-sample"] += 1  # stored by the caller, never evaluated here
            return []
        good = quality is not Quality.BAD and value is not None
        if (not good and reason == Reason.DEVICE_OFFLINE
                and p.fault.start_grace(time)):
            p.fault.tick(time)  # a device that never answered: judged stale, not now
            self._schedule(p, time)
            return []
        p.last_time = time
        if not time <= self._latest:  # a NaN time too: the next tick scans
            self._latest = time
        if reason is not None and reason.startswith(_CHECK_FUNCTION):
            # NE 107 check function (bump test, calibration, inhibit): the instrument answers
            # but measures test gas, not the air. Neither a process value nor a fault: the
            # point holds its level (an alarm already raised stays) and is not stale.
            p.fault.hold(time)
            out = self._evaluate(p, time)
            self._schedule(p, time)
            return out
        p.fault.sample(good, reason, time)
        p.overdue_sample = reason == Reason.CALIBRATION_OVERDUE
        if good and value is not None:
            p.value = value
            if p.detector is not None:
                p.detector.sample(value, time)
        out = self._evaluate(p, time)
        self._schedule(p, time)
        return out

    def _tick(self, time: float) -> list[AlarmEvent]:
        """Judge at ``time`` the points whose checks fell due, then expire shelves.

        A point's ``_evaluate`` changes nothing between samples until one of its timers
        runs out (staleness, a fault's clear delay, a level's on or off delay, the
        calibration date): ``_schedule`` files the earliest of them after every
        evaluation, and a tick judges only the points filed at or before it, in the order
        of the points, exactly as a scan of every point would (``tests/alarms/
        test_tick_schedule.py`` compares the two). The first tick, and a tick behind a
        point's last sample (a clock ran fast: times are pulled back) or behind an earlier
        tick, scan every point: a timer is filed only when it runs out after the time
        judged, and a point stale at one time is stale at every later one, not earlier.
        """
        if not self._started or not time >= self._latest:  # (NaN on either side: scan)
            out = self._scan(time)
        else:
            due: list[int] = []
            heap, order = self._due, self._order
            while heap and heap[0][0] <= time:
                at, index = heapq.heappop(heap)
                if index < 0:  # a lazy plan's check, for all its points
                    self._plan_due(self._plans[~index], at, time)
                    continue
                p = order[index]
                if at != p.due_at:  # superseded by an earlier check, already done
                    continue
                if p.group is not None:  # a lazy plan's point: checked with the plan
                    p.due_at = _NEVER
                    self._plan_due(p.group, _NEVER, time)
                    continue
                if p.next_check > time:  # samples since moved its timers on: file that
                    p.due_at = p.next_check
                    heapq.heappush(heap, (p.next_check, index))
                else:
                    p.due_at = _NEVER
                    due.append(index)
            out = []
            for index in sorted(due):
                p = order[index]
                p.fault.tick(time)
                out += self._evaluate(p, time)
                self._schedule(p, time)
            self._latest = time
        if self._shelved:
            for alarm_id in sorted(self._shelved, key=self._shelved.__getitem__):
                alarm = self._alarms[alarm_id]
                if (alarm.state is AlarmState.SHELVED and alarm.shelved_until is not None
                        and time >= alarm.shelved_until):
                    out += self._fire(self._settled(alarm), Trigger.SHELVE_EXPIRED, time,
                                      user=None, cause="shelve expired")
                    alarm.shelved_until = None
                    del self._shelved[alarm_id]
        return out

    def _scan(self, time: float) -> list[AlarmEvent]:
        """Every point judged at ``time``, times ahead of it pulled back first."""
        out: list[AlarmEvent] = []
        for plan in self._plans:
            if plan.lazy:
                self._break(plan)
        for p in self._order:
            if p.last_time is not None and p.last_time > time:
                self.counters["clock-rewound"] += 1
                p.rewind(time)
            p.fault.tick(time)
            out += self._evaluate(p, time)
            self._schedule(p, time)
        self._started = True
        self._latest = time  # every point judged at it, every time ahead pulled back to it
        return out

    def _schedule(self, p: _Point, time: float) -> None:
        """File the earliest time after ``time`` at which ``_evaluate`` of ``p`` could
        change anything, p's state being as it is now (just evaluated at ``time``).

        The time is filed a little early (rounding in ``time - since >= delay``): a check
        made before its timer runs out changes nothing and files it again. An earlier check
        already filed stays in the heap; when it comes up, the point is judged only if
        ``next_check`` (filed by its last judgement) is due too, else that is filed.
        """
        fault = p.fault
        check = _NEVER
        if fault.bad_reason is None:  # a bad sample's fault holds until the next sample
            since = fault.last_good if fault.last_good is not None else fault.started
            if since is not None and time - since < fault.stale_after:
                check = since + fault.stale_after  # stale (and no longer fresh) then
                detector = p.detector
                if (detector is not None and detector.value is not None
                        and fault.last_good is not None):  # fresh: levels move on timers
                    value = detector.value
                    for comp in detector.comparators:
                        if comp.on:
                            if comp.low_since is not None:
                                check = min(check, comp.low_since + detector.off_delay)
                        elif comp.armed_since is not None and value >= comp.setpoint:
                            check = min(check, comp.armed_since + comp.on_delay)
            if fault.faulted and fault.good_since is not None:
                check = min(check, fault.good_since + fault.off_delay)
        due = p.spec.calibration_due
        if due is not None and time < due:
            check = min(check, due)
        if check != _NEVER:
            check -= 1e-3 + abs(check) * 1e-12
        p.next_check = check
        if check < p.due_at:
            p.due_at = check
            heapq.heappush(self._due, (check, p.index))

    def _evaluate(self, p: _Point, time: float) -> list[AlarmEvent]:
        """Every check of one point at ``time``: fault, level, calibration. Runs on every
        sample and every tick; the quiet case (no fault, no level on or changing, no
        calibration due) touches no list and builds no event."""
        out: list[AlarmEvent] = []
        faulted, reason = p.fault.evaluate(time)
        alarm = p.faults
        if faulted and not alarm.active:
            alarm.active, alarm.reason = True, reason
            alarm.condition_cause = self._fault_cause(p, reason)
            out += self._fire(alarm, Trigger.ACTIVATE, time, cause=alarm.condition_cause)
        elif faulted:
            alarm.reason = reason
        elif alarm.active:
            alarm.active, alarm.reason = False, None
            out += self._fire(alarm, Trigger.CLEAR, time,
                              cause=f"{p.spec.point}: sensor good again for "
                                    f"{p.spec.fault_off_delay:g} s")
        detector, process = p.detector, p.process
        if detector is not None and process is not None and p.fault.fresh(time):
            detector.evaluate(time)
            if process.active or not detector.quiet():
                out += self._level_change(p, process, detector, time)
            else:  # no level before nor now: _level_change would only note the value
                process.value = p.value
        due = p.spec.calibration_due
        if p.overdue_sample or (due is not None and time >= due) or p.warned:
            out += self._calibration(p, time)
        return out

    def _level_change(self, p: _Point, alarm: _Alarm, detector: LevelDetector,
                      time: float) -> list[AlarmEvent]:
        old, new = (alarm.level if alarm.active else None), detector.level
        alarm.value = p.value
        if rank(new) == rank(old):
            return []
        unit = p.spec.unit
        if new is None:
            band = detector.comparators[0]  # the alarm clears below the lowest level's band
            alarm.active = False
            return self._fire(
                alarm, Trigger.CLEAR, time,
                cause=f"{p.spec.point}: {p.value:g} {unit} stayed below {band.level} set-point "
                      f"{band.setpoint:g} minus deadband {band.deadband:g} {unit} for "
                      f"{detector.off_delay:g} s")
        setpoint = detector.setpoint(new)
        alarm.level, alarm.setpoint = new, setpoint
        if old is None:
            alarm.active = True
            alarm.condition_cause = (f"{p.spec.point}: {p.value:g} {unit} reached {new} "
                                     f"set-point {setpoint:g} {unit}")
            return self._fire(alarm, Trigger.ACTIVATE, time, cause=alarm.condition_cause)
        trigger = Trigger.ESCALATE if rank(new) > rank(old) else Trigger.DEESCALATE
        word = "rose to" if trigger is Trigger.ESCALATE else "fell to"
        alarm.condition_cause = (f"{p.spec.point}: {p.value:g} {unit} {word} {new} "
                                 f"(set-point {setpoint:g} {unit}, was {old})")
        return self._fire(alarm, trigger, time, previous_level=old, cause=alarm.condition_cause)

    def _calibration(self, p: _Point, time: float) -> list[AlarmEvent]:
        due = p.spec.calibration_due
        overdue = p.overdue_sample or (due is not None and time >= due)
        if not overdue:
            return self._calibration_cleared(p, time) if p.warned else []
        if p.warned:
            return []
        p.warned = True
        why = ("the instrument reports calibration overdue" if p.overdue_sample
               else "calibration was due at the configured date")
        return [act.WarningRaised(
            alarm_id=f"{p.spec.point}:calibration", point=p.spec.point, kind=AlarmKind.WARNING,
            level=None, value=p.value, setpoint=None, unit=p.spec.unit, time=time,
            state=AlarmState.NORMAL, occurrence=0, reason=str(Reason.CALIBRATION_OVERDUE),
            cause=f"{p.spec.point}: {why}; values are kept but uncertain")]

    @staticmethod
    def _calibration_cleared(p: _Point, time: float) -> list[AlarmEvent]:
        """The end of a calibration warning, so the board and the point's state say so."""
        p.warned = False
        due = p.spec.calibration_due
        when = f"next due {iso_utc(due)}" if due is not None else "no due date"
        return [act.WarningCleared(
            alarm_id=f"{p.spec.point}:calibration", point=p.spec.point, kind=AlarmKind.WARNING,
            level=None, value=p.value, setpoint=None, unit=p.spec.unit, time=time,
            state=AlarmState.NORMAL, occurrence=0, reason=str(Reason.CALIBRATION_OVERDUE),
            cause=f"{p.spec.point}: calibration no longer overdue ({when})")]

    # -- calibration due dates ----------------------------------------------------------------
    def calibration_due(self, point: str) -> float | None:
        """The point's calibration due time (epoch seconds) as the engine judges it now."""
        p = self._points.get(point)
        if p is None:
            raise errors.UnknownPoint(point, f"no alarm point {point!r}")
        return p.spec.calibration_due

    def move_calibration_due(self, point: str, due: float | None,
                             time: float) -> list[AlarmEvent]:
        """A calibration moved the point's due date to ``due`` (None: no due date): the
        point is judged at ``time`` at once (a warning that no longer holds clears, one
        that now holds is raised) and its next check, the new date among them, is filed.

        Before the first tick only the date changes: the first tick judges every point.
        The point is judged no earlier than its last sample, as a sample would be."""
        p = self._points.get(point)
        if p is None:
            raise errors.UnknownPoint(point, f"no alarm point {point!r}")
        if p.group is not None:  # its plan's lazy polls stop at the old date
            self._break(p.group)
        p.spec = replace(p.spec, calibration_due=due)
        if not self._started:
            return []
        at = time if p.last_time is None else max(time, p.last_time)
        if not at <= self._latest:
            self._latest = at
        p.fault.tick(at)
        out = self._evaluate(p, at)  # a warning raised before is looked at (p.warned)
        self._schedule(p, at)
        return out

    @staticmethod
    def _fault_cause(p: _Point, reason: str | None) -> str:
        silent = p.fault.marked_silent()
        if reason == "stale" and silent is not None:  # the driver marked its device silent
            return f"{p.spec.point}: its device fell silent: no reading for {silent:.3g} s"
        if reason == "stale":
            return (f"{p.spec.point}: no good reading for {p.spec.stale_after:g} s "
                    f"({p.spec.stale_after_polls} poll intervals)")
        return f"{p.spec.point}: sensor fault ({reason})"

    # -- operator commands --------------------------------------------------------------------
    def _alarm(self, alarm_id: str) -> _Alarm:
        alarm = self._alarms.get(alarm_id)
        if alarm is None:
            raise errors.UnknownAlarm(alarm_id, f"no alarm {alarm_id!r}")
        return self._settled(alarm)

    def _settled(self, alarm: _Alarm) -> _Alarm:
        """``alarm`` with its value as of its point's last poll (the point's plan settled),
        for an event about it that no poll caused."""
        p = self._points.get(alarm.point)
        if p is not None and p.group is not None:
            self._settle(p.group)
        return alarm

    def _shelve(self, event: Shelve) -> list[AlarmEvent]:
        alarm = self._alarm(event.alarm_id)
        if event.until is None or event.until <= event.time:
            raise errors.ShelveNeedsExpiry(
                event.alarm_id, f"alarm {event.alarm_id!r}: a shelve needs an expiry time "
                "after now (ISA-18.2: shelving is always temporary)")
        if event.until - event.time > self._max_shelve:
            raise errors.ShelveTooLong(
                event.alarm_id, f"alarm {event.alarm_id!r}: shelve for at most "
                f"{self._max_shelve:g} s, asked {event.until - event.time:g} s")
        out = self._fire(alarm, Trigger.SHELVE, event.time, user=event.user, until=event.until,
                         reason=event.reason,
                         cause=f"shelved by {event.user} until {iso_utc(event.until)}: "
                               f"{event.reason}")
        alarm.shelved_until = event.until
        self._shelved[alarm.alarm_id] = self._position[alarm.alarm_id]
        return out

    def _resolve(self, event: Resolve) -> list[AlarmEvent]:
        alarm = self._alarm(event.alarm_id)
        if event.reason_code not in _REASONS:
            raise errors.UnknownReasonCode(
                event.alarm_id, f"reason code {event.reason_code!r} is not one of "
                f"{sorted(_REASONS)}")
        if alarm.state is AlarmState.NORMAL and (alarm.occurrence == 0 or alarm.resolved):
            raise errors.NothingToResolve(
                event.alarm_id, f"alarm {event.alarm_id!r} has no unresolved occurrence")
        out = self._fire(alarm, Trigger.RESOLVE, event.time, user=event.user,
                         reason_code=event.reason_code, comment=event.comment,
                         cause=f"resolved by {event.user}: {event.reason_code}")
        alarm.resolved = True
        return out

    def _external(self, event: ExternalAlarm) -> list[AlarmEvent]:
        alarm = self._alarms.get(event.alarm_id)
        if alarm is None:
            kind = AlarmKind.SYSTEM if event.system else AlarmKind.EXTERNAL
            alarm = _Alarm(event.alarm_id, event.source, kind, "")
            self._add(alarm)
        elif alarm.kind not in (AlarmKind.EXTERNAL, AlarmKind.SYSTEM):
            raise errors.UnknownAlarm(
                event.alarm_id, f"alarm {event.alarm_id!r} belongs to a point, not to "
                f"{event.source!r}")
        if event.active == alarm.active and (not event.active or event.level == alarm.level):
            return []
        if not event.active:
            alarm.active = False
            return self._fire(alarm, Trigger.CLEAR, event.time, cause=event.cause)
        old = alarm.level if alarm.active else None
        alarm.level, alarm.condition_cause = event.level, event.cause
        if old is None:
            alarm.active = True
            return self._fire(alarm, Trigger.ACTIVATE, event.time, cause=event.cause)
        trigger = Trigger.ESCALATE if rank(event.level) > rank(old) else Trigger.DEESCALATE
        return self._fire(alarm, trigger, event.time, previous_level=old, cause=event.cause)

    # -- the table, applied -------------------------------------------------------------------
    def _fire(self, alarm: _Alarm, trigger: Trigger, time: float, *, cause: str,
              **extra: Any) -> list[AlarmEvent]:
        step = transition(alarm.alarm_id, alarm.state, trigger, alarm.active)
        alarm.state = step.next
        out: list[AlarmEvent] = []
        for do in step.actions:
            text = cause
            if do is Do.RAISE:
                if trigger is not Trigger.ACTIVATE:  # back from shelve or out of service
                    text = f"{alarm.condition_cause} (still present when {cause})"
                alarm.occurrence += 1
                alarm.raised_at, alarm.resolved, alarm.acknowledged_by = time, False, None
                alarm.cause = text
            out.append(self._event(alarm, do, time, text, extra))
        return out

    @staticmethod
    def _event(alarm: _Alarm, do: Do, time: float, cause: str,
               extra: dict[str, Any]) -> AlarmEvent:
        common: dict[str, Any] = dict(
            alarm_id=alarm.alarm_id, point=alarm.point, kind=alarm.kind, level=alarm.level,
            value=alarm.value, setpoint=alarm.setpoint, unit=alarm.unit, time=time,
            state=alarm.state, occurrence=alarm.occurrence, cause=cause)
        fault = alarm.kind is AlarmKind.FAULT
        if do is Do.RAISE:
            if fault:
                return act.FaultRaised(**common, reason=alarm.reason or "")
            return act.Raised(**common)
        if do is Do.CLEAR:
            return act.FaultCleared(**common) if fault else act.Cleared(**common)
        if do is Do.ESCALATE:
            return act.Escalated(**common, previous_level=extra.get("previous_level"))
        if do is Do.DEESCALATE:
            return act.Deescalated(**common, previous_level=extra.get("previous_level"))
        if do is Do.ACK:
            return act.Acknowledged(**common, user=extra["user"], comment=extra["comment"])
        if do is Do.RETURN:
            return act.Returned(**common)
        if do is Do.SHELVE:
            return act.Shelved(**common, user=extra["user"], until=extra["until"],
                               reason=extra["reason"])
        if do is Do.UNSHELVE:
            return act.Unshelved(**common, user=extra.get("user"))
        if do is Do.REMOVE:
            return act.RemovedFromService(**common, user=extra["user"], reason=extra["reason"])
        if do is Do.RESTORE:
            return act.ReturnedToService(**common, user=extra["user"], reason=extra["reason"])
        return act.Resolved(**common, user=extra["user"], reason_code=extra["reason_code"],
                            comment=extra.get("comment", ""))
