"""The hub: one Modbus connection (a TCP host:port or a serial port) and everything it owns.

As in Home Assistant's modbus component, the hub owns the client, the lock that keeps one
request on the wire at a time (an RS-485 bus is half duplex; several unit ids on one bus
share one hub; a write, such as a fan's run command, goes before queued polls), the
reconnect with exponential back-off, and the log line written once per outage. A peer that
flaps (answers, then times out, again and again) would still write two lines per cycle, so
those lines go through ``gateway.logthrottle``: one per reason per minute, with the count of
the repeats; pymodbus's own per-request error lines are throttled the same way. Devices
never touch the client; they ask the hub for reads and writes.

pymodbus's own background reconnect is switched off (``reconnect_delay=0``) so that the
back-off lives here, where it is visible and testable, and a poll during back-off fails at
once instead of waiting for a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pymodbus.exceptions import ConnectionException, ModbusException

from gateway.logthrottle import Throttle, ThrottledLog, throttle_library
from gateway.modbus.buslock import BusLock
from gateway.modbus.plan import ReadRequest
from occmon.config.schema import ModbusRtuDevice, ModbusTcpDevice

log = logging.getLogger(__name__)

ModbusConfig = ModbusTcpDevice | ModbusRtuDevice
BACKOFF_INITIAL = 0.5  # seconds before the first reconnect attempt
BACKOFF_CAP = 30.0
_READ_CALLS = {  # register kind -> the client's read method (FC1-FC4)
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
    "holding": "read_holding_registers",
    "input": "read_input_registers",
}


class ModbusClient(Protocol):
    """What the hub needs of a pymodbus async client (the seam a test may replace)."""

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> bool: ...

    def close(self) -> None: ...

    def read_coils(self, address: int, *, count: int = 1, device_id: int = 1) -> Awaitable[Any]:
        ...

    def read_discrete_inputs(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> Awaitable[Any]: ...

    def read_holding_registers(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> Awaitable[Any]: ...

    def read_input_registers(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> Awaitable[Any]: ...

    def write_coil(self, address: int, value: bool, *, device_id: int = 1) -> Awaitable[Any]: ...

    def write_register(self, address: int, value: int, *, device_id: int = 1) -> Awaitable[Any]:
        ...


ClientFactory = Callable[[ModbusConfig], ModbusClient]


def connection_key(config: ModbusConfig) -> str:
    """Devices with the same key share one hub: ``tcp://host:port`` or ``rtu:///dev/ttyS0``."""
    if isinstance(config, ModbusTcpDevice):
        return f"tcp://{config.host}:{config.port}"
    return f"rtu://{config.serial_port}"


def default_client(config: ModbusConfig) -> ModbusClient:
    """A pymodbus async client with pymodbus's own reconnect switched off."""
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

    throttle_library("pymodbus.logging")  # it logs every timeout and stray frame
    client: Any
    if isinstance(config, ModbusTcpDevice):
        client = AsyncModbusTcpClient(
            config.host,
            port=config.port,
            timeout=config.timeout,
            retries=config.retries,
            reconnect_delay=0,
            name=config.id,
        )
    else:
        client = AsyncModbusSerialClient(
            config.serial_port,
            baudrate=config.baudrate,
            parity=config.parity,
            stopbits=config.stopbits,
            bytesize=config.bytesize,
            timeout=config.timeout,
            retries=config.retries,
            reconnect_delay=0,
            name=config.id,
        )
    return client  # type: ignore[no-any-return]


class HubOffline(Exception):
    """The request got no answer; ``reason`` is a stable code (DeviceStatus.reason)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}{': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail


class ExceptionResponse(Exception):
    """The device answered with a Modbus exception (1 illegal function, 2 illegal address...)."""

    def __init__(self, code: int, request: ReadRequest | None = None) -> None:
        where = f" to {request.kind} {request.address}+{request.count}" if request else ""
        super().__init__(f"Modbus exception code {code}{where}")
        self.code = code


class ModbusHub:
    """One connection, shared by every device (unit id) behind it."""

    def __init__(
        self,
        name: str,
        client_factory: Callable[[], ModbusClient],
        *,
        call_timeout: float,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_cap: float = BACKOFF_CAP,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._factory = client_factory
        self._client: ModbusClient | None = None
        self._lock = BusLock()
        self._call_timeout = call_timeout
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._monotonic = monotonic
        self._failures = 0
        self._next_attempt = 0.0
        self._down_reason: str | None = None  # set while in an outage (logged once)
        self.counters: Counter[str] = Counter()
        self._users = 0
        self._log = ThrottledLog(log, Throttle(clock=monotonic))

    def attach(self) -> None:
        """A device starts using the hub; ``release`` closes it when the last one leaves."""
        self._users += 1

    async def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            await self.close()

    @property
    def online(self) -> bool:
        return self._client is not None and self._client.connected

    @property
    def retry_in(self) -> float:
        """Seconds until the next reconnect attempt (0 when connected or due)."""
        return max(0.0, self._next_attempt - self._monotonic()) if not self.online else 0.0

    async def read(self, request: ReadRequest, unit_id: int) -> list[int]:
        """Registers (or bits as 0/1) of one request; raises HubOffline or ExceptionResponse."""
        async with self._lock.hold():
            client = await self._connected()
            call = getattr(client, _READ_CALLS[request.kind])
            response = await self._call(call(request.address, count=request.count,
                                             device_id=unit_id))
        if response.isError():
            self.counters["modbus-exception"] += 1
            raise ExceptionResponse(int(getattr(response, "exception_code", 0)), request)
        if request.kind in ("coil", "discrete"):
            return [int(bool(bit)) for bit in response.bits[: request.count]]
        registers = [int(word) for word in response.registers]
        if len(registers) != request.count:
            self.counters["short-response"] += 1
            raise HubOffline("short-response", f"{len(registers)} of {request.count} registers")
        return registers

    async def write(self, kind: str, address: int, value: int, unit_id: int) -> None:
        """Write one coil or holding register (commands such as a fan's run coil)."""
        async with self._lock.hold(urgent=True):
            client = await self._connected()
            if kind == "coil":
                pending = client.write_coil(address, bool(value), device_id=unit_id)
            elif kind == "holding":
                pending = client.write_register(address, value, device_id=unit_id)
            else:
                raise ValueError(f"cannot write a {kind} register")
            response = await self._call(pending)
        if response.isError():
            self.counters["modbus-exception"] += 1
            raise ExceptionResponse(int(getattr(response, "exception_code", 0)))

    async def close(self) -> None:
        async with self._lock.hold():
            if self._client is not None:
                self._client.close()
                self._client = None

    async def _connected(self) -> ModbusClient:
        """The connected client, connecting if the back-off allows; else HubOffline."""
        client = self._client
        if client is not None and client.connected:
            return client
        now = self._monotonic()
        if now < self._next_attempt:
            raise HubOffline(self._down_reason or "connect-failed", "waiting to reconnect")
        if client is None:
            try:
                client = self._client = self._factory()
            except Exception as exc:  # e.g. pyserial missing for RTU: report, don't crash
                self._failed("client-error", repr(exc))
                raise HubOffline("client-error", repr(exc)) from exc
        try:
            async with asyncio.timeout(self._call_timeout):
                ok = await client.connect()
        except (TimeoutError, OSError, ModbusException) as exc:
            ok, detail = False, repr(exc)
        else:
            detail = ""
        if not ok:
            client.close()
            self._failed("connect-failed", detail)
            raise HubOffline("connect-failed", detail)
        return client

    async def _call(self, pending: Awaitable[Any]) -> Any:
        self.counters["requests"] += 1  # per connection, for /metrics (gateway/health.py)
        try:
            async with asyncio.timeout(self._call_timeout):  # no extra task, unlike wait_for
                response = await pending
        except (TimeoutError, ConnectionException, ModbusException, OSError) as exc:
            self.counters["timeout"] += 1
            if self._client is not None and (
                isinstance(exc, TimeoutError | ConnectionException) or not self._client.connected
            ):
                # A half-finished transaction leaves the client unusable: start afresh.
                self._client.close()
                self._failed("timeout", repr(exc))
            raise HubOffline("timeout", repr(exc)) from exc
        self._recovered()
        return response

    def _failed(self, reason: str, detail: str) -> None:
        self._failures += 1
        delay = min(self._backoff_cap, self._backoff_initial * 2 ** (self._failures - 1))
        self._next_attempt = self._monotonic() + delay
        self.counters[reason] += 1
        if self._down_reason is None:
            self._log.warning(reason, "modbus %s: %s (%s); retrying with back-off", self.name,
                              reason, detail)
        self._down_reason = reason

    def _recovered(self) -> None:
        if self._down_reason is not None:
            self._log.warning("restored", "modbus %s: connection restored after %d failures",
                              self.name, self._failures)
        self._down_reason = None
        self._failures = 0
        self._next_attempt = 0.0
