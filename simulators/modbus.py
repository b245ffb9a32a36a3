"""A simulated Modbus TCP device: a real pymodbus server on its own port.

pymodbus 3.16 serves a ``SimDevice`` whose ``action`` hook runs on every request before the
datastore answers. The hook is the seam: it refuses addresses the profile does not define
(exception 0x02, as a real device does for a wrong register map), refuses writes to
anything but command registers, hands client writes to the plant (a fan's run command),
and copies the device's current ``RegisterImage`` into the pymodbus block, so every answer
is the image of that instant.

Outages (the dead-sensor scenario, ``stop_device``): 'closed' shuts the server (port closed,
connections dropped, connection refused) and a later resume binds the port again;
'no-response' keeps the port and answers exception 0x0B, as a TCP gateway does when the
instrument behind it is dead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.image import KIND_OF_FUNCTION, RegisterImage

log = logging.getLogger(__name__)

Mode = Literal["up", "closed", "no-response"]
WriteHandler = Callable[[list[str]], None]
BIT_KIND_NAMES = ("coil", "discrete")


class ModbusDeviceServer:
    """One simulated device served on ``host:port`` at ``unit_id`` inside the running loop."""

    def __init__(
        self,
        device: str,
        host: str,
        port: int,
        unit_id: int,
        image: RegisterImage,
        on_write: WriteHandler | None = None,
    ) -> None:
        self.device = device
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.image = image
        self.on_write = on_write
        self.mode: Mode = "closed"
        self.requests = 0
        self.refused: dict[str, int] = {}  # exception name -> count, for tests and logs
        self._server: ModbusTcpServer | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def _simdevice(self) -> SimDevice:
        def bits(kind: str) -> list[SimData]:
            count = self.image.span(kind)
            return [SimData(0, values=[False] * count, datatype=DataType.BITS)]

        def words(kind: str) -> list[SimData]:
            count = self.image.span(kind)
            return [SimData(0, values=[0] * count, datatype=DataType.REGISTERS)]

        return SimDevice(
            id=self.unit_id,
            simdata=(bits("coil"), bits("discrete"), words("holding"), words("input")),
            action=self._action,
        )

    async def set_mode(self, mode: Mode) -> None:
        """Bring the device up, close its port, or make it answer 0x0B."""
        if mode == self.mode:
            return
        log.info("simulated device %s: %s -> %s", self.device, self.mode, mode)
        if mode == "closed":
            await self._close()
        elif self._server is None:
            server = ModbusTcpServer(self._simdevice(), address=(self.host, self.port))
            await server.serve_forever(background=True)
            self._server = server
        self.mode = mode

    async def start(self) -> None:
        await self.set_mode("up")

    async def stop(self) -> None:
        await self.set_mode("closed")

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    def _refuse(self, code: ExcCodes) -> ExcCodes:
        self.refused[code.name] = self.refused.get(code.name, 0) + 1
        return code

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus request hook; ``count`` is in 16-bit words, also for bit requests."""
        self.requests += 1
        if self.mode == "no-response":
            return self._refuse(ExcCodes.GATEWAY_NO_RESPONSE)
        kind = KIND_OF_FUNCTION.get(function_code)
        if kind is None:
            return self._refuse(ExcCodes.ILLEGAL_FUNCTION)
        # For bits pymodbus passes the word count; the bit count is only known for writes.
        span = len(set_values) if set_values is not None else count
        if kind in BIT_KIND_NAMES and set_values is None:
            span = 1
        if not self.image.defined(kind, address, span):
            return self._refuse(ExcCodes.ILLEGAL_ADDRESS)
        if set_values is not None:
            if not self.image.writable(kind, address, len(set_values)):
                return self._refuse(ExcCodes.ILLEGAL_ADDRESS)
            touched = self.image.write(kind, address, set_values)
            if self.on_write is not None:
                self.on_write(touched)
        self._copy(kind, start_address, registers)
        return None

    def _copy(self, kind: str, start_address: int, registers: list[int]) -> None:
        """Copy the image into the pymodbus block (bits packed 16 to a word, bit 0 first)."""
        if kind in BIT_KIND_NAMES:
            cells = self.image.words(kind, self.image.span(kind))
            packed = [0] * ((len(cells) + 15) // 16)
            for i, bit in enumerate(cells):
                if bit:
                    packed[i // 16] |= 1 << (i % 16)
            values = packed[start_address:]
        else:
            values = self.image.words(kind, self.image.span(kind))[start_address:]
        n = min(len(values), len(registers))
        registers[:n] = values[:n]
