"""A DTU listener: 4G/GPRS DTUs dial in, say who they are, and are polled over RTU.

A DTU (data transfer unit) is a cellular modem wired to an RS-485 bus that, once powered,
opens a TCP connection to a configured server and relays bytes both ways. The gateway is
that server but still the Modbus master, so the roles are crossed: it listens, and on each
accepted socket it sends RTU requests and reads the answers.

Identification, per listener (``listen_host:listen_port``, shared by every DTU sent there):

- by peer address (``peer``): known as soon as the socket is accepted;
- by registration packet (``registration`` / ``registration_hex``): the first bytes the DTU
  sends; they must arrive within ``registration_timeout`` seconds, else the socket is
  closed and counted (``dtu-unregistered``), as is a packet no device expects
  (``dtu-unknown``). At most ``MAX_PENDING`` sockets may wait to register at once.

A new connection from a DTU replaces its old one (counted ``dtu-replaced``): a DTU that
lost its cellular link usually reconnects before the old socket times out, and the old
half-open socket must not swallow requests. Bytes that arrive while no request is
outstanding (heartbeat packets, a late answer) are dropped before the next request.

Counters (``DtuListener.counters``), exported by the gateway's /metrics as
``occmon_modbus_dtu_total{listener="host:port", counter=...}`` through
``listener_counters``: ``dtu-accepted`` sockets accepted, ``dtu-registered`` DTUs
identified, ``dtu-replaced`` old connections a reconnect replaced, ``dtu-lost`` registered
connections that ended, and the refusals ``dtu-unknown``, ``dtu-unregistered``,
``dtu-too-many``, ``dtu-wrong-network``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from collections.abc import Awaitable, Iterable
from typing import Any, cast

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU

from gateway.logthrottle import ThrottledLog
from occmon.config.modbus_links import ModbusDtuDevice

log = logging.getLogger(__name__)

MAX_PENDING = 64  # sockets waiting to register at once; more are closed at accept
MAX_REGISTRATION = 256  # bytes an unidentified socket may send before it is closed
MAX_BUFFER = 1024  # bytes kept from a registered DTU between reads (an RTU frame is <= 256)

# The listeners of this process that are listening: the gateway's health check reads their
# counters (a listener is made by ``build_drivers`` and reached by no other object).
_LISTENING: weakref.WeakSet[DtuListener] = weakref.WeakSet()


def listener_counters(devices: Iterable[object]) -> dict[str, int]:
    """``modbus-dtu.{host}:{port}.{counter}`` of every listening listener that one of
    ``devices`` (a site's devices) is sent to: the gateway's /metrics and heartbeat."""
    wanted = {(d.listen_host, d.listen_port) for d in devices
              if isinstance(d, ModbusDtuDevice)}
    out: dict[str, int] = {}
    for listener in list(_LISTENING):
        if (listener.host, listener.port) in wanted:
            for key, value in listener.counters.items():
                out[f"modbus-dtu.{listener.host}:{listener.port}.{key}"] = value
    return out


class DtuConnection(asyncio.Protocol):
    """One accepted socket: its bytes are buffered here until a request reads them."""

    def __init__(self, listener: DtuListener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.identity: str | None = None  # the device identity once registered
        self.buffer = bytearray()
        self.closed = False
        self._arrived: asyncio.Future[None] | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not always a subclass of asyncio.Transport (uvloop's)
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""
        self.listener._accepted(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_BUFFER:  # a chatty or hostile peer: keep the newest bytes
            del self.buffer[:-MAX_BUFFER]
        if self.identity is None:
            self.listener._identify(self)
        elif self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._deadline is not None:
            self._deadline.cancel()
        self.listener._lost(self)
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, frame: bytes) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionException(f"DTU {self.identity}: socket closed")
        self.transport.write(frame)

    async def more(self) -> None:
        """Wait until more bytes arrive or the socket closes."""
        self._arrived = asyncio.get_running_loop().create_future()
        try:
            await self._arrived
        finally:
            self._arrived = None


class DtuListener:
    """One listening socket; the DTUs that dial in to it, each found by its identity."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._by_packet: dict[bytes, str] = {}
        self._admits: dict[str, ModbusDtuDevice] = {}  # identity -> its config
        self._by_peer: dict[str, str] = {}
        self._timeout = 10.0
        self.sessions: dict[str, DtuConnection] = {}
        self._pending: set[DtuConnection] = set()
        self._registrations: dict[str, asyncio.Future[None]] = {}  # connects waiting
        self._server: asyncio.Server | None = None
        self._starting: asyncio.Lock | None = None
        self._users = 0
        self.counters: Counter[str] = Counter()
        self._log = ThrottledLog(log)

    def expect(self, device: ModbusDtuDevice) -> str:
        """Register a DTU this listener should accept; returns its identity."""
        packet = device.registration_packet
        if packet is not None:
            self._by_packet[packet] = device.identity
        elif device.peer is not None:
            self._by_peer[device.peer] = device.identity
        self._admits[device.identity] = device
        self._timeout = min(self._timeout, device.registration_timeout)
        self._users += 1
        return device.identity

    async def start(self) -> None:
        """Listen (once; later calls return at once)."""
        if self._server is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._server is None:
                loop = asyncio.get_running_loop()
                self._server = await loop.create_server(lambda: DtuConnection(self),
                                                        self.host, self.port)
                _LISTENING.add(self)

    async def detach(self) -> None:
        """A hub using this listener closed; the last one stops it and drops every DTU."""
        self._users = max(0, self._users - 1)
        if self._users == 0:
            await self.stop()

    async def stop(self) -> None:
        server, self._server = self._server, None
        _LISTENING.discard(self)
        for connection in [*self.sessions.values(), *self._pending]:
            connection.close()
        self.sessions.clear()
        self._pending.clear()
        if server is not None:
            server.close()
            await server.wait_closed()

    def session(self, identity: str) -> DtuConnection | None:
        connection = self.sessions.get(identity)
        return None if connection is None or connection.closed else connection

    async def wait_session(self, identity: str, timeout: float) -> DtuConnection | None:
        """The DTU's open socket, if it registers within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (found := self.session(identity)) is None and loop.time() < deadline:
            waiter = self._registrations.setdefault(identity, loop.create_future())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await asyncio.shield(waiter)
        return found

    def _accepted(self, connection: DtuConnection) -> None:
        self.counters["dtu-accepted"] += 1
        identity = self._by_peer.get(connection.peer)
        if identity is not None:
            self._registered(connection, identity)
            return
        if len(self._pending) >= MAX_PENDING or not self._by_packet:
            self.counters["dtu-unknown" if not self._by_packet else "dtu-too-many"] += 1
            self._log.warning(("refused", connection.peer), "DTU listener %s:%d: refused a "
                              "connection from %s (unknown peer, or too many waiting)",
                              self.host, self.port, connection.peer)
            connection.close()
            return
        self._pending.add(connection)
        connection._deadline = asyncio.get_running_loop().call_later(
            self._timeout, self._unregistered, connection)

    def _identify(self, connection: DtuConnection) -> None:
        data = bytes(connection.buffer)
        for packet, identity in self._by_packet.items():
            if data.startswith(packet):
                if not self._admits[identity].admits(connection.peer):
                    self.counters["dtu-wrong-network"] += 1
                    self._log.warning(("network", connection.peer), "DTU listener %s:%d: %s "
                                      "registered as %s from outside its peer_networks; "
                                      "closed", self.host, self.port, connection.peer,
                                      identity)
                    self._drop_pending(connection)
                    return
                del connection.buffer[: len(packet)]
                self._registered(connection, identity)
                return
        if len(data) >= MAX_REGISTRATION or not any(p.startswith(data) for p in
                                                    self._by_packet):
            self.counters["dtu-unknown"] += 1
            self._log.warning(("unknown", connection.peer), "DTU listener %s:%d: %s sent an "
                              "unknown registration %r; closed", self.host, self.port,
                              connection.peer, data[:64])
            self._drop_pending(connection)

    def _registered(self, connection: DtuConnection, identity: str) -> None:
        self._pending.discard(connection)
        if connection._deadline is not None:
            connection._deadline.cancel()
        connection.identity = identity
        old = self.sessions.get(identity)
        self.sessions[identity] = connection
        self.counters["dtu-registered"] += 1
        waiter = self._registrations.pop(identity, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if old is not None and not old.closed:
            self.counters["dtu-replaced"] += 1
            self._log.warning(("replaced", identity), "DTU %s reconnected from %s; the old "
                              "connection from %s is closed", identity, connection.peer,
                              old.peer)
            old.close()
        connection.buffer.clear()  # the rest of the registration, a heartbeat

    def _unregistered(self, connection: DtuConnection) -> None:
        if connection.identity is None and not connection.closed:
            self.counters["dtu-unregistered"] += 1
            self._log.warning(("unregistered", connection.peer), "DTU listener %s:%d: %s "
                              "sent no registration within %.0f s; closed", self.host,
                              self.port, connection.peer, self._timeout)
            self._drop_pending(connection)

    def _drop_pending(self, connection: DtuConnection) -> None:
        self._pending.discard(connection)
        connection.close()

    def _lost(self, connection: DtuConnection) -> None:
        self._pending.discard(connection)
        if connection.identity:
            self.counters["dtu-lost"] += 1
        if connection.identity and self.sessions.get(connection.identity) is connection:
            del self.sessions[connection.identity]


class DtuClient(ModbusClientMixin[Awaitable[Any]]):
    """A Modbus RTU master over whichever socket the DTU has open now (``hub.ModbusClient``).

    ``connect`` starts the listener if need be and takes the DTU's current socket; it fails
    (the hub backs off) while the DTU has not dialled in. ``close`` is called by the hub
    only when the transport failed: it drops the socket, and the DTU dials again.
    """

    def __init__(self, listener: DtuListener, identity: str, *, timeout: float,
                 retries: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.listener, self.identity = listener, identity
        self.timeout, self.retries = timeout, retries
        self._framer = FramerRTU(DecodePDU(False))
        self._connection: DtuConnection | None = None

    @property
    def connected(self) -> bool:
        connection = self._connection
        return (connection is not None and not connection.closed
                and self.listener.session(self.identity) is connection)

    async def connect(self) -> bool:
        """Take the DTU's socket, waiting up to one timeout for a DTU that is dialling."""
        await self.listener.start()
        self._connection = await self.listener.wait_session(self.identity, self.timeout)
        if self._connection is None:
            raise ConnectionException(f"DTU {self.identity} has not dialled in to "
                                      f"{self.listener.host}:{self.listener.port}")
        return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def execute(self, no_response_expected: bool, request: ModbusPDU) -> Awaitable[Any]:
        return self._execute(request)

    async def _execute(self, request: ModbusPDU) -> ModbusPDU:
        connection = self._connection
        if connection is None or not self.connected:
            raise ConnectionException(f"DTU {self.identity}: not connected")
        frame = self._framer.buildFrame(request)
        for _attempt in range(self.retries + 1):
            connection.buffer.clear()  # heartbeats, a late answer to an earlier request
            connection.send(frame)
            try:
                async with asyncio.timeout(self.timeout):
                    while True:
                        used, pdu = self._framer.handleFrame(bytes(connection.buffer),
                                                             request.dev_id, 0)
                        del connection.buffer[:used]
                        if pdu is not None:
                            return pdu
                        if connection.closed:
                            raise ConnectionException(f"DTU {self.identity}: socket closed")
                        await connection.more()
            except TimeoutError:
                continue
        raise ModbusIOException(f"DTU {self.identity}: no answer from unit "
                                f"{request.dev_id} after {self.retries + 1} tries",
                                function_code=request.function_code, dev_id=request.dev_id)
