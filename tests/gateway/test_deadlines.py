"""gateway/deadlines.py: many timeouts on one loop timer, on a real event loop's clock."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.deadlines import Deadlines, deadlines


def test_each_fires_at_its_time_or_after_and_a_discarded_one_never() -> None:
    async def main() -> tuple[dict[int, float], dict[int, float], Deadlines]:
        loop = asyncio.get_running_loop()
        timeouts = Deadlines(loop)
        rng = random.Random(7)
        wanted: dict[int, float] = {}
        fired: dict[int, float] = {}
        for key in range(200):
            delay = rng.uniform(0.0, 0.3)
            wanted[key] = loop.time() + delay
            timeouts.add(key, delay, lambda k: fired.__setitem__(k, loop.time()))
        for key in range(0, 200, 3):  # answered in time
            timeouts.discard(key)
            del wanted[key]
        timeouts.add(1, 0.35, lambda k: fired.__setitem__(k, loop.time()))  # pushed back
        wanted[1] += 10.0  # checked on its own below
        await asyncio.sleep(0.5)
        return wanted, fired, timeouts

    wanted, fired, timeouts = asyncio.run(main())
    assert set(fired) == set(wanted) and len(timeouts) == 0
    for key, when in wanted.items():
        if key != 1:
            assert fired[key] >= when, key  # never early
    assert fired[1] >= wanted[1] - 10.0 + 0.05  # the later deadline, not the first


def test_answers_in_time_cost_about_one_timer_per_timeout_period() -> None:
    """1,000 timeouts of 0.2 s, each answered 1 ms later, over 0.5 s: no timer each."""
    async def main() -> tuple[int, list[int]]:
        timeouts = deadlines()
        fired: list[int] = []
        for key in range(1000):
            timeouts.add(key, 0.2, fired.append)
            if key % 2:
                await asyncio.sleep(0.001)
            timeouts.discard(key)
        return timeouts.timers, fired

    timers, fired = asyncio.run(main())
    assert fired == []
    assert timers <= 10, timers


def test_a_failing_callback_leaves_the_others_and_the_timer_running(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> list[str]:
        timeouts = deadlines()
        fired: list[str] = []

        def boom(key: str) -> None:
            raise RuntimeError(key)

        timeouts.add("bad", 0.01, boom)
        timeouts.add("good", 0.01, fired.append)
        timeouts.add("later", 0.05, fired.append)
        await asyncio.sleep(0.1)
        return fired

    assert asyncio.run(main()) == ["good", "later"]
    assert "deadline callback failed" in caplog.text


def test_a_callback_may_add_and_discard() -> None:
    async def main() -> list[str]:
        timeouts = deadlines()
        fired: list[str] = []

        def again(key: str) -> None:
            fired.append(key)
            timeouts.discard("second")  # due in the same turn: discarded before its call
            if key == "first":
                timeouts.add("third", 0.02, fired.append)

        timeouts.add("first", 0.01, again)
        timeouts.add("second", 0.01, fired.append)
        await asyncio.sleep(0.1)
        return fired

    assert asyncio.run(main()) == ["first", "third"]
