"""ModbusDevice against real pymodbus TCP servers on free ports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.driver import DeviceOffline
from gateway.modbus.device import ModbusDevice
from gateway.modbus.drivers import build_drivers
from gateway.modbus.hub import connection_key
from gateway.normalise import normalise
from occmon.batch import GoodBatch
from occmon.payload_v2 import Encoder
from tests.gateway.helpers import bindings_for
from tests.gateway.modbus_server import ModbusTestServer, Registers
from tests.gateway.sites import DEMO, custom_site, load_plain, load_site

T = TypeVar("T")
NOW = 1_750_000_000.0


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


# Register values written by hand from struct-packed bytes:
# 12.34 as float32 = 41 45 70 a4; 3.5 = 40 60 00 00; 1.25 = 3f a0 00 00 (dust: CDAB).
DEMO_REGISTERS: dict[str, Registers] = {
    "gas-panel-1": {"holding": {0: [0x4145, 0x70A4], 2: 0, 3: 0}},
    "gas-loop-1": {"holding": {0: [0, 0], 2: 12000, 3: 0}},
    "dust-1": {"input": {0: [0x0000, 0x4060, 0x0000, 0x3FA0], 4: 0}},
    "slm-1": {"holding": {0: [853, 1352], 2: 0}},
    "fan-1": {"coil": {0: 0}, "discrete": {0: [1, 0]}, "holding": {0: 1250}},
    "fan-2": {"coil": {0: 0}, "discrete": {0: [0, 0]}, "holding": {0: 0}},  # standby fan
}


async def with_demo(
    registers: dict[str, Registers],
    body: Callable[[dict[str, ModbusDevice], dict[str, ModbusTestServer]], Awaitable[T]],
) -> T:
    config = load_site(DEMO)
    servers: dict[str, ModbusTestServer] = {}
    for device in config.devices:
        if device.protocol == "modbus-tcp":
            servers[device.id] = ModbusTestServer(device.port, {device.unit_id:
                                                                registers[device.id]})
            await servers[device.id].start()
    drivers = {d.device_id: d for d in build_drivers(config, bindings_for(config), DEMO)}
    try:
        return await body(drivers, servers)
    finally:
        for driver in drivers.values():
            await driver.close()
        for server in servers.values():
            await server.stop()


def test_every_demo_profile_decodes() -> None:
    async def body(drivers: dict[str, ModbusDevice], _: Any) -> dict[str, list[Any]]:
        out = {}
        for device_id, driver in drivers.items():
            out[device_id] = [
                (r.sensor, r.quality, r.reason, round(r.value, 4) if r.value else r.value,
                 r.unit, r.raw_value and round(r.raw_value, 4), r.raw_unit)
                for r in await driver.poll(NOW)
            ]
        return out

    got = run(with_demo(DEMO_REGISTERS, body))
    # H2S 12.34 ppm * 34.08 g/mol / 24.04 L/mol = 17.4936 mg/m3;
    # NH3 loop 12 mA on [0, 100] ppm = 50 ppm * 17.03 / 24.04 = 35.4201 mg/m3.
    assert got == {
        "gas-panel-1": [("gp1-h2s", "good", None, 17.4936, "mg/m3", 12.34, "ppm")],
        "gas-loop-1": [("gl1-nh3", "good", None, 35.4201, "mg/m3", 12.0, "mA")],
        "dust-1": [
            ("d1-total", "good", None, 3.5, "mg/m3", 3.5, "mg/m3"),
            ("d1-resp", "good", None, 1.25, "mg/m3", 1.25, "mg/m3"),
        ],
        "slm-1": [
            ("s1-laeq", "good", None, 85.3, "dB(A)", 85.3, "dB(A)"),
            ("s1-peak", "good", None, 135.2, "dB(C)", 135.2, "dB(C)"),
        ],
        "fan-1": [],
        "fan-2": [],
    }


def test_fan_feedback_is_read_and_command_written() -> None:
    async def body(
        drivers: dict[str, ModbusDevice], servers: dict[str, ModbusTestServer]
    ) -> tuple[dict[str, float | int], dict[str, float | int]]:
        fan = drivers["fan-1"]
        await fan.poll(NOW)
        before = dict(fan.values)
        await fan.write("run_command", 1)
        await servers["fan-1"].set(1, "discrete", 0, [0])
        await servers["fan-1"].set(1, "discrete", 1, [1])
        await fan.poll(NOW)
        coil = await servers["fan-1"]._server.context.async_getValues(1, 1, 0, 1)
        return before, {**fan.values, "coil": int(coil[0])}

    before, after = run(with_demo(DEMO_REGISTERS, body))
    assert before == {"running": 1, "fault": 0}
    assert after == {"running": 0, "fault": 1, "coil": 1}


def test_status_fault_bit_and_warm_up_make_readings_bad() -> None:
    """Fault keeps its reason; warm-up is NE 107 check function (issue 16): not the air."""
    async def body(
        drivers: dict[str, ModbusDevice], servers: dict[str, ModbusTestServer]
    ) -> list[tuple[str, str | None]]:
        gas = drivers["gas-panel-1"]
        out = []
        for status in (0b1, 0b10, 0b10001):
            await servers["gas-panel-1"].set(1, "holding", 3, [status])
            [reading] = await gas.poll(NOW)
            out.append((str(reading.quality), reading.reason))
        return out

    assert run(with_demo(DEMO_REGISTERS, body)) == [
        ("bad", "sensor-fault"),
        ("bad", "check-function:warm-up"),
        ("bad", "sensor-fault"),
    ]


def test_loop_under_range_is_bad() -> None:
    registers: dict[str, Registers] = {
        **DEMO_REGISTERS,
        "gas-loop-1": {"holding": {0: [0, 0], 2: 3500, 3: 0}},
    }

    async def body(drivers: dict[str, ModbusDevice], _: Any) -> Any:
        return await drivers["gas-loop-1"].poll(NOW)

    [reading] = run(with_demo(registers, body))
    assert (reading.quality, reading.reason, reading.value) == ("bad", "loop-under-range", None)
    assert reading.raw_value == pytest.approx(3.5)


MISSING_REGISTER_PROFILE = """
name: two-gases
registers:
  - {name: h2s_ppm, kind: holding, address: 0, type: FLOAT32}
  - {name: co_ppm, kind: holding, address: 100, type: UINT16}
"""


def test_exception_response_marks_only_its_sensors_and_device_stays_online(
    tmp_path: Path,
) -> None:
    site = custom_site(
        tmp_path,
        MISSING_REGISTER_PROFILE,
        [
            {"id": "h2s", "register": "h2s_ppm", "unit": "ppm", "range": [0, 100]},
            {"id": "co", "register": "co_ppm", "unit": "ppm", "range": [0, 1000], "agent": "co"},
        ],
    )
    config = load_plain(site)
    device = config.devices[0]
    assert device.protocol == "modbus-tcp"
    # The server only has holding 0..3: reading holding 100 gets "illegal data address".
    server = ModbusTestServer(device.port, {1: {"holding": {0: [0x4145, 0x70A4, 0, 0]}}})

    async def body() -> tuple[Sequence[Any], Sequence[Any], int]:
        await server.start()
        [driver] = build_drivers(config, bindings_for(config), site)
        try:
            first = await driver.poll(NOW)
            second = await driver.poll(NOW + 1)
            return first, second, driver.counters["modbus-exception"]
        finally:
            await driver.close()
            await server.stop()

    first, second, count = run(body())
    for readings in (first, second):
        by_sensor = {r.sensor: r for r in readings}
        assert by_sensor["h2s"].quality == "good"
        assert by_sensor["h2s"].raw_value == pytest.approx(12.34, abs=1e-5)
        assert (by_sensor["co"].quality, by_sensor["co"].reason) == ("bad", "modbus-exception")
    assert count == 2


def test_no_server_is_offline_and_back_off_answers_at_once() -> None:
    config = load_site(DEMO)  # nothing listens on these free ports

    async def body() -> tuple[str, str, int, float]:
        driver = build_drivers(config, bindings_for(config), DEMO)[0]
        try:
            with pytest.raises(DeviceOffline) as first:
                await driver.poll(NOW)
            with pytest.raises(DeviceOffline) as second:
                await driver.poll(NOW)
            attempts = driver.hub.counters["connect-failed"]
            return first.value.reason, second.value.reason, attempts, driver.hub.retry_in
        finally:
            await driver.close()

    first, second, attempts, retry_in = run(body())
    assert first == second == "connect-failed"
    assert attempts == 1  # within the back-off the hub does not even try to connect
    assert 0 < retry_in <= 0.5


def test_devices_on_one_connection_share_a_hub(tmp_path: Path) -> None:
    config = load_site(DEMO)
    data = config.model_dump(by_alias=True)
    for device in data["devices"]:
        if device["protocol"] == "modbus-tcp":
            device["port"] = 1502
    data["devices"].append(
        {"id": "rtu-a", "protocol": "modbus-rtu", "serial_port": "/dev/ttyS9", "unit_id": 1,
         "profile": "sound-level-meter"}
    )
    data["devices"].append(
        {"id": "rtu-b", "protocol": "modbus-rtu", "serial_port": "/dev/ttyS9", "unit_id": 2,
         "profile": "sound-level-meter"}
    )
    from occmon.config import SiteConfig

    shared = SiteConfig.model_validate(data)
    drivers = build_drivers(shared, bindings_for(shared), DEMO)
    hubs = {connection_key(d.config): d.hub for d in drivers}
    assert sorted(hubs) == ["rtu:///dev/ttyS9", "tcp://127.0.0.1:1502"]
    assert len({id(d.hub) for d in drivers}) == 2


def test_a_good_poll_is_a_column_batch_equal_to_the_per_reading_way() -> None:
    """The usual poll comes back as an ``occmon.batch.GoodBatch`` (no Reading objects until
    asked for); its readings, and the v2 group the queue stores, are exactly those of
    ``normalise`` one value at a time. A value that is not good (NaN here) sends the whole
    poll the per-reading way, which says why, and the other sensor stays good."""
    bindings = bindings_for(load_site(DEMO))

    async def body(drivers: dict[str, ModbusDevice],
                   servers: dict[str, ModbusTestServer]) -> tuple[Any, Any]:
        dust = drivers["dust-1"]
        good = await dust.poll(NOW)
        await servers["dust-1"].set(1, "input", 0, [0x0000, 0x7FC0])  # NaN (CDAB)
        mixed = await dust.poll(NOW + 1)
        return good, mixed

    good, mixed = run(with_demo(DEMO_REGISTERS, body))
    assert isinstance(good, GoodBatch) and len(good) == 2
    expected = [normalise(bindings[r.sensor], r.raw_value, NOW, unit=r.raw_unit or "")
                for r in good]
    assert list(good) == expected and good == expected
    assert [(r.sensor, r.value, r.raw_value) for r in good] == [
        ("d1-total", 3.5, 3.5), ("d1-resp", 1.25, 1.25)]
    assert good[-1] == expected[1] and good[0:1] == expected[:1]
    batch_bytes, list_bytes = Encoder().group(good), Encoder().group(expected)
    assert batch_bytes == list_bytes
    assert not isinstance(mixed, GoodBatch)
    assert [(r.sensor, str(r.quality), r.reason) for r in mixed] == [
        ("d1-total", "bad", "not-a-number"), ("d1-resp", "good", None)]
