"""The hub's bus lock: one request at a time, and a queued write is the next one sent."""

from __future__ import annotations

import asyncio

import pytest
from pymodbus.client import AsyncModbusTcpClient

from gateway.modbus.buslock import BusLock
from gateway.modbus.hub import ModbusHub
from gateway.modbus.plan import ReadRequest
from tests.gateway.modbus_server import ModbusTestServer
from tests.servers import free_port


async def _order(lock: BusLock, plan: list[tuple[str, bool]]) -> list[str]:
    done: list[str] = []
    gate = asyncio.Event()

    async def job(name: str, urgent: bool) -> None:
        async with lock.hold(urgent=urgent):
            if name == plan[0][0]:
                await gate.wait()  # the request on the wire while the others queue
            done.append(name)
            await asyncio.sleep(0)

    tasks = []
    for name, urgent in plan:
        tasks.append(asyncio.create_task(job(name, urgent)))
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    return done


def test_writes_go_before_queued_reads_and_keep_their_own_order() -> None:
    plan = [("r0", False), ("r1", False), ("w1", True), ("r2", False), ("w2", True)]
    assert asyncio.run(_order(BusLock(), plan)) == ["r0", "w1", "w2", "r1", "r2"]


def test_a_cancelled_waiter_neither_runs_nor_blocks_the_bus() -> None:
    async def main() -> tuple[list[str], bool, int]:
        lock = BusLock()
        done: list[str] = []
        held = asyncio.Event()
        release = asyncio.Event()

        async def first() -> None:
            async with lock.hold():
                held.set()
                await release.wait()
            done.append("first")

        async def other(name: str, urgent: bool) -> None:
            async with lock.hold(urgent=urgent):
                done.append(name)

        one = asyncio.create_task(first())
        await held.wait()
        doomed = asyncio.create_task(other("doomed", True))
        after = asyncio.create_task(other("after", False))
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(one, after)
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return done, lock.locked, lock.waiting

    done, locked, waiting = asyncio.run(main())
    assert done == ["first", "after"]
    assert not locked and waiting == 0


def test_a_fan_command_overtakes_the_polls_queued_on_a_real_connection() -> None:
    """Six polls and then a coil write are queued on one pymodbus connection: the write
    is answered second, right after the poll that was already on the wire."""

    async def main() -> tuple[list[str], list[int]]:
        port = free_port()
        server = ModbusTestServer(port, {1: {"holding": {0: list(range(10))}, "coil": {0: 0}}})
        await server.start()
        hub = ModbusHub(
            "test", lambda: AsyncModbusTcpClient("127.0.0.1", port=port, reconnect_delay=0),
            call_timeout=5.0,
        )
        order: list[str] = []
        request = ReadRequest("holding", 0, 10, ())

        async def poll(n: int) -> None:
            await hub.read(request, 1)
            order.append(f"poll{n}")

        async def command() -> None:
            await hub.write("coil", 0, 1, 1)
            order.append("write")

        try:
            await hub.read(request, 1)  # connected before the race starts
            polls = [asyncio.create_task(poll(n)) for n in range(6)]
            await asyncio.sleep(0)  # all six queued, the first on the wire
            write = asyncio.create_task(command())
            await asyncio.gather(*polls, write)
            coil = await hub.read(ReadRequest("coil", 0, 1, ()), 1)
        finally:
            await hub.close()
            await server.stop()
        return order, coil

    order, coil = asyncio.run(main())
    assert order[:2] == ["poll0", "write"] and sorted(order[2:]) == [f"poll{n}" for n in
                                                                      range(1, 6)]
    assert coil == [1]  # the write really reached the device
