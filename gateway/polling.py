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

Reconnecting is the driver's business (the Modbus hub backs off, and a poll during the
back-off fails at once), so the schedule keeps running through an outage. Every poll is
also bounded here, so a driver that hangs counts as a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from gateway.driver import DeviceOffline, DeviceStatus, PolledDriver, Sink
from occmon.model import Reading, Reason

log = logging.getLogger(__name__)

counters: Counter[str] = Counter()  # process-wide: driver-error, sink-error, poll-timeout


async def run_polled(
    driver: PolledDriver,
    sink: Sink,
    *,
    stale_after_polls: int = 3,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Poll ``driver`` forever at its interval; cancel the task to stop it.

    The driver is not closed here: its owner closes it (devices may share a connection).
    """
    interval = driver.interval
    poll_timeout = max(interval * stale_after_polls, 1.0)
    online: bool | None = None
    failures = 0
    start = monotonic()
    tick = 0
    while True:
        now = clock()
        reason: str | None = None
        readings: list[Reading] = []
        try:
            async with asyncio.timeout(poll_timeout):
                readings = await driver.poll(now)
        except DeviceOffline as exc:
            reason = exc.reason
        except TimeoutError:
            reason = "timeout"
            counters["poll-timeout"] += 1
        except Exception:  # a driver bug must not end the task or the process
            reason = "driver-error"
            counters["driver-error"] += 1
            log.exception("device %s: poll failed", driver.device_id)
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
                log.warning("device %s offline: %s", driver.device_id, reason)
                _emit_status(sink, DeviceStatus(driver.device_id, False, now, reason))
            if online is False:
                _emit_readings(sink, driver, driver.offline_readings(now, Reason.DEVICE_OFFLINE))
        tick = max(tick + 1, int((monotonic() - start) / interval) + 1)
        await asyncio.sleep(max(0.0, start + tick * interval - monotonic()))


def _emit_readings(sink: Sink, driver: PolledDriver, readings: list[Reading]) -> None:
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
