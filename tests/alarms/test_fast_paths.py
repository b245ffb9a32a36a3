"""The alarm hot path's shortcuts give exactly what the plain paths give.

``AlarmEngine.observe`` (the gateway's per-reading call) against ``handle(Sample(...))``,
``point_snapshot`` and ``condition`` against ``snapshot()`` and ``conditions()``, and the
events' and snapshots' ``to_dict`` against ``dataclasses.asdict``; and, in the gateway's
safety shell, a point whose alarms are switched off never reaches the engine while a point
with set-points raises its alarm.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.alarms.actions import AlarmEvent
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.events import Sample, Tick
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
