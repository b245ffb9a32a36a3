"""Misbehaving Modbus peers produce 1000 errors each: every one is counted, the log stays a
few lines (one per key per minute, gateway.logthrottle), pymodbus's own lines included."""

from __future__ import annotations

import asyncio
import logging
import struct

import pytest

from gateway.modbus.device import ModbusDevice
from gateway.modbus.hub import ModbusHub, default_client
from gateway.modbus.plan import ReadRequest
from occmon.config.schema import ModbusTcpDevice
from tests.gateway.modbus_server import Registers
from tests.gateway.test_device import DEMO_REGISTERS, NOW, run, with_demo
from tests.servers import free_port

ERRORS = 1000
CYCLES = 200  # flapping: each failed read waits the call timeout (50 ms)
MAX_LINES = 10  # a handful of keys, one line each within the minute the test lasts


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.WARNING]


def test_a_peer_answering_every_request_with_an_exception(
        caplog: pytest.LogCaptureFixture) -> None:
    """gas-panel-1 has no registers: every read gets 'illegal data address' (a real
    pymodbus exception response). Its profile reads two requests per poll (holding 0+2 for
    the gas value, 3+1 for the status word), so 500 polls -> 1000 refused requests, all
    counted, one log line per request."""
    registers: dict[str, Registers] = {**DEMO_REGISTERS, "gas-panel-1": {}}

    async def body(drivers: dict[str, ModbusDevice], _: object) -> int:
        device = drivers["gas-panel-1"]
        for _ in range(ERRORS // 2):
            readings = await device.poll(NOW)
            assert [r.reason for r in readings] == ["modbus-exception"]
        return device.counters["modbus-exception"]

    with caplog.at_level(logging.DEBUG):
        counted = run(with_demo(registers, body))
    assert counted == ERRORS
    got = lines(caplog)
    assert 1 <= len(got) <= MAX_LINES, got
    assert any("gas-panel-1" in line and "exception code 2" in line for line in got), got
    assert len(got) == 2, got


async def flapping_peer(port: int) -> asyncio.Server:
    """Answers one read per connection correctly, then hangs up: the next read fails.

    A Modbus TCP frame is MBAP (transaction id, protocol 0, length, unit) + PDU; the answer
    to FC3 is the function code, the byte count and ``count`` zero registers.
    """

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await reader.readexactly(7)
            tid, _proto, length, unit = struct.unpack(">HHHB", header)
            pdu = await reader.readexactly(length - 1)
            count = struct.unpack(">H", pdu[3:5])[0]
            body = bytes([pdu[0], 2 * count]) + b"\0" * (2 * count)
            writer.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", port)


def test_a_flapping_peer_logs_a_bounded_number_of_lines(
        caplog: pytest.LogCaptureFixture) -> None:
    """Each cycle (connect, one good answer, hang-up, a failed read) used to log two lines
    ('restored', 'retrying'); 200 cycles now log a few, and every failure is counted."""
    port = free_port()
    config = ModbusTcpDevice.model_validate({
        "id": "flappy", "protocol": "modbus-tcp", "host": "127.0.0.1", "port": port,
        "profile": "toxic-gas-detector", "timeout": 0.5, "retries": 0})
    request = ReadRequest("holding", 0, 2, ())

    async def main() -> tuple[int, int]:
        server = await flapping_peer(port)
        hub = ModbusHub("flappy", lambda: default_client(config), call_timeout=0.05,
                        backoff_initial=1e-4, backoff_cap=1e-4)
        good = failed = 0
        try:
            while failed < CYCLES:
                try:
                    assert await hub.read(request, 1) == [0, 0]
                    good += 1
                except Exception:
                    failed += 1
                    # past the back-off on any loop (uvloop's timers have 1 ms resolution)
                    await asyncio.sleep(0.002)
        finally:
            await hub.close()
            server.close()
            await server.wait_closed()
        return good, failed

    with caplog.at_level(logging.DEBUG):
        good, failed = run(main())
    assert failed == CYCLES
    assert good >= CYCLES // 2  # it really flapped: answers between the failures
    got = lines(caplog)
    assert 2 <= len(got) <= MAX_LINES, got
    assert any("restored" in line for line in got), got
