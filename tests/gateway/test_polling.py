"""run_polled against real pymodbus servers: a device dies, the other keeps flowing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway.committer import Committer
from gateway.driver import PolledDriver
from gateway.modbus.drivers import build_drivers
from gateway.polling import run_polled
from gateway.queue import Queue
from gateway.sink import QueueSink
from occmon.config.schema import ModbusTcpDevice
from occmon.model import Quality, Reading
from tests.gateway.helpers import RecordingSink, bindings_for
from tests.gateway.modbus_server import ModbusTestServer
from tests.gateway.sites import DEMO, load_site
from tests.gateway.test_device import DEMO_REGISTERS

INTERVAL = 0.2


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


def good(readings: list[Reading], after: float) -> list[Reading]:
    return [r for r in readings if r.quality == "good" and r.time > after]


def test_dead_device_goes_offline_other_keeps_flowing_and_it_recovers() -> None:
    config = load_site(DEMO, interval=INTERVAL)
    gas, dust = config.device("gas-panel-1"), config.device("dust-1")
    assert gas.protocol == dust.protocol == "modbus-tcp"
    gas_server = ModbusTestServer(gas.port, {1: DEMO_REGISTERS["gas-panel-1"]})
    dust_server = ModbusTestServer(dust.port, {1: DEMO_REGISTERS["dust-1"]})
    sink = RecordingSink()

    async def scenario() -> dict[str, float]:
        await gas_server.start()
        await dust_server.start()
        drivers = {d.device_id: d for d in build_drivers(config, bindings_for(config), DEMO)}
        tasks = [
            asyncio.create_task(run_polled(drivers[name], sink, stale_after_polls=3))
            for name in ("gas-panel-1", "dust-1")
        ]
        try:
            await until(lambda: bool(good(sink.of_device("gas-panel-1"), 0)), 10)
            await until(lambda: bool(good(sink.of_device("dust-1"), 0)), 10)

            stopped = time.time()
            await gas_server.stop()
            await until(
                lambda: any(r.reason == "device-offline" for r in sink.of_device("gas-panel-1")),
                10,
            )
            first_bad = min(
                r.time for r in sink.of_device("gas-panel-1") if r.reason == "device-offline"
            )
            # the other device keeps flowing while this one is dead
            await until(lambda: len(good(sink.of_device("dust-1"), first_bad)) >= 6, 10)

            restarted = time.time()
            await gas_server.start()
            await until(lambda: bool(good(sink.of_device("gas-panel-1"), restarted)), 20)
            return {"stopped": stopped, "first_bad": first_bad, "restarted": restarted}
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            for driver in drivers.values():
                await driver.close()
            await gas_server.stop()
            await dust_server.stop()

    times = asyncio.run(scenario())
    # offline within 3 poll intervals (plus slack for a loaded 2-core machine)
    assert times["first_bad"] - times["stopped"] <= 3 * INTERVAL + 1.0
    gas_readings = sink.of_device("gas-panel-1")
    offline = [r for r in gas_readings if r.reason == "device-offline"]
    assert all(r.quality == "bad" and r.value is None for r in offline)
    assert all(r.sensor == "gp1-h2s" and r.point == "desulf-h2s-1" for r in offline)
    # no good reading between the outage being declared and the restart
    assert not [r for r in good(gas_readings, times["first_bad"]) if r.time < times["restarted"]]
    gas_statuses = [(s.online, s.reason) for s in sink.statuses if s.device == "gas-panel-1"]
    assert gas_statuses[0] == (True, None)
    assert gas_statuses[1][0] is False and gas_statuses[1][1] is not None
    assert gas_statuses[2:] == [(True, None)]
    dust_statuses = [s.online for s in sink.statuses if s.device == "dust-1"]
    assert dust_statuses == [True]


def test_first_poll_failing_sends_offline_at_once_with_bad_readings() -> None:
    config = load_site(DEMO, interval=INTERVAL)  # nothing listens on these ports
    sink = RecordingSink()

    async def scenario() -> None:
        driver = build_drivers(config, bindings_for(config), DEMO)[2]  # dust-1
        task = asyncio.create_task(run_polled(driver, sink))
        try:
            await until(lambda: len(sink.batches) >= 3, 10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await driver.close()

    asyncio.run(scenario())
    assert [(s.device, s.online) for s in sink.statuses] == [("dust-1", False)]
    for batch in sink.batches:
        assert sorted((r.sensor, r.reason) for r in batch) == [
            ("d1-resp", "device-offline"),
            ("d1-total", "device-offline"),
        ]


class FakeDriver:
    """A driver whose poll takes a fixed time: the schedule must not drift by it."""

    device_id = "slow"
    interval = 0.1

    def __init__(self) -> None:
        self.starts: list[float] = []

    async def poll(self, now: float) -> list[Reading]:
        self.starts.append(time.monotonic())
        await asyncio.sleep(0.05)
        return []

    def offline_readings(self, now: float, reason: str) -> list[Reading]:
        return []

    async def close(self) -> None:
        return None


def test_schedule_does_not_drift() -> None:
    driver = FakeDriver()

    async def scenario() -> None:
        task = asyncio.create_task(run_polled(driver, RecordingSink()))
        await until(lambda: len(driver.starts) >= 21, 20)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    span = driver.starts[20] - driver.starts[0]
    # 20 intervals of 0.1 s = 2.0 s; a schedule that drifts by the poll's own 0.05 s would
    # take at least 3.0 s. A loaded machine may skip a few ticks (0.1 s each), hence 2.7.
    assert 2.0 - 0.05 <= span < 2.7
    gaps = [b - a for a, b in zip(driver.starts, driver.starts[1:], strict=False)]
    assert min(gaps) > 0.07  # skipped ticks are skipped, not bunched


class SwallowingDriver(FakeDriver):
    """Swallows a cancel as Python 3.11's wait_for does when its future is already done."""

    swallow = True

    async def poll(self, now: float) -> list[Reading]:
        self.starts.append(time.monotonic())
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if not self.swallow:
                raise
        return []


def test_a_cancel_swallowed_inside_the_driver_still_ends_the_task() -> None:
    driver = SwallowingDriver()

    async def scenario() -> bool:
        task = asyncio.create_task(run_polled(driver, RecordingSink()))
        await until(lambda: len(driver.starts) >= 2, 10)
        while not driver.starts or time.monotonic() - driver.starts[-1] > 0.02:
            await asyncio.sleep(0.005)  # cancel while a poll is in progress
        polls = len(driver.starts)
        task.cancel()
        await asyncio.wait([task], timeout=5)
        ended = task.done()
        if not ended:  # leave no task behind whatever the outcome
            driver.swallow = False
            task.cancel()
            await asyncio.wait([task], timeout=1)
        return ended and task.cancelled() and len(driver.starts) == polls

    assert asyncio.run(scenario())


def test_the_wake_up_grid_keeps_a_slot_to_about_25_polls() -> None:
    from gateway.polling import wake_quantum

    assert wake_quantum(1.0) == wake_quantum(1.0, 100) == 0.1  # 10 polls a slot
    assert wake_quantum(1.0, 500) == 0.05  # 25 a slot, not 50
    assert wake_quantum(0.5, 0) == 0.05  # a tenth of the interval at most
    assert wake_quantum(1.0, 5000) == 0.005  # 5,000 devices: 25 a slot
    assert wake_quantum(1.0, 100_000) == 0.005  # never finer than 200 wake-ups a second
    assert wake_quantum(60.0, 600) == 0.1  # slow polls: the coarsest grid


class _Instant:
    """A driver that answers at once with nothing: only the wake-ups are exercised."""

    def __init__(self, n: int) -> None:
        self.device_id, self.interval = f"d{n}", 1.0
        self.poll_phase = n / 500  # staggered: one device every 2 ms
        self.polls: list[float] = []

    async def poll(self, now: float) -> list[Reading]:
        self.polls.append(time.monotonic())
        return []

    def offline_readings(self, now: float, reason: str) -> list[Reading]:
        return []


def test_500_staggered_devices_wake_in_slots_of_about_25() -> None:
    drivers = [_Instant(n) for n in range(500)]

    async def scenario() -> None:
        tasks = [asyncio.create_task(run_polled(d, RecordingSink(), peers=500))
                 for d in drivers]
        await asyncio.sleep(2.6)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(scenario())
    # the second second's polls, grouped by the loop turn (moment) they went out in
    moments = sorted(t for d in drivers for t in d.polls[1:3])
    start = moments[0]
    second = [t for t in moments if start + 0.5 <= t < start + 1.5]
    slots: list[list[float]] = []
    for t in second:
        if slots and t - slots[-1][0] < 0.004:  # one wake-up's burst
            slots[-1].append(t)
        else:
            slots.append([t])
    assert len(second) >= 450
    # ~25 a slot (at 100 ms it was 50); the median, so one stalled loop turn that joins
    # two slots on a loaded machine does not decide it
    sizes = sorted(len(s) for s in slots)
    assert sizes[len(sizes) // 2] <= 30
    assert len(slots) >= 12  # ~20 wake-ups a second


class HangingDriver(FakeDriver):
    """Polls that hang (``hang`` of them), e.g. a driver stuck on a lock: the bound of
    ``run_polled`` must end each one as a timeout and keep the schedule going.
    ``swallow``: the poll swallows the cancel and returns, as 3.11's wait_for can."""

    device_id = "hanging"
    interval = 0.1

    def __init__(self, hang: int, swallow: bool = False) -> None:
        super().__init__()
        self.hang, self.swallow = hang, swallow
        self.ended: list[str] = []

    async def poll(self, now: float) -> list[Reading]:
        self.starts.append(time.monotonic())
        if len(self.starts) > self.hang:
            return []
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            if not self.swallow:
                raise
        return []

    def offline_readings(self, now: float, reason: str) -> list[Reading]:
        return [Reading("p", "h2s", now, None, "mg/m3", Quality.BAD, reason=reason)]


def test_a_hung_poll_ends_as_a_timeout_on_its_bound_and_polling_goes_on() -> None:
    """``stale_after_polls=1``: the bound is max(0.1 s x 1, 1 s) = 1 s a poll."""
    from gateway.polling import counters

    driver = HangingDriver(hang=2)
    sink = RecordingSink()

    async def scenario() -> bool:
        before = counters["poll-timeout"]
        task = asyncio.create_task(run_polled(driver, sink, stale_after_polls=1))
        await until(lambda: len(driver.starts) >= 5, 10)
        timeouts = counters["poll-timeout"] - before
        task.cancel()
        await asyncio.wait([task], timeout=5)
        return task.cancelled() and timeouts == 2

    assert asyncio.run(scenario())
    assert driver.ended == ["cancelled", "cancelled"]
    first, second, third = driver.starts[:3]
    assert 1.0 <= second - first < 1.5 and 1.0 <= third - second < 1.5  # ended on the bound
    assert [(s.online, s.reason) for s in sink.statuses][:2] == [(False, "timeout"),
                                                                 (True, None)]
    assert [r.reason for batch in sink.batches for r in batch] == ["device-offline"] * 2


def test_a_poll_that_swallows_its_timeout_leaves_the_task_polling() -> None:
    """The cancel was the bound's: taken back, the task is not left cancelled."""
    driver = HangingDriver(hang=1, swallow=True)

    async def scenario() -> tuple[int, bool]:
        task = asyncio.create_task(run_polled(driver, RecordingSink(), stale_after_polls=1))
        await until(lambda: len(driver.starts) >= 4, 10)
        cancelling = task.cancelling()
        task.cancel()
        await asyncio.wait([task], timeout=5)
        return cancelling, task.cancelled()

    assert asyncio.run(scenario()) == (0, True)
    assert driver.ended == ["cancelled"]
    assert 1.0 <= driver.starts[1] - driver.starts[0] < 1.5


# -- polls in flight: the committer holds a slot's burst for its last poll ---------------------


class Late:
    """A real device whose readings are handed over ``delay`` s after its answer, so the
    polls of one slot finish spread over more than the committer's linger."""

    def __init__(self, driver: PolledDriver, delay: float) -> None:
        self.driver, self.delay = driver, delay
        self.device_id, self.interval = driver.device_id, driver.interval

    async def poll(self, now: float) -> Sequence[Reading]:
        readings = await self.driver.poll(now)
        await asyncio.sleep(self.delay)
        return readings

    def offline_readings(self, now: float, reason: str) -> list[Reading]:
        return list(self.driver.offline_readings(now, reason))

    async def close(self) -> None:
        await self.driver.close()


def test_polls_that_go_out_together_are_committed_together_after_the_last_answer(
        tmp_path: Path) -> None:
    config = load_site(DEMO, interval=1.0)
    gas, dust = config.device("gas-panel-1"), config.device("dust-1")
    assert isinstance(gas, ModbusTcpDevice) and isinstance(dust, ModbusTcpDevice)
    gas_server = ModbusTestServer(gas.port, {1: DEMO_REGISTERS["gas-panel-1"]})
    dust_server = ModbusTestServer(dust.port, {1: DEMO_REGISTERS["dust-1"]})
    queue = Queue(tmp_path / "q.db")
    commits: list[int] = []

    async def scenario() -> int:
        await gas_server.start()
        await dust_server.start()
        committer = Committer(queue, on_commit=lambda: commits.append(len(queue.peek(100))),
                              linger=0.005, hold=2.0)
        sink = QueueSink(committer, "plant-a")
        drivers = {d.device_id: d for d in build_drivers(config, bindings_for(config), DEMO)}
        late = [Late(drivers["gas-panel-1"], 0.0), Late(drivers["dust-1"], 0.08)]
        tasks = [asyncio.create_task(run_polled(d, sink, in_flight=committer)) for d in late]
        try:
            await until(lambda: bool(commits) and commits[-1] >= 4, 10)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for driver in drivers.values():
                await driver.close()
            await gas_server.stop()
            await dust_server.stop()
        return committer.in_flight

    assert asyncio.run(scenario()) == 0  # the stop finished every poll it cut
    # each device's online status and first poll, 80 ms apart, in one commit (the linger
    # alone would have cut it after the first device's)
    assert commits[0] == 4
    rows = queue.peek(10)
    assert sorted(row.kind for row in rows) == ["batch", "batch", "status", "status"]
    assert {row.topic.rsplit("/", 1)[-1] for row in rows if row.kind == "status"} == {
        "gas-panel-1", "dust-1"}
    queue.close()


class Counting:
    """An ``InFlight`` that keeps the order of what it is told and of the hand-overs."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def poll_started(self) -> None:
        self.seen.append("started")

    def poll_finished(self) -> None:
        self.seen.append("finished")


class Seen(RecordingSink):
    def __init__(self, seen: list[str]) -> None:
        super().__init__()
        self.seen = seen

    def readings(self, batch: Sequence[Reading]) -> None:
        self.seen.append("readings")
        super().readings(batch)


def test_every_poll_is_finished_once_timed_out_answered_or_cut_by_a_stop() -> None:
    seen: list[str] = []
    driver = HangingDriver(hang=1)  # a timeout, then answers (no readings)

    async def scenario() -> None:
        task = asyncio.create_task(run_polled(driver, Seen(seen), stale_after_polls=1,
                                              in_flight=Counting(seen)))
        await until(lambda: len(driver.starts) >= 3, 10)
        driver.hang = 10  # the next poll hangs and the stop cuts it
        await until(lambda: len(driver.starts) >= 4, 10)
        task.cancel()
        await asyncio.wait([task], timeout=5)

    asyncio.run(scenario())
    # the timeout's bad readings are handed over before its poll counts as finished
    assert seen[:3] == ["started", "readings", "finished"]
    assert seen.count("started") == seen.count("finished") == len(driver.starts)
    assert seen[-2:] == ["started", "finished"]  # the poll the stop cut
