"""The simulated Modbus devices over real sockets, read and written by a real pymodbus client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from pymodbus.client import AsyncModbusTcpClient

from gateway.modbus.codec import decode
from simulators.plant import SimulatedPlant, SimulationError
from simulators.scenarios import DeadDevice, Scenario
from tests.simulators.conftest import T0, demo_config, eventually, port_of

T = TypeVar("T")


def modbus_only() -> Any:
    """The demo site without its MQTT devices (no broker needed)."""
    config = demo_config()
    mqtt = {d.id for d in config.devices if d.protocol == "mqtt"}
    return config.model_copy(
        update={
            "devices": [d for d in config.devices if d.id not in mqtt],
            "sensors": [s for s in config.sensors if s.device not in mqtt],
        }
    )


@asynccontextmanager
async def running(config: Any, **kwargs: Any) -> AsyncIterator[SimulatedPlant]:
    options: dict[str, Any] = {"scenario": "normal-day", "speed": 600.0, "seed": 7,
                               "start": T0, "tick": 0.05}
    options.update(kwargs)
    plant = SimulatedPlant(config, **options)
    await plant.start()
    try:
        yield plant
    finally:
        await asyncio.wait_for(plant.stop(), timeout=2.0)


async def with_client(port: int, call: Callable[[AsyncModbusTcpClient], Awaitable[T]]) -> T:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    try:
        assert await client.connect(), f"nothing answers on port {port}"
        return await call(client)
    finally:
        client.close()


async def answers(port: int) -> bool:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0,
                                  reconnect_delay=0)
    try:
        return bool(await client.connect())
    finally:
        client.close()


def test_gas_detector_float_and_loop_current_are_what_the_simulator_holds() -> None:
    config = modbus_only()

    async def main() -> None:
        async with running(config, tick=3600.0) as plant:  # one update: values stay put
            regs = await with_client(
                port_of(config, "gas-panel-1"),
                lambda c: c.read_holding_registers(0, count=4, device_id=1),
            )
            assert not regs.isError(), regs
            gas_ppm = decode(regs.registers[0:2], "FLOAT32", "ABCD")
            held = plant.current_value("gp1-h2s")
            assert gas_ppm == pytest.approx(held, rel=1e-6)
            assert 0.0 <= held < 2.0
            milliamps = regs.registers[2] * 0.001
            assert milliamps == pytest.approx(4.0 + 16.0 * held / 100.0, abs=0.001)

            loop = await with_client(
                port_of(config, "gas-loop-1"),
                lambda c: c.read_holding_registers(2, count=1, device_id=1),
            )
            nh3 = (loop.registers[0] * 0.001 - 4.0) * 100.0 / 16.0
            assert nh3 == pytest.approx(plant.current_value("gl1-nh3"), abs=0.01)

    asyncio.run(main())


def test_set_value_and_fault_reach_the_wire() -> None:
    config = modbus_only()
    port = port_of(config, "gas-panel-1")

    async def main() -> None:
        async with running(config) as plant:
            plant.set_value("gp1-h2s", 23.5)
            plant.set_fault("gas-panel-1", True)
            regs = await with_client(port, lambda c: c.read_holding_registers(0, count=4))
            assert decode(regs.registers[0:2], "FLOAT32") == pytest.approx(23.5)
            assert regs.registers[2] == 3600  # NE 43 fault current
            assert regs.registers[3] & 1 and regs.registers[3] & (1 << 4)  # fault, alarm
            plant.set_fault("gas-panel-1", None)
            regs = await with_client(port, lambda c: c.read_holding_registers(0, count=4))
            assert regs.registers[2] == round((4.0 + 16.0 * 0.235) * 1000)
            assert not regs.registers[3] & 1

    asyncio.run(main())


def test_wrong_register_map_gets_exception_responses() -> None:
    config = modbus_only()
    port = port_of(config, "gas-panel-1")

    async def main() -> None:
        async with running(config):
            beyond = await with_client(port, lambda c: c.read_holding_registers(3, count=2))
            assert beyond.isError() and beyond.exception_code == 2
            inputs = await with_client(port, lambda c: c.read_input_registers(0, count=2))
            assert inputs.isError() and inputs.exception_code == 2
            write = await with_client(port, lambda c: c.write_register(0, 7))
            assert write.isError() and write.exception_code == 2

    asyncio.run(main())


def test_fan_runs_after_the_spin_up_when_commanded() -> None:
    config = modbus_only()
    port = port_of(config, "fan-1")

    async def main() -> None:
        async with running(config, spin_up=0.3) as plant:
            before = await with_client(port, lambda c: c.read_discrete_inputs(0, count=2))
            assert before.bits[:2] == [False, False]
            written = await with_client(port, lambda c: c.write_coil(0, True))
            assert not written.isError()

            async def running_feedback() -> bool:
                r = await with_client(port, lambda c: c.read_discrete_inputs(0, count=2))
                return r.bits[:2] == [True, False]

            await eventually(running_feedback, timeout=10.0)
            assert plant.fan("fan-1").commanded
            current = await with_client(port, lambda c: c.read_holding_registers(0, count=1))
            assert current.registers == [1250]
            coil = await with_client(port, lambda c: c.read_coils(0, count=1))
            assert coil.bits[0] is True
            await with_client(port, lambda c: c.write_coil(0, False))
            stopped = await with_client(port, lambda c: c.read_discrete_inputs(0, count=1))
            assert stopped.bits[0] is False

    asyncio.run(main())


def test_fan_fails_running_stays_off_and_fault_is_set() -> None:
    config = modbus_only()
    port = port_of(config, "fan-1")

    async def main() -> None:
        async with running(config, scenario="fan-fails", spin_up=0.2) as plant:
            await with_client(port, lambda c: c.write_coil(0, True))
            await asyncio.sleep(1.0)  # five spin-up delays
            r = await with_client(port, lambda c: c.read_discrete_inputs(0, count=2))
            assert r.bits[:2] == [False, True]  # not running, fault
            coil = await with_client(port, lambda c: c.read_coils(0, count=1))
            assert coil.bits[0] is True  # the command is held, the fan just does not run
            assert not plant.fan("fan-1").running

    asyncio.run(main())


def test_dead_sensor_closes_its_port_at_the_scenario_time_and_resumes() -> None:
    config = modbus_only()
    dead, alive = port_of(config, "gas-panel-1"), port_of(config, "dust-1")
    scenario = Scenario("short-outage", "test", (DeadDevice("gas-panel-1", 100.0, 400.0),))

    async def main() -> None:
        async with running(config, scenario=scenario, speed=100.0) as plant:
            assert await answers(dead) or plant.elapsed >= 100.0

            async def gone() -> bool:
                return not await answers(dead) and plant.elapsed >= 100.0

            await eventually(gone, timeout=20.0)
            assert await answers(alive)
            regs = await with_client(alive, lambda c: c.read_input_registers(0, count=5))
            assert not regs.isError()
            await eventually(lambda: answers(dead), timeout=30.0)
            assert plant.elapsed >= 400.0

    asyncio.run(main())


def test_named_dead_sensor_scenario_hits_the_first_modbus_sensor_device() -> None:
    config = modbus_only()

    async def main() -> None:
        async with running(config, scenario="dead-sensor", speed=600.0) as plant:
            await eventually(
                lambda: asyncio.sleep(0, result=plant.elapsed > 700.0), timeout=20.0
            )
            assert not await answers(port_of(config, "gas-panel-1"))
            for other in ("gas-loop-1", "dust-1", "slm-1", "fan-1"):
                assert await answers(port_of(config, other)), other

    asyncio.run(main())


def test_no_response_mode_answers_gateway_exception_and_stop_start_device() -> None:
    config = modbus_only()
    port = port_of(config, "dust-1")
    scenario = Scenario("mute", "test", (DeadDevice("dust-1", 0.0, mode="no-response"),))

    async def main() -> None:
        async with running(config, scenario=scenario) as plant:
            r = await with_client(port, lambda c: c.read_input_registers(0, count=2))
            assert r.isError() and r.exception_code == 0x0B
            slm = port_of(config, "slm-1")
            await plant.stop_device("slm-1")
            assert not await answers(slm)
            await plant.start_device("slm-1")
            regs = await with_client(slm, lambda c: c.read_holding_registers(0, count=3))
            assert 300 <= regs.registers[0] <= 1000  # LAeq in 0.1 dB

    asyncio.run(main())


def test_port_in_use_is_a_clear_error() -> None:
    config = modbus_only()

    async def main() -> None:
        async with running(config):
            twin = SimulatedPlant(config, speed=600.0, seed=7, start=T0)
            with pytest.raises(SimulationError, match=r"cannot listen on 127\.0\.0\.1:"):
                await twin.start()

    asyncio.run(main())
