"""The alarm hot path's shortcuts give exactly what the plain paths give.

``AlarmEngine.observe`` (the gateway's per-reading call) and ``observe_good`` (a device's
good poll, kept in a lazy plan while every point is quiet) against ``handle(Sample(...))``,
``point_snapshot`` and ``condition`` against ``snapshot()`` and ``conditions()``, and the
events' and snapshots' ``to_dict`` against ``dataclasses.asdict``; and, in the gateway's
safety shell, a point whose alarms are switched off never reaches the engine while a point
with set-points raises its alarm.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.alarms.actions import AlarmEvent
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.errors import AlarmError
from gateway.alarms.events import Acknowledge, Sample, Shelve, Tick
from gateway.alarms.spec import PointSpec
from gateway.committer import Committer
from gateway.queue import Queue
from gateway.safety import Safety
from occmon.config import parse
from occmon.model import Quality, Reading, Reason
from tests.alarms.support import SP


def plain(obj: Any) -> dict[str, Any]:
    """The reference: ``asdict`` with every enum as its string, nested lists included."""
    def strip(value: Any) -> Any:
        if isinstance(value, StrEnum):
            return str(value)
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(dataclasses.asdict(obj))  # type: ignore[no-any-return]


def specs() -> list[PointSpec]:
    return [PointSpec(p, "mg/m3", setpoints=SP(), poll_interval=1.0, on_delay=1.0,
                      off_delay=2.0, calibration_due=50.0 if p == "b" else None)
            for p in ("a", "b")]


sample = st.tuples(
    st.sampled_from(("a", "b")),
    st.floats(min_value=0.0, max_value=2.0),  # seconds after the previous event
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=40.0)),
    st.sampled_from((None, Reason.DEVICE_OFFLINE, Reason.CALIBRATION_OVERDUE,
                     "check-function:bump-test", "stale")),
    st.booleans(),  # a tick after it
)


@settings(max_examples=150, deadline=None)
@given(st.lists(sample, min_size=1, max_size=60))
def test_observe_and_handle_sample_give_the_same_events_and_states(
        steps: list[tuple[str, float, float | None, str | None, bool]]) -> None:
    plain_engine, fast_engine = AlarmEngine(specs()), AlarmEngine(specs())
    t = 0.0
    for point, dt, value, reason, tick in steps:
        t += dt
        quality = Quality.BAD if value is None or reason in (Reason.DEVICE_OFFLINE, "stale") \
            else Quality.UNCERTAIN if reason is not None else Quality.GOOD
        expected = plain_engine.handle(Sample(point, t, value, quality, reason))
        got = fast_engine.observe(point, t, value, quality, reason)
        assert got == expected
        if tick:
            assert fast_engine.handle(Tick(t + 0.5)) == plain_engine.handle(Tick(t + 0.5))
            t += 0.5
    assert fast_engine.snapshot() == plain_engine.snapshot()
    for point in ("a", "b"):
        assert fast_engine.point_snapshot(point) == plain_engine.snapshot()[point]
        assert fast_engine.condition(point) == plain_engine.conditions()[point]
        assert fast_engine.alarms_of(point) == [a for a in plain_engine.alarms()
                                                 if a.point == point]
    assert fast_engine.point_snapshot("nowhere") is None


quiet_sample = st.tuples(
    st.sampled_from(("a", "b")),
    st.floats(min_value=0.0, max_value=2.5),
    # mostly below the lowest band (pre-alarm 5 minus 5 %: 4.75), some just over it, a few
    # high enough to raise, and missing values
    st.one_of(st.floats(min_value=0.0, max_value=4.8), st.floats(min_value=4.7, max_value=5.3),
              st.floats(min_value=0.0, max_value=30.0), st.none()),
    st.sampled_from((None, None, None, None, Reason.DEVICE_OFFLINE, "check-function:inhibit")),
    st.integers(min_value=0, max_value=3),  # 0: no tick; else a tick after 0.5, 1 or 1.5 s
)


@settings(max_examples=200, deadline=None)
@given(st.lists(quiet_sample, min_size=1, max_size=80))
def test_the_quiet_short_way_leaves_every_machine_as_the_whole_way_does(
        steps: list[tuple[str, float, float | None, str | None, int]]) -> None:
    """Mostly quiet values, so ``observe``'s short way is taken often and left often: the
    events, and every point's whole state (timers, comparators, next check), are those of
    the whole way (``handle(Sample(...))``)."""
    plain_engine, fast_engine = AlarmEngine(specs()), AlarmEngine(specs())
    t = 0.0
    for point, dt, value, reason, tick in steps:
        t += dt
        quality = Quality.BAD if value is None or reason == Reason.DEVICE_OFFLINE \
            else Quality.UNCERTAIN if reason is not None else Quality.GOOD
        expected = plain_engine.handle(Sample(point, t, value, quality, reason))
        assert fast_engine.observe(point, t, value, quality, reason) == expected
        if tick:
            t += 0.5 * tick
            assert fast_engine.handle(Tick(t)) == plain_engine.handle(Tick(t))
        assert fast_engine._order == plain_engine._order
        assert fast_engine._due == plain_engine._due
        assert fast_engine._latest == plain_engine._latest
    assert fast_engine.snapshot() == plain_engine.snapshot()


def three_specs() -> list[PointSpec]:
    return [PointSpec(p, "mg/m3", setpoints=SP(), poll_interval=1.0, on_delay=1.0,
                      off_delay=2.0, calibration_due=50.0 if p == "b" else None)
            for p in ("a", "b", "c")]


# three devices' polls: a and b, in order; c, from a poll of three values whose others
# are not judged; and a again, from a third device now and then (so "a" is in two plans)
DEVICES = ([(0, "a", "concentration"), (1, "b", "concentration")],
           [(1, "c", "concentration")],
           [(2, "a", "concentration")])

quiet_value = st.one_of(*[st.floats(min_value=0.0, max_value=4.7)] * 6,
                        st.floats(min_value=4.7, max_value=5.3),
                        st.floats(min_value=0.0, max_value=30.0))
poll = st.tuples(st.just("poll"), st.integers(0, 2), st.floats(-0.3, 1.2),
                st.lists(quiet_value, min_size=3, max_size=3))
# polls most of the time (runs of quiet polls are what make a plan lazy), the rest rarer
step = st.one_of(
    poll, poll, poll, poll, poll, poll,
    st.tuples(st.just("sample"), st.sampled_from(("a", "b", "c")), st.floats(0.0, 2.5),
              st.one_of(st.none(), quiet_value),
              st.sampled_from((None, Reason.DEVICE_OFFLINE, "check-function:inhibit"))),
    st.tuples(st.just("tick"), st.floats(-0.5, 1.5)),
    st.tuples(st.just("tick"), st.floats(-0.5, 4.0)),
    st.tuples(st.just("look"), st.sampled_from(("a", "b", "c"))),
    st.tuples(st.just("ack"), st.sampled_from(("a:process", "b:process", "c:fault"))),
    st.tuples(st.just("shelve"), st.sampled_from(("a:process", "c:process"))),
    st.tuples(st.just("calibrate"), st.sampled_from(("a", "b")), st.floats(0.0, 80.0)),
)


def whole_state(engine: AlarmEngine) -> Any:
    """Every point's machine, timers and next check as plain data (the lazy plans settled
    first, by ``snapshot``). Not where the checks are filed: a lazy plan holds its points'
    (the ticks' events say whether each point was judged when due)."""
    views = engine.snapshot()
    points = []
    for p in engine._order:
        detector = None if p.detector is None else (
            p.detector.value, [dataclasses.astuple(c) for c in p.detector.comparators])
        points.append((p.spec.point, p.last_time, p.value, p.overdue_sample, p.warned,
                       p.next_check, dataclasses.astuple(p.fault), detector,
                       p.spec.calibration_due))
    return views, points, engine._latest, engine.alarms()


def command(engine: AlarmEngine, event: Any) -> Any:
    try:
        return engine.handle(event)
    except AlarmError as exc:
        return type(exc).__name__


def replay(steps: Sequence[tuple[Any, ...]]) -> int:
    """Run ``steps`` through a lazy engine and one fed sample by sample, comparing every
    event, and every point's whole state at each look and at the end (only there: a look
    settles the plans, and what comes next must not need it); the polls the lazy engine
    kept in a plan without writing a point."""
    plain_engine, fast_engine = AlarmEngine(three_specs()), AlarmEngine(three_specs())
    plans = [fast_engine.good_plan(series) for series in DEVICES]
    t = 0.0
    kept = 0
    for kind, *args in steps:
        if kind == "poll":
            device, dt, values = args
            t += dt
            expected = []
            for index, point, _ in DEVICES[device]:
                expected += plain_engine.handle(Sample(point, t, values[index]))
            lazy = plans[device].lazy
            assert fast_engine.observe_good(plans[device], t, values) == expected
            kept += lazy and plans[device].lazy and plans[device].time == t
        elif kind == "sample":
            point, dt, value, reason = args
            t += dt
            quality = Quality.BAD if value is None or reason == Reason.DEVICE_OFFLINE \
                else Quality.UNCERTAIN if reason is not None else Quality.GOOD
            expected = plain_engine.handle(Sample(point, t, value, quality, reason))
            assert fast_engine.observe(point, t, value, quality, reason) == expected
        elif kind == "tick":
            t += args[0]
            assert fast_engine.handle(Tick(t)) == plain_engine.handle(Tick(t))
        elif kind == "look":
            assert fast_engine.condition(args[0]) == plain_engine.conditions()[args[0]]
            assert fast_engine.point_snapshot(args[0]) == plain_engine.snapshot()[args[0]]
            assert fast_engine.alarms_of(args[0]) == plain_engine.alarms_of(args[0])
            assert whole_state(fast_engine) == whole_state(plain_engine)
        elif kind == "ack":
            event = Acknowledge(args[0], "li", "seen", t)
            assert command(fast_engine, event) == command(plain_engine, event)
        elif kind == "shelve":
            event = Shelve(args[0], "li", t + 30.0, "maintenance", t)
            assert command(fast_engine, event) == command(plain_engine, event)
        else:
            point, due = args
            assert (fast_engine.move_calibration_due(point, due, t)
                    == plain_engine.move_calibration_due(point, due, t))
    assert whole_state(fast_engine) == whole_state(plain_engine)
    return kept


@settings(max_examples=300, deadline=None)
@given(st.lists(step, min_size=1, max_size=150))
def test_a_lazy_good_plan_leaves_every_machine_as_sample_by_sample_does(
        steps: list[tuple[Any, ...]]) -> None:
    """Devices' polls through ``observe_good`` (lazy while quiet) beside samples of the same
    points from elsewhere, ticks (some behind: a scan), views, operator commands and a
    calibration that moves a due date: every event and every point's whole state are those
    of ``handle(Sample(...))`` value by value."""
    replay(steps)


def walk(rng: random.Random, length: int) -> list[tuple[Any, ...]]:
    """A plant's day in small: both devices polled about once a second, mostly quiet,
    now and then a value in a band or over a set-point, a sample from elsewhere, a look,
    a command, a late poll, a tick behind (a scan), a calibration moving a due date."""
    def value() -> float:
        roll = rng.random()
        return (rng.uniform(0.0, 4.7) if roll < 0.93 else rng.uniform(4.7, 5.3)
                if roll < 0.97 else rng.uniform(5.0, 30.0))

    steps: list[tuple[Any, ...]] = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.80:
            device = 2 if rng.random() < 0.02 else rng.randrange(2)
            dt = -0.2 if rng.random() < 0.01 else rng.choice((0.0, 0.4, 0.5, 0.6))
            steps.append(("poll", device, dt, [value(), value(), value()]))
        elif roll < 0.86:
            steps.append(("tick", rng.choice((0.0, 0.3, -0.5, 4.0))))
        elif roll < 0.90:
            steps.append(("look", rng.choice("abc")))
        elif roll < 0.93:
            steps.append(("sample", rng.choice("abc"), 0.1, rng.choice((None, value())),
                          rng.choice((None, None, Reason.DEVICE_OFFLINE,
                                      "check-function:inhibit"))))
        elif roll < 0.96:
            steps.append(("ack", rng.choice(("a:process", "b:process", "c:fault"))))
        elif roll < 0.98:
            steps.append(("shelve", rng.choice(("a:process", "c:process"))))
        else:
            steps.append(("calibrate", rng.choice("ab"), rng.uniform(0.0, 1000.0)))
    return steps


@pytest.mark.parametrize("seed", range(12))
def test_a_lazy_good_plan_through_a_long_quiet_run(seed: int) -> None:
    """The comparison above over long runs that are quiet most of the time, as a plant's
    are: a good part of the polls are kept in their plan, and nothing differs."""
    steps = walk(random.Random(seed), 1500)
    polls = sum(1 for s in steps if s[0] == "poll")
    assert replay(steps) > polls // 6


def test_a_lazy_plan_whose_device_falls_silent_faults_each_point_when_stale() -> None:
    """The plan holds its points' checks while it is lazy: one entry on the schedule, not
    one a point. A device that stops answering still has each point judged stale at the
    first tick after its staleness has run out, as the engine fed sample by sample does."""
    lazy, plain = AlarmEngine(three_specs()), AlarmEngine(three_specs())
    plan = lazy.good_plan(DEVICES[0])
    t = 0.0
    for _ in range(10):  # quiet polls, a second apart, ticked twice a second
        lazy.observe_good(plan, t, [1.0, 2.0])
        plain.handle(Sample("a", t, 1.0))
        plain.handle(Sample("b", t, 2.0))
        for tick in (t + 0.25, t + 0.75):
            assert lazy.handle(Tick(tick)) == plain.handle(Tick(tick))
        t += 1.0
    assert plan.lazy
    # no point's own check is live on the schedule; the plan's is its last poll + 3 s
    assert all(lazy._order[i].due_at != at for at, i in lazy._due if i >= 0)
    assert 11.99 < plan.due_at < 12.0
    faults: list[AlarmEvent] = []
    while t < 15.0:  # the device is silent from 9 s: stale (3 s) at 12 s
        events = lazy.handle(Tick(t))
        assert events == plain.handle(Tick(t))
        faults += events
        t += 0.25
    assert [(e.alarm_id, e.time) for e in faults] == [("a:fault", 12.0), ("b:fault", 12.0)]
    assert not plan.lazy


def test_a_quiet_plan_keeps_its_polls_and_settles_when_looked_at() -> None:
    """After one poll that finds every point quiet, quiet polls touch no point (the plan
    keeps them); a look at a point writes the last one in; a value in a band ends the lazy
    run and is judged the whole way."""
    engine = AlarmEngine(three_specs())
    plan = engine.good_plan(DEVICES[0])
    engine.observe_good(plan, 0.0, [1.0, 1.0])  # first samples: the whole way
    engine.handle(Tick(0.5))
    engine.observe_good(plan, 1.0, [1.0, 1.0])  # quiet: each point the short way
    assert plan.lazy and not plan.dirty
    a = engine._points["a"]
    engine.observe_good(plan, 2.0, [2.0, 3.0])
    engine.observe_good(plan, 3.0, [2.5, 3.5])
    assert plan.dirty and a.last_time == 1.0 and a.value == 1.0  # kept, not written
    assert engine.condition("a").time == 3.0
    assert a.last_time == 3.0 and a.value == 2.5 and not plan.dirty
    engine.observe_good(plan, 4.0, [4.9, 1.0])  # a in the pre-alarm band: the whole way
    assert not plan.lazy and a.group is None
    assert engine._points["b"].value == 1.0
    none = engine.good_plan([])  # a device none of whose values has an alarm
    for t in (5.0, 6.0):
        assert engine.observe_good(none, t, [1.0]) == []
    assert engine._latest == 4.0 and not none.lazy  # the engine's clock not moved by it


def test_the_short_way_is_taken_for_a_quiet_value_only() -> None:
    """A quiet point's value below the band skips the whole way; one in the band, over a
    set-point, bad, or on a faulted point does not (then ``_observe`` runs)."""
    engine = AlarmEngine(specs())
    whole: list[float | None] = []
    original = engine._observe

    def counting(point: str, time: float, value: float | None, *rest: Any) -> list[AlarmEvent]:
        whole.append(value)
        return original(point, time, value, *rest)

    engine._observe = counting  # type: ignore[method-assign]
    engine.observe("a", 0.0, 1.0)  # the first sample: the whole way
    engine.observe("a", 1.0, 2.0)  # quiet
    engine.observe("a", 2.0, 4.7)  # quiet: below 5 - 0.25
    engine.observe("a", 3.0, 4.8)  # in the pre-alarm band
    engine.observe("a", 4.0, 1.0)  # quiet again
    engine.observe("a", 5.0, None, Quality.BAD, Reason.DEVICE_OFFLINE)  # a fault
    engine.observe("a", 6.0, 1.0)  # faulted: the whole way until the fault clears
    assert whole == [1.0, 4.8, None, 1.0]


def test_to_dict_is_asdict_with_enums_as_strings() -> None:
    engine = AlarmEngine(specs())
    events: list[AlarmEvent] = []
    events += engine.observe("a", 0.0, 12.0)  # over the alarm set-point: pending
    events += engine.observe("a", 1.0, 25.0)  # on-delay passed: raised at high alarm
    events += engine.observe("b", 1.0, None, Quality.BAD, "loop-under-range")  # fault
    events += engine.handle(Tick(60.0))  # b's calibration due at 50 s, a stale
    kinds = {type(e).__name__ for e in events}
    assert {"Raised", "FaultRaised", "WarningRaised"} <= kinds, kinds
    for event in events:
        assert event.to_dict() == {**plain(event), "event": event.name}
    for snapshot in engine.snapshot().values():
        assert snapshot.alarms  # the nested list is compared too
        assert snapshot.to_dict() == plain(snapshot)
    for alarm in engine.alarms():
        assert alarm.to_dict() == plain(alarm)


def two_point_site(tmp_path: Path) -> Any:
    points = [{"id": p, "name": {"zh": "点", "en": "point"}, "area": "a", "agent": "h2s"}
              for p in ("hot", "quiet")]
    data = {
        "site": {"id": "t", "name": {"zh": "测试", "en": "test"}},
        "gateway": {"queue_path": str(tmp_path / "q.db")},
        "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
        "points": points,
        "devices": [{"id": "panel", "protocol": "modbus-tcp", "host": "127.0.0.1",
                     "port": 1502, "profile": "toxic-gas-detector"}],
        "sensors": [{"id": f"s-{p['id']}", "point": p["id"], "device": "panel",
                     "register": "gas_ppm", "unit": "mg/m3"} for p in points],
        # quiet's alarms are switched off; hot's rise at once (no on-delay)
        "alarms": {"on_delay": 0, "points": [{"point": "quiet", "enabled": False}]},
    }
    config, problems = parse(data, tmp_path / "site.yaml")
    assert config is not None, problems
    return config


def test_a_point_without_alarms_never_reaches_the_engine(tmp_path: Path) -> None:
    async def run() -> None:
        queue = Queue(tmp_path / "q.db")
        committer = Committer(queue)
        safety = Safety(two_point_site(tmp_path), committer, [])
        seen: list[str] = []
        observe = safety.engine.observe

        def spy(point: str, *args: Any) -> list[AlarmEvent]:
            seen.append(point)
            return observe(point, *args)

        safety.engine.observe = spy  # type: ignore[method-assign,assignment]
        now = time.time()
        batch = [Reading(p, "h2s", now, 12.0, "mg/m3", sensor=f"s-{p}", device="panel")
                 for p in ("hot", "quiet")]  # 12 mg/m3: over H2S's 10 mg/m3 alarm level
        safety.readings(batch)
        safety.readings([dataclasses.replace(r, time=now + 1.0) for r in batch])
        assert seen == ["hot", "hot"]
        hot = safety.engine.alarm("hot:process")
        assert hot.active and str(hot.level) == "alarm" and hot.value == 12.0
        assert "quiet" not in safety.engine.snapshot()
        assert safety.counters["alarm.events"] >= 1
        committer.flush()
        queue.close()

    asyncio.run(run())


def test_points_with_the_same_set_points_share_one_object(tmp_path: Path) -> None:
    """Two H2S points under the same profile share one set-points object; a point with its
    own alarm level gets its own; each equals what resolving it alone gives."""
    from gateway.alarms.resolve import _setpoints, point_specs
    from thresholds import canonical_unit, lookup

    points = [{"id": p, "name": {"zh": "点", "en": "point"}, "area": "a", "agent": "h2s"}
              for p in ("one", "two", "own")]
    data = {
        "site": {"id": "t", "name": {"zh": "测试", "en": "test"}},
        "gateway": {"queue_path": str(tmp_path / "q.db")},
        "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
        "points": points,
        "devices": [{"id": "panel", "protocol": "modbus-tcp", "host": "127.0.0.1",
                     "port": 1502, "profile": "toxic-gas-detector"}],
        "sensors": [{"id": f"s-{p['id']}", "point": p["id"], "device": "panel",
                     "register": "gas_ppm", "unit": "mg/m3"} for p in points],
        "alarms": {"points": [{"point": "own", "alarm": 7.0}]},
    }
    config, problems = parse(data, tmp_path / "site.yaml")
    assert config is not None, problems
    specs = {s.point: s for s in point_specs(config, config.alarms)}
    assert specs["one"].setpoints is specs["two"].setpoints
    assert specs["own"].setpoints is not specs["one"].setpoints
    agent = lookup("h2s")
    for point in ("one", "own"):
        alone = _setpoints(agent, config.alarms.for_point(point), config.alarms.profile,
                           canonical_unit(agent))
        assert specs[point].setpoints == alone
    assert specs["own"].setpoints.alarm == 7.0  # type: ignore[union-attr]
