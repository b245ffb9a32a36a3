"""Run one polled device: one asyncio task each, so a dead device never blocks the others.

The loop keeps a fixed schedule (tick ``n`` is due at ``start + n * interval`` on the
monotonic clock, so a slow poll does not push every later one back; ticks missed while a
poll overran are skipped, not bunched). Each poll's readings go to ``sink.readings``.

Device health is a small state machine:

- the first poll decides the first status, which is always sent (online or offline);
- ``stale_after_polls`` consecutive failed polls make an online device offline: a status
  and, from then on, one BAD ``device-offline`` reading per bound sensor per interval, so
  the gap is explicit in the store, never silent;
- the first good poll makes it online again (a status, then readings as usual).

Wake-ups are shared: a poll due at ``t`` waits for the first slot of a fixed grid at or
after ``t``, and all the tasks due in one slot wake in one event-loop turn from one timer,
so their requests go out and their responses come back in bursts that one ``epoll_wait``
serves. The grid (``wake_quantum``) is at most ``WAKE_QUANTUM`` (100 ms) and a tenth of the
interval, and fine enough that a slot holds about ``WAKE_BURST`` (25) of the gateway's polls
at that interval: 100 devices at 1 Hz wake 10 times a second, 10 polls each; 500 devices
20 times a second, 25 each, instead of 500 wake-ups (bench/modbus_poll.py: polling every
device on its own timer costs about twice the CPU). The burst is bounded because its
responses are handled one after the other: at 100 ms, 50 polls a slot put ~20 ms between
the last device's answer and its reading reaching the broker (bench/gateway_path.py, p99),
against ~13 ms at 25 a slot for about a tenth more CPU. A poll starts at most one quantum
late; the schedule itself stays exact, with no drift.

A driver with a ``poll_phase`` (Modbus devices on a connection with ``stagger: auto``,
``gateway/modbus/stagger.py``) is polled at ``k * interval + phase * interval`` on the
monotonic clock from its second poll on (the first goes out at once, as always, and the
second at the first such moment at least half an interval later), so devices started
together are spread over the interval instead of all polling in the same instant every
interval (then on the wake-up grid above).

Each poll is bracketed for the gateway's committer (``in_flight``: ``poll_started``, then
``poll_finished`` once its readings or its failure are handed over, whatever ends it), so
the polls of one slot are committed and published together when the last one is done
(``gateway.committer``).

Log lines about one device (offline, a driver error with its traceback) are written once a
minute per reason with the count of repeats (``gateway.logthrottle``): a device that flaps
or fails every poll must not fill the edge box's disk. The counters keep every occurrence.

Reconnecting is the driver's business (the Modbus hub backs off, and a poll during the
back-off fails at once), so the schedule keeps running through an outage. Every poll is
also bounded here, so a driver that hangs counts as a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from gateway.deadlines import deadlines
from gateway.driver import DeviceOffline, DeviceStatus, PolledDriver, Sink
from gateway.logthrottle import Throttle, ThrottledLog
from occmon.model import Reading, Reason

log = logging.getLogger(__name__)

counters: Counter[str] = Counter()  # process-wide: driver-error, sink-error, poll-timeout

WAKE_QUANTUM = 0.1  # s: the coarsest grid shared wake-ups are rounded up to
WAKE_BURST = 25  # polls a slot of the grid should hold (on average), for latency
MIN_WAKE_QUANTUM = 0.005  # s: the finest grid (200 wake-ups a second)


class InFlight(Protocol):
    """Told when a poll starts and when it has handed over what it read (or its failure):
    ``gateway.committer.Committer`` holds a commit until the polls in flight are done."""

    def poll_started(self) -> None: ...

    def poll_finished(self) -> None: ...


class Wakeups:
    """One timer per occupied grid slot, shared by every poll task due in it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, quantum: float) -> None:
        self.loop = loop
        self.quantum = quantum
        self._slots: dict[int, list[asyncio.Future[None]]] = {}

    def sleep_until(self, when: float) -> asyncio.Future[None]:
        """A future done at the first slot at or after ``when`` (``loop.time()`` clock).

        Each waiter has its own future, so cancelling one task never wakes or cancels the
        others sharing its slot.
        """
        slot = math.ceil(when / self.quantum)
        waiter: asyncio.Future[None] = self.loop.create_future()
        waiting = self._slots.get(slot)
        if waiting is None:
            waiting = self._slots[slot] = []
            self.loop.call_at(slot * self.quantum, self._wake, slot)
        waiting.append(waiter)
        return waiter

    def _wake(self, slot: int) -> None:
        for waiter in self._slots.pop(slot, ()):
            if not waiter.done():
                waiter.set_result(None)


_wakeups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, Wakeups]] = (
    weakref.WeakKeyDictionary()
)


def wake_quantum(interval: float, devices: int = 0) -> float:
    """The wake-up grid for ``devices`` polled every ``interval`` s (0: not known)."""
    quantum = min(WAKE_QUANTUM, interval / 10)
    if devices > WAKE_BURST:
        quantum = max(MIN_WAKE_QUANTUM, min(quantum, interval * WAKE_BURST / devices))
    return quantum


def wakeups(interval: float, devices: int = 0) -> Wakeups:
    """The running loop's shared wake-ups for polls at ``interval`` (``devices`` of them)."""
    loop = asyncio.get_running_loop()
    quantum = wake_quantum(interval, devices)
    by_quantum = _wakeups.setdefault(loop, {})
    found = by_quantum.get(quantum)
    if found is None:
        found = by_quantum[quantum] = Wakeups(loop, quantum)
    return found


async def run_polled(
    driver: PolledDriver,
    sink: Sink,
    *,
    stale_after_polls: int = 3,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    peers: int = 0,
    in_flight: InFlight | None = None,
) -> None:
    """Poll ``driver`` forever at its interval; cancel the task to stop it.

    ``peers``: how many devices the gateway polls at this interval, this one included
    (sizes the shared wake-up grid; 0 when not known). ``in_flight`` (the gateway's
    committer) is told when each poll starts and when its readings or its failure are
    handed over, so a slot's burst of polls is committed together.
    The driver is not closed here: its owner closes it (devices may share a connection).
    """
    interval = driver.interval
    poll_timeout = max(interval * stale_after_polls, 1.0)
    shared = wakeups(interval, peers)
    loop_time = shared.loop.time
    task = asyncio.current_task()
    cancels = task.cancelling() if task is not None else 0
    online: bool | None = None
    failures = 0
    device_log = ThrottledLog(log, Throttle(clock=monotonic))
    start = monotonic()
    phase = poll_phase(driver)
    if phase is not None:  # staggered (gateway/modbus/stagger.py)
        # The first poll goes out now, as always (a late first sample would eat into the
        # alarm engine's start-up grace); tick 1 is this device's first slot at least half
        # an interval away, and every later tick is on its slot.
        offset = phase * interval
        start = math.ceil((start + interval / 2 - offset) / interval) * interval + offset
        start -= interval
    tick = 0
    # Every poll is bounded: past ``poll_timeout`` the task is cancelled and the poll counts
    # as a timeout, as ``asyncio.timeout`` would do, on the loop's shared deadline timer
    # (gateway/deadlines.py) instead of a timer of its own per poll.
    timeouts = deadlines(shared.loop)
    expired = [False]

    def expire(poll: asyncio.Task[None]) -> None:
        expired[0] = True
        poll.cancel()

    async def attempt(now: float) -> tuple[Sequence[Reading], str | None]:
        """One poll, bounded: its readings, or no readings and the reason it failed."""
        try:
            if task is None:  # not in a task (nothing to cancel): a timer of its own
                async with asyncio.timeout(poll_timeout):
                    return await driver.poll(now), None
            timeouts.add(task, poll_timeout, expire)
            try:
                return await driver.poll(now), None
            except asyncio.CancelledError:
                if not expired[0]:
                    raise  # the gateway stops
                expired[0] = False  # as asyncio.timeout: the cancel was ours, take it back
                if task.uncancel() > cancels:
                    raise  # and a stop came too
                raise TimeoutError from None
            finally:
                timeouts.discard(task)
                if expired[0]:  # the poll ended anyway after our cancel: take it back
                    expired[0] = False
                    task.uncancel()
        except DeviceOffline as exc:
            return (), exc.reason
        except TimeoutError:
            counters["poll-timeout"] += 1
            return (), "timeout"
        except Exception as exc:  # a driver bug must not end the task or the process
            counters["driver-error"] += 1
            device_log.exception(("driver-error", type(exc).__name__),
                                 "device %s: poll failed", driver.device_id)
            return (), "driver-error"

    while True:
        now = clock()
        if in_flight is not None:
            in_flight.poll_started()
        try:
            readings, reason = await attempt(now)
            if reason is None:
                failures = 0
                if online is not True:
                    online = True
                    _emit_status(sink, DeviceStatus(driver.device_id, True, now))
                if readings:
                    _emit_readings(sink, driver, readings)
            else:
                failures += 1
                if online is None or (online and failures >= stale_after_polls):
                    online = False
                    device_log.warning(("offline", reason), "device %s offline: %s",
                                       driver.device_id, reason)
                    _emit_status(sink, DeviceStatus(driver.device_id, False, now, reason))
                if online is False:
                    _emit_readings(sink, driver,
                                   driver.offline_readings(now, Reason.DEVICE_OFFLINE))
        finally:
            if in_flight is not None:
                in_flight.poll_finished()
        if task is not None and task.cancelling() > cancels:
            # Python 3.11's asyncio.wait_for (inside pymodbus) returns its result instead of
            # raising when a cancel meets a response in the same loop turn; without this
            # the task would poll on and never end (a hung gateway stop).
            raise asyncio.CancelledError
        now_monotonic = monotonic()
        tick = max(tick + 1, int((now_monotonic - start) / interval) + 1)
        await shared.sleep_until(loop_time() + start + tick * interval - now_monotonic)


def poll_phase(driver: PolledDriver) -> float | None:
    """The driver's ``poll_phase`` (a fraction of its interval, ``[0, 1)``), if it has one."""
    phase = getattr(driver, "poll_phase", None)
    if phase is None:
        return None
    return float(phase) % 1.0


def _emit_readings(sink: Sink, driver: PolledDriver, readings: Sequence[Reading]) -> None:
    if not readings:
        return
    try:
        sink.readings(readings)
    except Exception:
        counters["sink-error"] += 1
        log.exception("device %s: sink refused %d readings", driver.device_id, len(readings))


def _emit_status(sink: Sink, status: DeviceStatus) -> None:
    try:
        sink.status(status)
    except Exception:
        counters["sink-error"] += 1
        log.exception("device %s: sink refused a status", status.device)
