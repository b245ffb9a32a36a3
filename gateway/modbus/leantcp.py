"""A lean Modbus TCP client: the requests the gateway makes, one frame each, on one protocol.

pymodbus's async client spends about 115 us of CPU per read of 20 registers on loopback
(PDU objects, a framer, a transaction manager with its own lock, ``asyncio.wait_for``, trace
hooks); a frame built with ``struct`` and an ``asyncio.Protocol`` that matches the answer
by transaction id spend about 65 us, most of it the socket calls themselves
(``docs/benchmarks.md``, "Gateway path"). At 500 devices polled each second that is ~2.5 %
of a core. Only plain Modbus TCP (MBAP framing) goes this way; RTU over TCP, serial lines
and DTUs keep pymodbus (``hub.default_client``).

It behaves as the hub expects of pymodbus's client (``hub.ModbusClient``), which is what
the hub's failure handling is built on:

- a request unanswered within ``timeout`` is sent again, ``retries`` times, with the same
  transaction id (a late answer to an earlier try is taken); then ``ModbusIOException``,
  the connection staying open (the hub judges the unit silent);
- a connection lost or closed while a request waits: ``ConnectionException``;
  ``connected`` is False from then on; ``connect`` returns False when it cannot dial;
- an answer is matched by transaction id; one with another id (a stale answer to a request
  given up on) is dropped; one from another unit id is a ``ModbusIOException``;
- an exception response (function code + 0x80) is a response whose ``isError()`` is True,
  with its ``exception_code``; a read answer shorter than asked gives fewer registers (the
  hub counts ``short-response``); a frame whose header is not Modbus TCP empties the buffer.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, cast

from pymodbus.exceptions import ConnectionException, ModbusIOException

from gateway.deadlines import Deadlines, deadlines

_MBAP = struct.Struct(">HHHB")  # transaction id, protocol id (0), length, unit id
_REQUEST = struct.Struct(">HHHBBHH")  # MBAP + function code, address, count or value
_MAX_FRAME = 260  # MBAP 7 + PDU 253
_TID_WRAP = 65000  # as pymodbus: ids 1..65000
_WORDS = [struct.Struct(f">{count}H") for count in range(_MAX_FRAME // 2)]  # by count


class Response:
    """What the hub reads of a response: ``isError()``, ``registers``, ``bits``,
    ``exception_code``."""

    __slots__ = ("bits", "dev_id", "exception_code", "function_code", "registers")
    plain = True  # ``registers`` is a list of ints already (the hub copies pymodbus's)

    def __init__(self, function_code: int, dev_id: int) -> None:
        self.function_code = function_code
        self.dev_id = dev_id
        self.exception_code = 0
        self.registers: list[int] = []
        self.bits: list[bool] = []

    def isError(self) -> bool:  # pymodbus's name, which the hub calls
        return self.function_code > 0x80


def parse_pdu(unit: int, pdu: bytes) -> Response:
    """One response PDU (function code first) as a ``Response``."""
    function = pdu[0]
    response = Response(function, unit)
    if function > 0x80:
        response.exception_code = pdu[1] if len(pdu) > 1 else 0
    elif function in (3, 4):
        count = min(pdu[1], len(pdu) - 2) // 2 if len(pdu) > 1 else 0
        response.registers = list(_WORDS[count].unpack_from(pdu, 2))
    elif function in (1, 2) and len(pdu) > 1:
        data = pdu[2 : 2 + pdu[1]]
        response.bits = [bool(byte >> bit & 1) for byte in data for bit in range(8)]
    return response


class LeanTcpClient(asyncio.Protocol):
    """``hub.ModbusClient`` for Modbus TCP, on one ``asyncio`` connection."""

    # Every request ends within (retries + 1) x timeout: each try has its own timer, so the
    # hub adds no second one per request (500 requests a second at 500 devices).
    bounded = True

    def __init__(self, host: str, port: int, *, timeout: float, retries: int,
                 name: str = "") -> None:
        self.host, self.port = host, port
        self.timeout, self.retries, self.name = timeout, retries, name
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._tid = 0
        # the request waiting for its answer: (transaction id, unit id, future)
        self._waiting: tuple[int, int, asyncio.Future[Response]] | None = None
        # the loop the connection is on, and its shared timeout timer (gateway.deadlines):
        # found once a connection, not once a request (on Python 3.11 each look-up of the
        # running loop is a getpid system call)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: Deadlines | None = None

    # -- hub.ModbusClient -------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def connect(self) -> bool:
        if self.connected:
            return True
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                await loop.create_connection(lambda: self, self.host, self.port)
        except (OSError, TimeoutError):
            return False
        return self.connected

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        self._fail(ConnectionException(f"{self.name}: connection closed"))

    def read_coils(self, address: int, *, count: int = 1, device_id: int = 1) -> Any:
        return self._request(device_id, 1, address, count)

    def read_discrete_inputs(self, address: int, *, count: int = 1, device_id: int = 1) -> Any:
        return self._request(device_id, 2, address, count)

    def read_holding_registers(self, address: int, *, count: int = 1,
                               device_id: int = 1) -> Any:
        return self._request(device_id, 3, address, count)

    def read_input_registers(self, address: int, *, count: int = 1, device_id: int = 1) -> Any:
        return self._request(device_id, 4, address, count)

    def write_coil(self, address: int, value: bool, *, device_id: int = 1) -> Any:
        return self._request(device_id, 5, address, 0xFF00 if value else 0x0000)

    def write_register(self, address: int, value: int, *, device_id: int = 1) -> Any:
        return self._request(device_id, 6, address, value & 0xFFFF)

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not always a subclass of asyncio.Transport (uvloop's)
        self._transport = cast(asyncio.Transport, transport)
        self._buffer = b""
        self._tid = 0
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._timeouts = loop, deadlines(loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(ConnectionException(f"{self.name}: connection lost ({exc!r})"))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        while len(buffer) >= 8:
            tid, protocol, length, unit = _MBAP.unpack_from(buffer)
            if protocol != 0 or not 2 <= length <= _MAX_FRAME - 6:
                buffer = b""  # not Modbus TCP: nothing in it can be trusted
                break
            end = 6 + length
            if len(buffer) < end:
                break
            pdu, buffer = buffer[7:end], buffer[end:]
            waiting = self._waiting
            if waiting is None or waiting[0] != tid or waiting[2].done():
                continue  # a stale answer to a request given up on
            future = waiting[2]
            if waiting[1] and unit != waiting[1]:
                future.set_exception(ModbusIOException(
                    f"request uses device id={waiting[1]} but received {unit}"))
            else:
                future.set_result(parse_pdu(unit, pdu))
        self._buffer = buffer

    # -- requests ---------------------------------------------------------------------------
    async def _request(self, unit: int, function: int, address: int, value: int) -> Response:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionException(f"{self.name}: not connected")
        self._tid = tid = 1 if self._tid >= _TID_WRAP else self._tid + 1
        frame = _REQUEST.pack(tid, 0, 6, unit, function, address, value)
        loop, timeouts = self._loop, self._timeouts  # timeouts: one timer for every try's
        if loop is None or timeouts is None:  # not through connection_made: find them
            loop = self._loop = asyncio.get_running_loop()
            timeouts = self._timeouts = deadlines(loop)
        for _ in range(self.retries + 1):
            if self._transport is not transport:
                raise ConnectionException(f"{self.name}: connection closed")
            future: asyncio.Future[Response] = loop.create_future()
            self._waiting = (tid, unit, future)
            self._buffer = b""  # as pymodbus: a new try starts on a clean buffer
            transport.write(frame)
            timeouts.add(future, self.timeout, _expire)
            try:
                return await future
            except TimeoutError:
                continue
            finally:
                timeouts.discard(future)
                if self._waiting is not None and self._waiting[2] is future:
                    self._waiting = None
        raise ModbusIOException(
            f"{self.name}: no response received after {self.retries} retries")

    def _fail(self, exc: Exception) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None and not waiting[2].done():
            waiting[2].set_exception(exc)


def _expire(future: asyncio.Future[Response]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
