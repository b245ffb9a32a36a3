"""``occmon.batch.GoodBatch``: a poll's good readings as columns, and the gateway's two hot
consumers of it, which must give exactly what the per-reading way gives.

- the batch itself: indexing, slicing, iteration, equality, pickling are those of the list
  of ``Reading`` objects it stands for;
- ``occmon.payload_v2.Encoder.group``: the same bytes and series for the batch and the list,
  also when a value is not exact in float32 (the batch then takes the per-reading way);
- ``gateway.safety.Safety.readings``: on random sequences through the alarm set-points
  (and a sender clock running ahead), the same alarm events, engine state and counters.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.committer import Committer
from gateway.normalise import Prepared
from gateway.queue import Entry, Queue
from gateway.safety import Safety
from occmon.batch import GoodBatch, SeriesTable
from occmon.config.loader import load
from occmon.model import Quality, Reading
from occmon.payload_v2 import Encoder
from tests.gateway.helpers import bindings_for
from tests.gateway.sites import DEMO

T = 1_790_000_000.25
CONFIG = load(DEMO)
BINDINGS = bindings_for(CONFIG)
# H2S (desulf-h2s-1: alarms, in the ventilation unit's zone) and dust (no ventilation)
PREPARED = [Prepared(BINDINGS["gp1-h2s"], "ppm"), Prepared(BINDINGS["d1-total"], "mg/m3"),
            Prepared(BINDINGS["d1-resp"], "mg/m3")]
TABLE = SeriesTable([p.key for p in PREPARED])


def batch(time: float, raws: list[float]) -> GoodBatch:
    values = [p.good(raw) for p, raw in zip(PREPARED, raws, strict=True)]
    assert all(v is not None for v in values), raws
    return GoodBatch(TABLE, time, [v for v in values if v is not None], raws)


def per_reading(time: float, raws: list[float]) -> list[Reading]:
    return [p(raw, time) for p, raw in zip(PREPARED, raws, strict=True)]


def test_the_batch_is_the_list_of_its_readings() -> None:
    raws = [12.34, 3.5, 1.25]
    got, expected = batch(T, raws), per_reading(T, raws)
    assert [r.quality for r in expected] == [Quality.GOOD] * 3
    assert len(got) == 3 and list(got) == expected and got == expected
    assert got == tuple(expected) and got == batch(T, raws)
    assert got != per_reading(T + 1, raws)
    assert [got[i] for i in range(-3, 3)] == expected[-3:] + expected
    assert got[1:] == expected[1:] and got[::-1] == expected[::-1]
    with pytest.raises(IndexError):
        got[3]
    assert pickle.loads(pickle.dumps(got)) == expected
    with pytest.raises(TypeError):
        hash(got)
    with pytest.raises(ValueError, match="3 series got 2 values"):
        GoodBatch(TABLE, T, [1.0, 2.0], [1.0, 2.0])


@settings(max_examples=200, deadline=None)
@given(raws=st.lists(st.floats(min_value=0.0, max_value=40.0), min_size=3, max_size=3),
       time=st.floats(min_value=1.6e9, max_value=2.0e9))
def test_encoder_bytes_and_series_of_the_batch_equal_the_lists(raws: list[float],
                                                               time: float) -> None:
    """Most of these values are not exact as float32: the batch falls back, same bytes."""
    from_batch, from_list = Encoder(), Encoder()
    for shift in (0.0, 1.0):  # a second group: the series ids come from the table's cache
        assert from_batch.group(batch(time + shift, raws)) == from_list.group(
            per_reading(time + shift, raws))
    assert from_batch.bodies == from_list.bodies and from_batch.unsaved == from_list.unsaved


def test_encoder_of_float32_exact_values_packs_the_batch_in_one_call() -> None:
    raws = [12.5, 3.5, 1.25]  # exact as float32; the H2S value converted is not
    exact = [p.good(r) for p, r in zip(PREPARED, raws, strict=True)]
    values = [0.5, 3.5, 1.25]
    got = GoodBatch(TABLE, T, values, raws)  # as a device with ppm-free agents would give
    assert Encoder().group(got) == Encoder().group(list(got))
    assert exact[1:] == values[1:]


class Recording(Committer):
    """A real committer that also keeps every entry handed to it."""

    def __init__(self, queue: Queue) -> None:
        super().__init__(queue)
        self.entries: list[Entry] = []

    def add(self, entries: Sequence[Entry], *, prompt: bool = False) -> None:
        self.entries += entries
        super().add(entries, prompt=prompt)


def _body(entry: Entry) -> object:
    doc = json.loads(entry.payload)
    doc.pop("id", None)  # the gateway's event ids carry its start time
    return entry.topic, entry.kind, doc


def _run(tmp_path: Path, steps: list[tuple[float, list[float]]], *,
         clock: float | None, columns: bool) -> tuple[object, ...]:
    async def main() -> tuple[object, ...]:
        queue = Queue(tmp_path / ("columns.db" if columns else "list.db"))
        committer = Recording(queue)
        try:
            moments = iter(range(10**9))
            safety = Safety(CONFIG, committer, [], clock=lambda: (
                clock if clock is not None else T + next(moments)))
            for time, raws in steps:
                safety.readings(batch(time, raws) if columns else per_reading(time, raws))
            engine = safety.engine
            return ([a.to_dict() for a in engine.alarms()],
                    {k: v.to_dict() for k, v in engine.snapshot().items()},
                    dict(safety.counters), dict(engine.counters),
                    [_body(e) for e in committer.entries])
        finally:
            queue.close()

    return asyncio.run(main())


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(min_value=0.0, max_value=5.0),
                                st.lists(st.floats(min_value=0.0, max_value=30.0),
                                         min_size=3, max_size=3)),
                      min_size=1, max_size=25),
       ahead=st.booleans())
def test_the_alarm_shell_judges_the_batch_as_the_list(tmp_path_factory: pytest.TempPathFactory,
                                                       steps: list[tuple[float, list[float]]],
                                                       ahead: bool) -> None:
    """H2S 0-30 ppm crosses every set-point (5/10/20 mg/m3 = 3.5/7/14 ppm); time steps of
    0-5 s cross the on-delays; ``ahead``: the gateway's clock is behind every sample, so
    each time is capped (and counted) the same way."""
    tmp_path = tmp_path_factory.mktemp("shell")
    timeline, time = [], T
    for step, raws in steps:
        time += step
        timeline.append((time, raws))
    clock = T - 10.0 if ahead else None
    assert _run(tmp_path, timeline, clock=clock, columns=True) == _run(
        tmp_path, timeline, clock=clock, columns=False)
