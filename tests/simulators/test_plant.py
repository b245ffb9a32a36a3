"""The whole simulated plant: scenarios over time, the fan venting a leak, reproducibility."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from pymodbus.client import AsyncModbusTcpClient

from gateway.modbus.codec import decode
from simulators.plant import SimulatedPlant, SimulationError
from tests.simulators.conftest import T0, demo_config, eventually, port_of
from tests.simulators.test_modbus_devices import modbus_only, running, with_client


def test_same_seed_same_series_different_seed_different() -> None:
    config = demo_config()
    times = T0 + np.arange(0.0, 4 * 3600.0, 97.0)

    def series(seed: int, sensor: str) -> list[float]:
        plant = SimulatedPlant(config, scenario="h2s-leak", seed=seed, start=T0)
        return [plant.value_at(sensor, float(t)) for t in times]

    for sensor in ("gp1-h2s", "d1-total", "s1-peak", "nd1-dose", "rd1-hp10", "w1-h2s"):
        assert series(7, sensor) == series(7, sensor), sensor
        assert series(7, sensor) != series(8, sensor), sensor


def test_h2s_leak_at_high_speed_crosses_10_ppm_within_its_stated_time() -> None:
    config = modbus_only()
    plant = SimulatedPlant(config, scenario="h2s-leak", seed=7, start=T0)
    assert plant.value_at("gp1-h2s", T0 + 200.0) < 10.0
    assert plant.value_at("gp1-h2s", T0 + 300.0) > 10.0  # stated: 10 ppm at ~270 s
    assert plant.value_at("gp1-h2s", T0 + 700.0) > 30.0
    assert plant.value_at("gl1-nh3", T0 + 700.0) < 10.0  # the NH3 point is not leaking

    async def main() -> None:
        async with running(config, scenario="h2s-leak", speed=300.0) as live:
            await eventually(lambda: asyncio.sleep(0, result=live.elapsed >= 320.0))
            await asyncio.sleep(0.1)
            assert 320.0 <= live.elapsed < 1500.0  # rising or holding
            assert live.current_value("gp1-h2s") > 10.0
            regs = await with_client(
                port_of(config, "gas-panel-1"), lambda c: c.read_holding_registers(0, count=4)
            )
            assert decode(regs.registers[0:2], "FLOAT32") > 10.0
            assert regs.registers[3] & (1 << 3)  # the detector's own pre-alarm (10 % FS)

    asyncio.run(main())


def test_running_fan_vents_the_leak() -> None:
    config = modbus_only()

    async def main() -> None:
        # speed 150: the leak holds at ~35 ppm from 660 s to 1560 s sim (4.4 s to 10.4 s real)
        async with running(config, scenario="h2s-leak", speed=150.0, spin_up=0.1) as plant:
            await eventually(lambda: asyncio.sleep(0, result=plant.elapsed >= 700.0))
            assert plant.current_value("gp1-h2s") > 30.0
            client = AsyncModbusTcpClient("127.0.0.1", port=port_of(config, "fan-1"))
            try:
                assert await client.connect()
                await client.write_coil(0, True)
            finally:
                client.close()
            # 12 air changes per hour: tau 300 s sim, so below 10 ppm ~380 s after the fan
            # starts, while the unvented leak would still hold at ~35 ppm.
            await eventually(
                lambda: asyncio.sleep(0, result=plant.current_value("gp1-h2s") < 10.0),
                timeout=30.0,
            )
            unvented = plant.value_at("gp1-h2s", plant.clock.now())
            assert unvented > 30.0, f"the leak had ended by itself (elapsed {plant.elapsed})"
            assert plant.fan("fan-1").running

    asyncio.run(main())


def test_stop_is_clean_and_quick() -> None:
    config = modbus_only()

    async def main() -> None:
        plant = SimulatedPlant(config, speed=600.0, seed=1, start=T0, tick=0.05)
        await plant.start()
        await asyncio.sleep(0.2)
        await asyncio.wait_for(plant.stop(), timeout=2.0)
        assert all(not d.server.listening for d in plant.modbus.values())
        await plant.stop()  # idempotent

    asyncio.run(main())


def test_unknown_sensor_and_device_are_refused() -> None:
    plant = SimulatedPlant(modbus_only(), seed=1, start=T0)
    with pytest.raises(KeyError, match="not simulated"):
        plant.set_value("nope", 1.0)
    with pytest.raises(KeyError, match="not a simulated Modbus device"):
        plant.set_fault("nope", True)


def test_config_the_simulator_cannot_serve_names_the_culprit() -> None:
    config = modbus_only()
    sensors = [
        s.model_copy(update={"register_name": "gas_pmm"}) if s.id == "gp1-h2s" else s
        for s in config.sensors
    ]
    with pytest.raises(SimulationError, match="device 'gas-panel-1': register 'gas_pmm'"):
        SimulatedPlant(config.model_copy(update={"sensors": sensors}), start=T0)
    devices = [
        d.model_copy(update={"profile": "no-such-profile"}) if d.id == "dust-1" else d
        for d in config.devices
    ]
    with pytest.raises(SimulationError, match="device 'dust-1': profile 'no-such-profile'"):
        SimulatedPlant(config.model_copy(update={"devices": devices}), start=T0)


def test_listen_serves_devices_addressed_by_a_container_name() -> None:
    """In compose the gateway reaches the devices as host "simulators": not loopback, so only
    ``listen`` makes the plant serve them (on the given address)."""
    base = modbus_only()
    named = base.model_copy(update={"devices": [
        d.model_copy(update={"host": "simulators"}) for d in base.devices
    ]})
    port = port_of(named, "gas-panel-1")

    async def main() -> None:
        idle = SimulatedPlant(named, speed=600.0, seed=1, start=T0, tick=0.05)
        assert idle.modbus == {}  # without listen: nothing of a non-loopback host
        plant = SimulatedPlant(named, speed=600.0, seed=1, start=T0, tick=0.05,
                               listen="127.0.0.1")
        assert set(plant.modbus) == {d.id for d in named.devices}
        await plant.start()
        plant.set_value("gp1-h2s", 4.25)
        try:
            client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2)
            await client.connect()

            async def reads_4_25() -> bool:
                reply = await client.read_holding_registers(0, count=2, device_id=1)
                assert not reply.isError()
                return bool(decode(reply.registers, "FLOAT32", "ABCD") == 4.25)

            try:
                assert await eventually(reads_4_25, timeout=5.0)
            finally:
                client.close()
        finally:
            await plant.stop()

    asyncio.run(main())
