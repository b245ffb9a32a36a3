"""Modbus RTU over a real serial line: two detectors and a fan controller on one bus.

The devices are a pymodbus RTU serial server answering for unit ids 1-3 on one end of a
pseudo-terminal link, the gateway's drivers open the other end with pyserial, exactly as
they would open /dev/ttyUSB0 on an RS-485 adapter.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymodbus.server import ModbusSerialServer

from gateway.modbus.drivers import build_drivers
from occmon.config import SiteConfig
from tests.gateway.helpers import bindings_for
from tests.gateway.modbus_server import sim_device
from tests.gateway.serial_link import SerialLink
from tests.gateway.sites import DEMO, load_site

NOW = 1_750_000_000.0
ON_THE_BUS = {"gas-panel-1": 1, "slm-1": 2, "fan-1": 3}
REGISTERS: dict[int, Any] = {
    1: {"holding": {0: [0x4145, 0x70A4], 2: 0, 3: 0}},  # 12.34 ppm as FLOAT32 ABCD
    2: {"holding": {0: [853, 1352], 2: 0}},  # LAeq 85.3 dB(A), LCpeak 135.2 dB(C)
    3: {"coil": {0: 0}, "discrete": {0: [1, 0]}, "holding": {0: 1250}},
}


def rtu_site(port: str) -> SiteConfig:
    data = load_site(DEMO).model_dump(by_alias=True)
    for device in data["devices"]:
        if device["id"] in ON_THE_BUS:
            for key in ("host", "port"):
                device.pop(key, None)
            device.update(protocol="modbus-rtu", serial_port=port, baudrate=19200,
                          unit_id=ON_THE_BUS[device["id"]], timeout=1.0)
    return SiteConfig.model_validate(data)


def test_devices_on_one_rs485_bus_are_polled_and_commanded() -> None:
    link = SerialLink()

    async def main() -> tuple[dict[str, dict[str, Any]], int, int]:
        server = ModbusSerialServer([sim_device(u, r) for u, r in REGISTERS.items()],
                                    port=link.device_port, baudrate=19200)
        await server.serve_forever(background=True)
        config = rtu_site(link.gateway_port)
        drivers = {d.device_id: d for d in build_drivers(config, bindings_for(config), DEMO)
                   if d.device_id in ON_THE_BUS}
        try:
            values = {}
            for _ in range(2):  # the second round on the already open port
                await asyncio.gather(*(d.poll(NOW) for d in drivers.values()))
            for name, driver in drivers.items():
                values[name] = dict(driver.values)
            await drivers["fan-1"].write("run_command", 1)
            coil: Any = await server.context.async_getValues(3, 1, 0, 1)
            hubs = len({id(d.hub) for d in drivers.values()})
        finally:
            for driver in drivers.values():
                await driver.close()
            await server.shutdown()  # type: ignore[no-untyped-call]
        return values, int(coil[0]), hubs

    try:
        values, coil, hubs = asyncio.run(main())
    finally:
        link.close()
    assert hubs == 1  # one bus, one hub, one request on the wire at a time
    assert values["gas-panel-1"]["gas_ppm"] == pytest.approx(12.34, abs=1e-5)
    assert (values["slm-1"]["laeq_1s"], values["slm-1"]["lcpeak"]) == (853, 1352)  # x 0.1 dB
    assert values["fan-1"] == {"running": 1, "fault": 0}
    assert coil == 1


def test_the_link_carries_bytes_both_ways() -> None:
    """The test's own cable: what one side writes, the other reads."""
    import os

    link = SerialLink()
    try:
        a = os.open(link.device_port, os.O_RDWR | os.O_NOCTTY)
        b = os.open(link.gateway_port, os.O_RDWR | os.O_NOCTTY)
        os.write(a, b"\x01\x03\x00\x00")
        got = b""
        while len(got) < 4:
            got += os.read(b, 16)
        os.write(b, b"ok")
        back = os.read(a, 16)
        os.close(a)
        os.close(b)
    finally:
        link.close()
    assert got == b"\x01\x03\x00\x00" and back == b"ok"
    assert Path(link.gateway_port).name != Path(link.device_port).name


def test_a_silent_unit_on_the_bus_does_not_take_the_others_offline() -> None:
    """Unit 9 is configured but unplugged: its polls time out, the other units keep
    answering and the bus is never marked offline for them."""
    link = SerialLink(absent_units=frozenset({9}))

    async def main() -> tuple[list[str], list[float], Any]:
        server = ModbusSerialServer([sim_device(u, r) for u, r in REGISTERS.items()],
                                    port=link.device_port, baudrate=19200)
        await server.serve_forever(background=True)
        data = rtu_site(link.gateway_port).model_dump(by_alias=True)
        dead = next(d for d in data["devices"] if d["id"] == "dust-1")
        for key in ("host", "port"):
            dead.pop(key, None)
        dead.update(protocol="modbus-rtu", serial_port=link.gateway_port, baudrate=19200,
                    unit_id=9, timeout=0.3, retries=0)
        config = SiteConfig.model_validate(data)
        drivers = {d.device_id: d for d in build_drivers(config, bindings_for(config), DEMO)
                   if d.device_id in (*ON_THE_BUS, "dust-1")}
        failures: list[str] = []
        gas: list[float] = []
        try:
            for _ in range(3):
                try:
                    await drivers["dust-1"].poll(NOW)
                except Exception as exc:
                    failures.append(type(exc).__name__)
                gas.append((await drivers["gas-panel-1"].poll(NOW))[0].value or 0.0)
            counters = dict(drivers["gas-panel-1"].hub.counters)
        finally:
            for driver in drivers.values():
                await driver.close()
            await server.shutdown()  # type: ignore[no-untyped-call]
        return failures, gas, counters

    try:
        failures, gas, counters = asyncio.run(main())
    finally:
        link.close()
    assert failures == ["DeviceOffline"] * 3, counters
    assert len(gas) == 3 and all(v > 0 for v in gas), counters
