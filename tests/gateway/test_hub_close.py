"""A hub whose close is abandoned by a bounded stop still closes its connection.

The gateway's stop gives every device's close a share of one 2 s bound (gateway/shutdown.py)
and cancels the ones that wait too long for a hung bus. The cancelled close used to leave the
client open: the socket stayed with the process until a garbage collection found it.
"""

from __future__ import annotations

import asyncio
import contextlib

from pymodbus.client import AsyncModbusTcpClient

from gateway.modbus.hub import ModbusHub


async def _silent_device() -> tuple[asyncio.Server, asyncio.Event, list[asyncio.StreamWriter]]:
    """A TCP peer that takes requests and never answers; ``closed`` is set on our EOF."""
    closed = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(256):
            pass
        closed.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, closed, writers


def test_a_cancelled_close_cuts_the_request_in_flight_and_closes_the_socket() -> None:
    async def main() -> tuple[bool, bool, bool, BaseException | None]:
        server, closed, writers = await _silent_device()
        port = server.sockets[0].getsockname()[1]
        hub = ModbusHub(
            "hung", lambda: AsyncModbusTcpClient("127.0.0.1", port=port, reconnect_delay=0),
            call_timeout=5.0,
        )
        hub.attach()
        command = asyncio.create_task(hub.write("holding", 0, 1, 1))  # holds the bus, unanswered
        while not writers:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        stopping = asyncio.create_task(hub.release())
        done, _ = await asyncio.wait([stopping], timeout=0.3)
        waited_for_the_bus = not done
        stopping.cancel()  # the stop's bound is spent: abandon the close
        await asyncio.gather(stopping, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed.wait(), 2.0)
        outcome = (await asyncio.gather(command, return_exceptions=True))[0]
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
        return (waited_for_the_bus, closed.is_set(), hub._client is None,
                outcome if isinstance(outcome, BaseException) else None)

    waited, peer_saw_close, dropped, command_error = asyncio.run(main())
    assert waited  # the close did wait for the bus: the command was in flight
    assert peer_saw_close  # the device's end saw the connection close
    assert dropped
    assert command_error is not None  # the cut command reports a failure, not success
