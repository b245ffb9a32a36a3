"""One dead unit never costs the others their polls, on every link kind.

Eight toxic-gas detectors share one connection; the server answers for five and is silent
for three. Polled for real with ``build_drivers`` + ``run_polled`` at 1 Hz (as in
bench/shared_bus.py, which runs longer), the five keep every poll, the three go offline,
and the connection is dialled once: a silent unit is not a transport failure.

A silent unit costs 0.5 s of bus time per poll here (a 0.25 s timeout, tried twice), the
three 1.5 s: when every request queued in turn, a live unit's polls waited behind all three
and lost most of their 1 Hz ticks. Now a poll's requests go out back to back (so even the
first round, before anyone knows who is dead, is served in order), and a silent unit is
asked again only as its back-off allows, after the live units due at the same moment,
one silent unit per spell. Only the first round's silent requests (1.5 s) can still
delay the second round's live polls, by up to 0.5 s.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from gateway.modbus.buslock import BusLock
from gateway.modbus.codec import encode
from gateway.modbus.drivers import build_drivers
from gateway.modbus.hub import HubOffline, ModbusHub, default_client
from gateway.modbus.plan import ReadRequest
from gateway.polling import run_polled
from occmon.config.schema import ModbusTcpDevice
from tests.gateway.helpers import RecordingSink, bindings_for
from tests.gateway.shared_bus_rig import LINKS, LIVE, SILENT, CountedPolls, bus, site

INTERVAL = 1.0
SECONDS = 5.0
HERE = Path(__file__)


LAG = {"worst": 0.0}  # the test loop's worst lateness in the last poll_for (a stalled machine)


async def _watch_lag(step: float = 0.02) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(step)
        LAG["worst"] = max(LAG["worst"], loop.time() - start - step)


async def poll_for(link: str, seconds: float, **timing: float) -> tuple[
        dict[int, CountedPolls], dict[str, int], RecordingSink, int]:
    """Poll the eight units for ``seconds``; (polls by unit, hub counters, sink, hubs)."""
    LAG["worst"] = 0.0
    watch = asyncio.create_task(_watch_lag())
    try:
        return await _poll_for(link, seconds, **timing)
    finally:
        watch.cancel()


async def _poll_for(link: str, seconds: float, **timing: float) -> tuple[
        dict[int, CountedPolls], dict[str, int], RecordingSink, int]:
    async with bus(link) as endpoint:
        config = site(link, endpoint, interval=INTERVAL, timeout=0.25, retries=1, **timing)
        drivers = build_drivers(config, bindings_for(config), HERE)
        counted = {d.config.unit_id: CountedPolls(d) for d in drivers}
        sink = RecordingSink()
        tasks = [asyncio.create_task(run_polled(c, sink)) for c in counted.values()]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        counters: dict[str, Any] = dict(drivers[0].hub.counters)
        hubs = len({id(d.hub) for d in drivers})
        for driver in drivers:
            await driver.close()
    return counted, counters, sink, hubs


@pytest.mark.parametrize("link", LINKS)
def test_five_live_units_keep_every_poll_while_three_are_silent(link: str) -> None:
    counted, counters, sink, hubs = asyncio.run(poll_for(link, SECONDS))
    assert hubs == 1
    ticks = math.floor(SECONDS / INTERVAL)  # polls due in the window, the first at 0
    # A stall of the whole test process (a loaded CI machine) of most of an interval delays
    # every unit's next poll past the window's end or skips its tick: that is the machine,
    # not the bus, so such a run may lose that one poll (seen in CI: 4 of 5). Silent units
    # starving live ones cost most of their ticks (see the docstring), which this still fails.
    if LAG["worst"] >= 0.5:
        ticks -= math.ceil(LAG["worst"] / INTERVAL)
    # a DTU dials in: its first poll (which starts the listener) finds no DTU yet
    lost = 1 if link == "dtu" else 0
    for unit in LIVE:
        polls = counted[unit]
        assert polls.polls >= ticks, (unit, polls.polls)
        # every poll answered (one may still be on the wire when the window closes)
        assert polls.failures.total() <= lost, (unit, dict(polls.failures))
        assert polls.good >= polls.polls - lost - 1, (unit, polls.good, polls.polls)
        assert max(polls.durations) < INTERVAL, (unit, max(polls.durations))
        # past the first round (nobody knew who was dead) a live poll never waits behind
        # a silent unit's request: those go after the live ones, one per spell
        assert max(polls.durations[2:]) < 0.25, (unit, polls.durations)
    for unit in SILENT:
        assert counted[unit].good == 0
        statuses = [s for s in sink.statuses if s.device == f"unit-{unit}"]
        assert statuses and not statuses[-1].online
    assert counters["connects"] == 1  # never re-dialled because of a silent unit
    assert counters.get("all-units-silent", 0) == 0
    # each silent unit was asked a few times (back-off 0.5, 1, 2 s), not at every poll
    assert 3 <= counters["unit-silent"] <= len(SILENT) * 4
    assert counters["unit-backoff"] > 0


def test_inter_request_delay_keeps_the_line_quiet_between_requests() -> None:
    """20 ms between requests: each live poll (two requests) takes at least one gap."""
    counted, counters, _, _ = asyncio.run(
        poll_for("rtu-tcp", 2.2, inter_request_delay=0.02, delay_after_connect=0.1))
    assert counters["connects"] == 1
    assert counters["paced"] > 0
    first = min(min(counted[u].durations) for u in LIVE)
    assert first >= 0.02  # the second request of a poll waited its gap
    for unit in LIVE:
        assert not counted[unit].failures and counted[unit].good >= 2


def test_a_connection_on_which_no_unit_answers_is_dialled_again() -> None:
    """One silent unit never closes the connection (above); but when no unit at all has
    answered for three requests per unit seen, the socket itself is suspect (a half-open
    TCP connection answers nothing) and is dialled again."""

    async def main() -> tuple[int, int, list[int]]:
        async with bus("tcp") as endpoint:
            config = ModbusTcpDevice.model_validate({
                "id": "probe", "protocol": "modbus-tcp", "profile": "toxic-gas-detector",
                "timeout": 0.05, "retries": 0, **endpoint})
            hub = ModbusHub("probe", lambda: default_client(config), call_timeout=1.0,
                            unit_backoff_initial=0.0, unit_backoff_cap=0.0)
            request = ReadRequest("holding", 0, 2, ())
            try:
                for _ in range(3):  # unit 7 is the only unit this hub has seen
                    with pytest.raises(HubOffline):
                        await hub.read(request, 7)
                    await asyncio.sleep(0.12)  # past the spell after a silent request
                redials = hub.counters["all-units-silent"]
                assert 0 < hub.retry_in <= 0.5  # the usual reconnect back-off
                await asyncio.sleep(hub.retry_in + 0.05)
                words = await hub.read(request, 1)  # a new connection
                return redials, hub.counters["connects"], words
            finally:
                await hub.close()

    redials, connects, words = asyncio.run(main())
    assert (redials, connects) == (1, 2)
    assert words == encode(1.0, "FLOAT32", "ABCD")


def test_a_failing_units_request_waits_behind_polls_and_writes() -> None:
    async def main() -> list[str]:
        lock = BusLock()
        order: list[str] = []

        async def take(name: str, **kind: bool) -> None:
            async with lock.hold(**kind):
                order.append(name)

        await lock.acquire()  # a request on the wire
        tasks = [asyncio.create_task(take("probe", background=True)),
                 asyncio.create_task(take("poll")),
                 asyncio.create_task(take("write", urgent=True))]
        await asyncio.sleep(0)  # all three queued, the probe first
        lock.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(main()) == ["write", "poll", "probe"]
