"""A real pymodbus TCP server in the test's event loop, seeded with register values.

``Registers`` maps a kind (holding, input, coil, discrete) to ``{address: value or list}``.
Each kind's datastore covers address 0 up to the highest seeded address, so a read beyond
it gets a real Modbus exception response (illegal data address) from pymodbus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from tests.servers import wait_port

Registers = Mapping[str, Mapping[int | str, int | Sequence[int]]]
_FC_WRITE = {"coil": 5, "discrete": 2, "holding": 6, "input": 4}
_ORDER = ("coil", "discrete", "holding", "input")


def _flatten(values: Mapping[int | str, int | Sequence[int]]) -> dict[int, int]:
    flat: dict[int, int] = {}
    for address, value in values.items():
        words = [value] if isinstance(value, int) else list(value)
        for i, word in enumerate(words):
            flat[int(address) + i] = int(word)
    return flat


def _block(kind: str, values: Mapping[int | str, int | Sequence[int]]) -> list[SimData]:
    flat = _flatten(values)
    if not flat:  # pymodbus needs a block in every kind
        if kind in ("coil", "discrete"):
            return [SimData(0, values=[False], datatype=DataType.BITS)]
        return [SimData(0, count=1, datatype=DataType.INVALID)]  # answers "illegal address"
    top = max(flat)
    if kind in ("coil", "discrete"):
        bits = [bool(flat.get(a, 0)) for a in range(top + 1)]
        return [SimData(0, values=bits, datatype=DataType.BITS)]
    words = [flat.get(a, 0) for a in range(top + 1)]
    return [SimData(0, values=words, datatype=DataType.REGISTERS)]


def sim_device(unit_id: int, registers: Registers) -> SimDevice:
    blocks = tuple(_block(kind, registers.get(kind, {})) for kind in _ORDER)
    return SimDevice(unit_id, simdata=blocks)  # type: ignore[arg-type]


class ModbusTestServer:
    """A Modbus TCP peer on 127.0.0.1:port; ``stop()`` then ``start()`` reuses the port."""

    def __init__(self, port: int, units: Mapping[int, Registers]) -> None:
        self.port = port
        self.units = dict(units)
        self._server: Any = None

    async def start(self) -> None:
        devices = [sim_device(unit, regs) for unit, regs in self.units.items()]
        self._server = ModbusTcpServer(devices, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)
        wait_port(self.port)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def set(self, unit: int, kind: str, address: int, values: Sequence[int]) -> None:
        """Change values while serving (as the device's own firmware would)."""
        assert self._server is not None
        payload: list[int] | list[bool] = (
            [bool(v) for v in values] if kind in ("coil", "discrete") else list(values)
        )
        result = await self._server.context.async_setValues(
            unit, _FC_WRITE[kind], address, payload
        )
        assert result is None, f"server refused to set {kind} {address}: {result}"
