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

One dead unit never costs the others their polls (a shared bus, whatever the link):

- a unit that does not answer is *silent*, not a transport failure: it gets its own failure
  count and back-off (its polls during the back-off fail at once, without the wire), and
  while it is failing its requests queue behind those of the answering units
  (``BusLock`` background class), and only one such request is let through per spell of
  the same length (a silent unit's timeout is followed by as much time for everyone else,
  so three dead units probed together cannot hold the bus over the next poll round).
  The connection stays open: closing it because one slave
  is dead would cut every other unit off (the trap of a gateway that resets the port);
- the connection is closed and re-dialled only when the transport failed: refused, reset,
  a lost serial port, or every unit on it silent for a while (a half-open TCP socket);
- pymodbus's own "close after retries+3 unanswered requests" is switched off for the
  same reason; a write (a fan command) is never held back by a unit's back-off;
- ``inter_request_delay`` keeps the line quiet between requests and
  ``delay_after_connect`` waits after a connect, both inside the bus lock;
- a poll's requests go out back to back: after an answered read, the unit that asked keeps
  the bus until the end of that event-loop step, so when its poll goes straight on to its
  next request (``ModbusDevice.poll`` does) nobody queues in between. Without this, each
  of a live unit's requests would wait again behind every silent unit's timeout. A write
  queued meanwhile goes right after that poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from gateway.logthrottle import Throttle, ThrottledLog, demote_library, throttle_library
from gateway.modbus.buslock import BusLock
from gateway.modbus.plan import ReadRequest
from occmon.config.modbus_links import ModbusDtuDevice, ModbusRtuTcpDevice
from occmon.config.schema import ModbusRtuDevice, ModbusTcpDevice

log = logging.getLogger(__name__)

ModbusConfig = ModbusTcpDevice | ModbusRtuDevice | ModbusRtuTcpDevice | ModbusDtuDevice
SILENT_PER_UNIT = 3  # unanswered requests in a row, per unit seen, before a re-dial
NEVER = 1 << 30  # pymodbus's no-response limit, switched off
BACKOFF_INITIAL = 0.5  # seconds before the first reconnect attempt
BACKOFF_CAP = 30.0
UNIT_BACKOFF_INITIAL = 1.0  # seconds before a silent unit is asked again, doubling
UNIT_BACKOFF_CAP = 60.0  # a dead detector is looked for once a minute at most
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
    """Devices with the same key share one hub: ``tcp://host:port``, ``rtu:///dev/ttyS0``,
    ``rtu-tcp://host:port`` (a serial server) or ``dtu://host:port/id=...`` (one DTU)."""
    if isinstance(config, ModbusTcpDevice):
        return f"tcp://{config.host}:{config.port}"
    if isinstance(config, ModbusRtuTcpDevice):
        return f"rtu-tcp://{config.host}:{config.port}"
    if isinstance(config, ModbusDtuDevice):
        return f"dtu://{config.listen_host}:{config.listen_port}/{config.identity}"
    return f"rtu://{config.serial_port}"


def default_client(config: ModbusConfig) -> ModbusClient:
    """The client of one connection: ``leantcp.LeanTcpClient`` for plain Modbus TCP; for
    RTU over TCP and serial lines, a pymodbus async client with pymodbus's own reconnect
    and no-response close off.

    A DTU has no dialling client: ``build_drivers`` gives its hub a ``links.dtu`` client.
    """
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
    from pymodbus.framer import FramerType

    throttle_library("pymodbus.logging")  # it logs every timeout and stray frame
    # a late answer to a request that already timed out: the hub counted that timeout
    demote_library("pymodbus.logging", "without a corresponding request")
    client: Any
    if isinstance(config, ModbusDtuDevice):
        raise TypeError("a DTU dials in: its client comes from gateway.modbus.links.dtu")
    if isinstance(config, ModbusTcpDevice):  # plain Modbus TCP: one frame, one protocol
        from gateway.modbus.leantcp import LeanTcpClient

        return LeanTcpClient(config.host, config.port, timeout=config.timeout,
                             retries=config.retries, name=config.id)
    if isinstance(config, ModbusRtuTcpDevice):
        client = AsyncModbusTcpClient(
            config.host,
            port=config.port,
            framer=FramerType.RTU,
            timeout=config.timeout,
            retries=config.retries,
            reconnect_delay=0,
            name=config.id,
        )
        client.set_max_no_responses(NEVER)  # a silent unit must not close the connection
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


@dataclass(slots=True)
class UnitHealth:
    """One unit id's own failure count and back-off on a shared connection."""

    failures: int = 0
    next_attempt: float = 0.0


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
        inter_request_delay: float = 0.0,
        delay_after_connect: float = 0.0,
        unit_backoff_initial: float = UNIT_BACKOFF_INITIAL,
        unit_backoff_cap: float = UNIT_BACKOFF_CAP,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._factory = client_factory
        self._client: ModbusClient | None = None
        self._lock = BusLock()
        self._call_timeout = call_timeout
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._inter_request_delay = inter_request_delay
        self._delay_after_connect = delay_after_connect
        self._quiet_until = 0.0  # monotonic time before which the line stays quiet
        self._monotonic = monotonic
        self._failures = 0
        self._next_attempt = 0.0
        self._down_reason: str | None = None  # set while in an outage (logged once)
        self.units: dict[int, UnitHealth] = {}
        self._unit_backoff = (unit_backoff_initial, unit_backoff_cap)
        self._probes_quiet_until = 0.0  # no failing unit is asked before this time
        self._holder: asyncio.Task[Any] | None = None  # the task keeping the bus, if any
        self._keeper: asyncio.Handle | None = None  # lets the bus go at the end of the step
        self._silent = 0  # unanswered requests in a row, whichever unit they were for
        self.counters: Counter[str] = Counter()
        self._users = 0
        self._on_close: list[Callable[[], Awaitable[None]]] = []
        self._log = ThrottledLog(log, Throttle(clock=monotonic))

    def attach(self) -> None:
        """A device starts using the hub; ``release`` closes it when the last one leaves."""
        self._users += 1

    def on_close(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` once when the hub closes (e.g. stop a DTU listener it shares)."""
        self._on_close.append(hook)

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

    def unit_retry_in(self, unit_id: int) -> float:
        """Seconds until a silent unit is asked again (0 when it answers or is due)."""
        unit = self.units.get(unit_id)
        return 0.0 if unit is None else max(0.0, unit.next_attempt - self._monotonic())

    async def read(self, request: ReadRequest, unit_id: int) -> list[int]:
        """Registers (or bits as 0/1) of one request; raises HubOffline or ExceptionResponse."""
        unit = self.units.get(unit_id)
        if unit is None:
            unit = self.units[unit_id] = UnitHealth()
        probing = unit.failures > 0
        if probing:
            self._may_probe(unit, unit_id)
            # Polls due at the same moment wake in one loop turn, in whatever order they
            # went to sleep; let the others take or queue for the bus first.
            await asyncio.sleep(0)
        if self._keeper is not None and self._holder is asyncio.current_task():
            self._keeper.cancel()  # the same poll goes on: it still has the bus
            self._keeper = None
        elif not self._lock.take():  # a free bus is taken without a coroutine
            await self._lock.acquire(background=probing)
        started = self._monotonic() if probing else 0.0
        try:
            if probing:
                self._may_probe(unit, unit_id)  # another probe may have run while queued
            client = self._client
            if client is None or not client.connected:
                client = await self._connected()
            if self._quiet_until and self._quiet_until > time.monotonic():
                await self._pace()
            call = getattr(client, _READ_CALLS[request.kind])
            response = await self._call(call(request.address, count=request.count,
                                             device_id=unit_id), unit_id)
        except BaseException:
            self._lock.release()
            raise
        finally:
            if probing:  # as long again for the others before the next probe
                now = self._monotonic()
                self._probes_quiet_until = max(self._probes_quiet_until, now + now - started)
        if self._lock.waiting:
            # keep the bus for this task's next request, if it comes now
            self._holder = asyncio.current_task()
            self._keeper = asyncio.get_running_loop().call_soon(self._let_go)
        else:  # nobody to keep it from: this task's next request finds it free all the same
            self._lock.release()
        if response.isError():
            self.counters["modbus-exception"] += 1
            raise ExceptionResponse(int(getattr(response, "exception_code", 0)), request)
        if request.kind in ("coil", "discrete"):
            return [int(bool(bit)) for bit in response.bits[: request.count]]
        registers = (response.registers if getattr(response, "plain", False)
                     else [int(word) for word in response.registers])
        if len(registers) != request.count:
            self.counters["short-response"] += 1
            raise HubOffline("short-response", f"{len(registers)} of {request.count} registers")
        return registers

    def _may_probe(self, unit: UnitHealth, unit_id: int) -> None:
        """HubOffline at once (the wire untouched) while a silent unit must wait its turn."""
        now = self._monotonic()
        if now < unit.next_attempt or now < self._probes_quiet_until:
            self.counters["unit-backoff"] += 1
            raise HubOffline("timeout", f"unit {unit_id} silent; waiting to ask again")

    def _let_go(self) -> None:
        """The unit that kept the bus did not ask again at once: the next in line gets it."""
        self._keeper = None
        self._holder = None
        self._lock.release()

    async def write(self, kind: str, address: int, value: int, unit_id: int) -> None:
        """Write one coil or holding register (commands such as a fan's run coil).

        A unit's back-off never holds a write back: a command is always sent.
        """
        async with self._lock.hold(urgent=True):
            client = await self._connected()
            await self._pace()
            if kind == "coil":
                pending = client.write_coil(address, bool(value), device_id=unit_id)
            elif kind == "holding":
                pending = client.write_register(address, value, device_id=unit_id)
            else:
                raise ValueError(f"cannot write a {kind} register")
            response = await self._call(pending, unit_id)
        if response.isError():
            self.counters["modbus-exception"] += 1
            raise ExceptionResponse(int(getattr(response, "exception_code", 0)))

    async def close(self) -> None:
        """Close the connection once the bus is free. A bounded stop that gives up waiting
        (cancels this) still closes it: the request in flight is cut, never left holding a
        socket for the rest of the process."""
        try:
            async with self._lock.hold():
                self._drop_client()
        except asyncio.CancelledError:
            self._drop_client()
            raise
        hooks, self._on_close = self._on_close, []
        for hook in hooks:
            await hook()

    def _drop_client(self) -> None:
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
        self._silent = 0
        self.counters["connects"] += 1  # a shared connection re-dialled is visible here
        if self._delay_after_connect:
            self._quiet_until = max(self._quiet_until,
                                    time.monotonic() + self._delay_after_connect)
        return client

    async def _pace(self) -> None:
        """Keep the line quiet until the inter-request or after-connect delay has passed."""
        wait = self._quiet_until - time.monotonic()
        if wait > 0:
            self.counters["paced"] += 1
            await asyncio.sleep(wait)

    async def _call(self, pending: Awaitable[Any], unit_id: int) -> Any:
        self.counters["requests"] += 1  # per connection, for /metrics (gateway/health.py)
        try:
            if getattr(self._client, "bounded", False):
                response = await pending  # the client's own timer ends every try
            else:
                async with asyncio.timeout(self._call_timeout):  # no task, unlike wait_for
                    response = await pending
        except (TimeoutError, ConnectionException, ModbusException, OSError) as exc:
            self.counters["timeout"] += 1
            client = self._client
            silent_unit = (isinstance(exc, ModbusIOException)
                           and not isinstance(exc, ConnectionException)
                           and client is not None and client.connected)
            if silent_unit:
                self._unit_silent(unit_id, repr(exc))
            elif client is not None and (
                isinstance(exc, TimeoutError | ConnectionException) or not client.connected
            ):
                # A half-finished transaction leaves the client unusable: start afresh.
                client.close()
                self._failed("timeout", repr(exc))
            raise HubOffline("timeout", repr(exc)) from exc
        finally:
            if self._inter_request_delay:
                self._quiet_until = time.monotonic() + self._inter_request_delay
        self._recovered()
        self._unit_answered(unit_id)
        return response

    def _unit_silent(self, unit_id: int, detail: str) -> None:
        """One unit did not answer: back off that unit; the connection stays open unless
        no unit at all has answered for a while (then the transport itself is suspect)."""
        unit = self.units.setdefault(unit_id, UnitHealth())
        unit.failures += 1
        initial, cap = self._unit_backoff
        delay = min(cap, initial * 2 ** (unit.failures - 1))
        unit.next_attempt = self._monotonic() + delay
        self.counters["unit-silent"] += 1
        if unit.failures == 1:
            self._log.warning(("unit-silent", unit_id),
                              "modbus %s unit %d: no answer (%s); asking it again with "
                              "back-off, the connection stays open", self.name, unit_id,
                              detail)
        self._silent += 1
        if self._silent >= SILENT_PER_UNIT * max(1, len(self.units)) and self._client:
            self._client.close()
            self._failed("all-units-silent", f"{self._silent} requests in a row unanswered")
            self._silent = 0

    def _unit_answered(self, unit_id: int) -> None:
        self._silent = 0
        unit = self.units.get(unit_id)
        if unit is not None and unit.failures:
            self._log.warning(("unit-restored", unit_id),
                              "modbus %s unit %d: answering again after %d unanswered "
                              "requests", self.name, unit_id, unit.failures)
            unit.failures = 0
            unit.next_attempt = 0.0

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
