"""The lean Modbus TCP client against a real pymodbus server and against raw sockets that
misbehave: the answers pymodbus's client gives, and the failures the hub is built on
(``gateway/modbus/leantcp.py``)."""

from __future__ import annotations

import asyncio
import struct

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException

from gateway.modbus.leantcp import LeanTcpClient
from tests.gateway.modbus_server import ModbusTestServer
from tests.servers import free_port

REGISTERS = {"holding": {0: list(range(1000, 1020))}, "input": {10: [7, 65535]},
             "coil": {0: [1, 0, 1, 1, 0, 0, 0, 0, 1]}}


def test_reads_and_writes_answer_as_pymodbus_does() -> None:
    async def run() -> None:
        port = free_port()
        server = ModbusTestServer(port, {1: REGISTERS, 2: {"holding": {0: [42]}}})
        await server.start()
        lean = LeanTcpClient("127.0.0.1", port, timeout=1.0, retries=1, name="lean")
        reference = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1.0, retries=1,
                                         reconnect_delay=0)
        try:
            assert await lean.connect() and lean.connected
            assert await reference.connect()
            for method, address, count, unit in (
                    ("read_holding_registers", 0, 20, 1), ("read_holding_registers", 5, 3, 1),
                    ("read_input_registers", 10, 2, 1), ("read_holding_registers", 0, 1, 2),
                    ("read_coils", 0, 9, 1),
                    ("read_holding_registers", 100, 2, 1)):  # beyond the block: exception
                got = await getattr(lean, method)(address, count=count, device_id=unit)
                want = await getattr(reference, method)(address, count=count, device_id=unit)
                assert got.isError() == want.isError(), method
                if want.isError():
                    assert got.exception_code == want.exception_code == 2  # illegal address
                elif method == "read_coils":
                    assert got.bits[:count] == list(want.bits[:count])
                else:
                    assert got.registers == list(want.registers)
            assert not (await lean.write_register(3, 0xBEEF, device_id=1)).isError()
            assert not (await lean.write_coil(1, True, device_id=1)).isError()
            assert (await reference.read_holding_registers(3, count=1, device_id=1)
                    ).registers == [0xBEEF]
            assert (await reference.read_coils(0, count=2, device_id=1)).bits[:2] == [True, True]
        finally:
            lean.close()
            reference.close()
            await server.stop()
        assert not lean.connected
        with pytest.raises(ConnectionException):
            await lean.read_holding_registers(0, count=1, device_id=1)

    asyncio.run(run())


class Peer:
    """A raw TCP peer: ``answer(frame) -> bytes to send back`` (b"" to stay silent)."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.closed: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    frame = await reader.readexactly(12)
                    self.requests.append(frame)
                    reply = self.answer(frame)  # type: ignore[operator]
                    if reply is None:
                        return
                    writer.write(reply)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()
                self.closed.append(writer)

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in self.closed:
            await writer.wait_closed()


def registers_reply(tid: int, unit: int, words: list[int]) -> bytes:
    body = struct.pack(f">BB{len(words)}H", 3, 2 * len(words), *words)
    return struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body


def test_silence_is_retried_then_an_io_error_with_the_connection_kept() -> None:
    async def run() -> None:
        peer = Peer(lambda frame: b"")
        await peer.start()
        client = LeanTcpClient("127.0.0.1", peer.port, timeout=0.1, retries=2)
        assert await client.connect()
        with pytest.raises(ModbusIOException):
            await client.read_holding_registers(0, count=2, device_id=1)
        assert client.connected  # a silent unit: the hub decides, not the client
        assert len(peer.requests) == 3  # the first try and 2 retries, one transaction id
        assert len({frame[:2] for frame in peer.requests}) == 1
        client.close()
        await peer.stop()

    asyncio.run(run())


def test_a_stale_answer_is_dropped_and_a_wrong_unit_is_an_io_error() -> None:
    async def run() -> None:
        def answer(frame: bytes) -> bytes:
            tid, _, _, unit = struct.unpack_from(">HHHB", frame)
            if unit == 9:  # another unit answers
                return registers_reply(tid, 8, [1])
            # first an answer to an older request, then this one's, in one segment
            return registers_reply(tid - 1, unit, [666]) + registers_reply(tid, unit, [tid])

        peer = Peer(answer)
        await peer.start()
        client = LeanTcpClient("127.0.0.1", peer.port, timeout=0.5, retries=0)
        assert await client.connect()
        first = await client.read_holding_registers(0, count=1, device_id=1)
        second = await client.read_holding_registers(0, count=1, device_id=1)
        assert (first.registers, second.registers) == ([1], [2])
        with pytest.raises(ModbusIOException, match="device id=9 but received 8"):
            await client.read_holding_registers(0, count=1, device_id=9)
        client.close()
        await peer.stop()

    asyncio.run(run())


def test_a_short_answer_gives_fewer_registers_and_garbage_empties_the_buffer() -> None:
    async def run() -> None:
        replies = iter([
            lambda tid: registers_reply(tid, 1, [5]),  # one word where two were asked
            lambda tid: b"\xde\xad\xbe\xef\x00\x10\x01\x03",  # not MBAP: dropped, then silence
            lambda tid: registers_reply(tid, 1, [6, 7]),
        ])
        peer = Peer(lambda frame: next(replies)(struct.unpack_from(">H", frame)[0]))
        await peer.start()
        client = LeanTcpClient("127.0.0.1", peer.port, timeout=0.2, retries=0)
        assert await client.connect()
        assert (await client.read_holding_registers(0, count=2, device_id=1)).registers == [5]
        with pytest.raises(ModbusIOException):
            await client.read_holding_registers(0, count=2, device_id=1)
        assert client.connected
        got = await client.read_holding_registers(0, count=2, device_id=1)
        assert got.registers == [6, 7]
        client.close()
        await peer.stop()

    asyncio.run(run())


def test_a_connection_lost_while_waiting_is_a_connection_error() -> None:
    async def run() -> None:
        peer = Peer(lambda frame: None)  # closes the connection on the request
        await peer.start()
        client = LeanTcpClient("127.0.0.1", peer.port, timeout=2.0, retries=3)
        assert await client.connect()
        with pytest.raises(ConnectionException):
            await client.read_holding_registers(0, count=2, device_id=1)
        assert not client.connected
        await peer.stop()
        refused = LeanTcpClient("127.0.0.1", free_port(), timeout=0.5, retries=0)
        assert await refused.connect() is False

    asyncio.run(run())


def test_the_hub_leans_on_the_client_s_own_timer_and_keeps_its_own_for_others() -> None:
    # A silent unit behind the lean client: the hub adds no timer of its own (the client's
    # tries end it), so the read ends on the client's bound, (1 + 1) x 0.1 s, not the hub's
    # 5 s backstop, and the unit is backed off as silent. A client without its own bound
    # (one that hangs) is still cut by the hub's timer.
    from gateway.modbus.hub import HubOffline, ModbusHub
    from gateway.modbus.plan import ReadRequest

    class Hanging:
        connected = True

        async def connect(self) -> bool:
            return True

        async def read_holding_registers(self, address: int, *, count: int = 1,
                                         device_id: int = 1) -> object:
            await asyncio.sleep(3600)

        def close(self) -> None:
            self.connected = False

    async def run() -> None:
        peer = Peer(lambda frame: b"")
        await peer.start()
        lean = ModbusHub("lean", lambda: LeanTcpClient("127.0.0.1", peer.port, timeout=0.1,
                                                       retries=1), call_timeout=5.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(HubOffline, match="timeout"):
            await lean.read(ReadRequest("holding", 0, 2, ()), 1)
        assert 0.15 <= loop.time() - started < 1.0
        assert len(peer.requests) == 2 and lean.counters["unit-silent"] == 1
        await lean.close()
        hanging = ModbusHub("hanging", Hanging, call_timeout=0.2)
        started = loop.time()
        with pytest.raises(HubOffline, match="timeout"):
            await hanging.read(ReadRequest("holding", 0, 2, ()), 1)
        assert 0.15 <= loop.time() - started < 1.0
        await hanging.close()
        await peer.stop()

    asyncio.run(run())
