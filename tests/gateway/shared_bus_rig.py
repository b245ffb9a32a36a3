"""Eight units behind one connection, five answering and three silent, on every link kind.

Used by tests/gateway/test_shared_bus.py and bench/shared_bus.py. The devices are real
pymodbus servers that answer for unit ids 1-5 and stay silent for 6-8
(``ignore_missing_devices``: no exception response, the request simply goes unanswered,
as on a bus where those detectors are unplugged; pymodbus 3.16's simulator datastore
answers any unit id with device 0's data or an error, so ``silent_for_missing`` makes it
say "no such unit", which is what ``ignore_missing_devices`` acts on):

- ``tcp``: a Modbus TCP server (a TCP-to-RTU gateway in front of a bus);
- ``rtu-tcp``: a TCP server speaking RTU frames (a serial server, 串口服务器);
- ``serial``: an RTU serial server on one end of a pseudo-terminal pair (``SerialLink``);
- ``dtu``: the same RTU-over-TCP server behind ``DtuSimulator``, a real socket client that
  dials the gateway's DTU listener, sends its registration packet and then relays bytes
  between the gateway and the server, as a 4G DTU relays them to its RS-485 port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator.simcore import SimCore

from gateway.driver import PolledDriver
from gateway.modbus.codec import encode
from occmon.config import SiteConfig
from occmon.model import Reading
from tests.gateway.modbus_server import Registers, sim_device
from tests.gateway.serial_link import SerialLink
from tests.servers import free_port, wait_port

LIVE = (1, 2, 3, 4, 5)
SILENT = (6, 7, 8)
LINKS = ("tcp", "rtu-tcp", "serial", "dtu")
PROTOCOL = {"tcp": "modbus-tcp", "rtu-tcp": "modbus-rtu-tcp", "serial": "modbus-rtu",
            "dtu": "modbus-dtu"}
REGISTRATION = "DTU-860123456789012"  # what the simulated DTU sends first (its IMEI here)


def unit_registers(unit: int, ppm: float | None = None) -> Registers:
    """A toxic-gas detector reading ``ppm`` (default: its unit id), status word clear."""
    return {"holding": {0: encode(float(unit if ppm is None else ppm), "FLOAT32", "ABCD"),
                        2: 0, 3: 0}}


def site(link: str, endpoint: Mapping[str, Any], *, interval: float = 1.0,
         timeout: float = 0.3, retries: int = 0, **timing: float) -> SiteConfig:
    """Units 1-8 on one connection of kind ``link``, one H2S point each."""
    units = (*LIVE, *SILENT)
    return SiteConfig.model_validate({
        "site": {"id": "bus", "name": {"zh": "总线", "en": "Bus"}},
        "areas": [{"id": "plant", "name": {"zh": "车间", "en": "Plant"}}],
        "points": [{"id": f"p{u}", "name": {"zh": f"点{u}", "en": f"Point {u}"},
                    "area": "plant", "agent": "h2s"} for u in units],
        "devices": [{"id": f"unit-{u}", "protocol": PROTOCOL[link], **endpoint, "unit_id": u,
                     "profile": "toxic-gas-detector", "poll_interval": interval,
                     "timeout": timeout, "retries": retries, **timing} for u in units],
        "sensors": [{"id": f"s{u}", "point": f"p{u}", "device": f"unit-{u}",
                     "register": "gas_ppm", "unit": "ppm"} for u in units],
    })


class _UnitsOnly(SimCore):
    """The simulator datastore, but a unit id it does not have is "no such unit"."""

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> Any:
        if device_id not in self.devices:
            raise NoSuchIdException(f"no unit {device_id}")
        return await super().async_getValues(device_id, func_code, address, count)

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: Any) -> Any:
        if device_id not in self.devices:
            raise NoSuchIdException(f"no unit {device_id}")
        return await super().async_setValues(device_id, func_code, address, values)


def silent_for_missing(server: Any) -> Any:
    """Make a pymodbus server (built with ``ignore_missing_devices``) silent for unit ids
    it does not serve."""
    assert isinstance(server.context, SimCore) and server.ignore_missing_devices
    server.context.__class__ = _UnitsOnly
    return server


class DtuSimulator:
    """A 4G DTU: dials ``gateway`` until it gets through, registers, relays to ``server``.

    ``reconnect``: dial again after the gateway (or ``drop``) closed the socket, as real
    DTUs do; ``connections`` counts the sockets it opened, ``closed_by_gateway`` those the
    gateway ended.
    """

    def __init__(self, gateway: tuple[str, int], server: tuple[str, int],
                 registration: bytes = REGISTRATION.encode(), *, reconnect: bool = True,
                 retry: float = 0.05) -> None:
        self.gateway, self.server = gateway, server
        self.registration = registration
        self.reconnect, self.retry = reconnect, retry
        self.connections = 0
        self.closed_by_gateway = 0
        self.online = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._dropping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def drop(self) -> None:
        """Lose the cellular link: the socket to the gateway closes from this side."""
        if self._writer is not None:
            self._dropping = True
            self._writer.transport.abort()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                await self._session()
            if not self.reconnect:
                return
            await asyncio.sleep(self.retry)

    async def _session(self) -> None:
        up_r, up_w = await asyncio.open_connection(*self.gateway)
        self.connections += 1
        self._writer = up_w
        down_r, down_w = await asyncio.open_connection(*self.server)
        try:
            up_w.write(self.registration)
            await up_w.drain()
            self.online.set()
            to_bus = asyncio.create_task(_pump(up_r, down_w))
            to_gateway = asyncio.create_task(_pump(down_r, up_w))
            done, pending = await asyncio.wait({to_bus, to_gateway},
                                               return_when=asyncio.FIRST_COMPLETED)
            if to_bus in done and not self._dropping:
                self.closed_by_gateway += 1
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            self.online.clear()
            self._writer = None
            self._dropping = False
            for writer in (up_w, down_w):
                writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()


async def rtu_tcp_server(units: Mapping[int, Registers]) -> tuple[Any, int]:
    """A pymodbus TCP server speaking RTU frames; silent for unit ids it does not have."""
    port = free_port()
    server = silent_for_missing(ModbusTcpServer(
        [sim_device(u, r) for u, r in units.items()], address=("127.0.0.1", port),
        framer=FramerType.RTU, ignore_missing_devices=True))
    await server.serve_forever(background=True)
    wait_port(port)
    return server, port


@contextlib.asynccontextmanager
async def bus(link: str) -> AsyncIterator[dict[str, Any]]:
    """Serve units 1-5 on a link of kind ``link``; yields the devices' endpoint config."""
    units = {u: unit_registers(u) for u in LIVE}
    servers: list[Any] = []
    serial: SerialLink | None = None
    dtu: DtuSimulator | None = None
    try:
        if link == "tcp":
            port = free_port()
            server = silent_for_missing(ModbusTcpServer(
                [sim_device(u, r) for u, r in units.items()], address=("127.0.0.1", port),
                ignore_missing_devices=True))
            await server.serve_forever(background=True)
            servers.append(server)
            wait_port(port)
            yield {"host": "127.0.0.1", "port": port}
        elif link == "rtu-tcp":
            server, port = await rtu_tcp_server(units)
            servers.append(server)
            yield {"host": "127.0.0.1", "port": port}
        elif link == "serial":
            serial = SerialLink()
            server = silent_for_missing(ModbusSerialServer(
                [sim_device(u, r) for u, r in units.items()], port=serial.device_port,
                baudrate=115200, ignore_missing_devices=True))
            await server.serve_forever(background=True)
            servers.append(server)
            yield {"serial_port": serial.gateway_port, "baudrate": 115200}
        elif link == "dtu":
            server, port = await rtu_tcp_server(units)
            servers.append(server)
            listen = free_port()
            dtu = DtuSimulator(("127.0.0.1", listen), ("127.0.0.1", port))
            dtu.start()
            yield {"listen_host": "127.0.0.1", "listen_port": listen,
                   "registration": REGISTRATION}
        else:
            raise ValueError(f"unknown link {link!r}")
    finally:
        if dtu is not None:
            await dtu.stop()
        for server in servers:
            await server.shutdown()
        if serial is not None:
            serial.close()


class CountedPolls:
    """A PolledDriver that counts its polls, their failures and durations."""

    def __init__(self, driver: PolledDriver) -> None:
        self.driver = driver
        self.polls = 0
        self.good = 0  # polls that returned readings (the rest failed or overran)
        self.failures: Counter[str] = Counter()
        self.durations: list[float] = []

    @property
    def device_id(self) -> str:
        return self.driver.device_id

    @property
    def interval(self) -> float:
        return self.driver.interval

    async def poll(self, now: float) -> list[Reading]:
        self.polls += 1
        start = time.perf_counter()
        try:
            readings = await self.driver.poll(now)
            self.good += 1
            return readings
        except Exception as exc:
            self.failures[type(exc).__name__] += 1
            raise
        finally:
            self.durations.append(time.perf_counter() - start)

    def offline_readings(self, now: float, reason: str) -> list[Reading]:
        return self.driver.offline_readings(now, reason)

    async def close(self) -> None:
        await self.driver.close()
