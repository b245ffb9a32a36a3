"""The simulated plant of ``examples/real-instruments.yaml``: every shipped real-product
profile served over real Modbus sockets, the drives as fans, maintenance states.

A pymodbus client reads what the gateway would: the XNX's 40007 state code (10 in a bump
test), the ACS580 status word after the ABB Drives start sequence, the MD500's 3000H; a
running drive vents the leak at the points of its ventilation unit only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from occmon.config import SiteConfig, parse, read_yaml
from simulators.drive import (
    ABB_CONTROL,
    ABB_STATUS,
    MD_COMMAND,
    MD_SETTING,
    MD_STATE,
    SW_RDY_REF,
    SW_TRIPPED,
    AbbDrive,
    Phase,
)
from simulators.plant import SimulatedPlant
from simulators.scenarios import ScenarioError, get_scenario
from simulators.venting import step_drive
from tests.simulators.conftest import T0, eventually, free_ports

SITE = Path(__file__).resolve().parents[2] / "examples" / "real-instruments.yaml"
XNX_STATE = 6  # 40007 iMonitoringState, 0-based holding address
BUMP = "check-function:bump-test"


def real_site() -> SiteConfig:
    data, problems = read_yaml(SITE)
    assert not problems, problems
    for device, port in zip(data["devices"], free_ports(len(data["devices"])), strict=True):
        device["port"] = port
    config, problems = parse(data, SITE)
    assert config is not None, problems
    return config


@asynccontextmanager
async def plant_of(config: SiteConfig, **kw: object) -> AsyncIterator[SimulatedPlant]:
    plant = SimulatedPlant(config, start=T0, tick=0.05, spin_up=0.3, **kw)  # type: ignore[arg-type]
    await plant.start()
    try:
        await plant.wait_listening()
        yield plant
    finally:
        await plant.stop()


@asynccontextmanager
async def client_of(plant: SimulatedPlant, device: str) -> AsyncIterator[AsyncModbusTcpClient]:
    host, port = plant.endpoints()[device]
    client = AsyncModbusTcpClient(host, port=port, timeout=2)
    await client.connect()
    try:
        yield client
    finally:
        client.close()


async def holding(client: AsyncModbusTcpClient, address: int, unit: int = 1) -> int:
    answer = await client.read_holding_registers(address, count=1, device_id=unit)
    assert not answer.isError(), answer
    return int(answer.registers[0])


def test_every_profile_is_served_and_the_drives_are_drives() -> None:
    config = real_site()
    plant = SimulatedPlant(config, start=T0)
    assert set(plant.drives) == {"acs580-1", "md500-1"}
    assert set(plant.modbus) == {d.id for d in config.devices} - set(plant.drives)
    assert set(plant.endpoints()) == {d.id for d in config.devices}
    # what each profile can say: the maps with a state register, and those without
    assert BUMP in plant.states_of("xnx-1") and BUMP in plant.states_of("midas-1")
    assert "check-function:calibration" in plant.states_of("ultima-1")
    assert plant.states_of("polytron-1") == frozenset()


def test_a_bump_test_is_served_as_the_xnx_says_it() -> None:
    async def main() -> None:
        async with plant_of(real_site()) as plant, client_of(plant, "xnx-1") as client:
            assert await holding(client, XNX_STATE) == 1  # normal monitoring
            plant.set_state("xnx-1", BUMP)
            assert await holding(client, XNX_STATE) == 10  # "in bump test" (manual B.2)
            plant.set_state("xnx-1", "check-function:inhibit")
            assert await holding(client, XNX_STATE) == 3  # the first inhibit code
            plant.set_state("xnx-1", None)
            assert await holding(client, XNX_STATE) == 1
            with pytest.raises(ValueError, match="cannot say 'check-function:bump-test'"):
                plant.set_state("ultima-1", BUMP)
            with pytest.raises(ValueError, match="no status register"):
                plant.set_state("polytron-1", "fault")

    asyncio.run(main())


def test_the_bump_test_scenario_applies_test_gas_in_the_state() -> None:
    scenario = get_scenario("bump-test")
    plant = SimulatedPlant(real_site(), scenario=scenario, start=T0)
    # the first device able to say it: the XNX (config order), 300-900 sim s
    assert plant.plan.instrument_state("xnx-1", 299.0) is None
    assert plant.plan.instrument_state("xnx-1", 300.0) == (BUMP, 0.5)
    assert plant.plan.instrument_state("midas-1", 300.0) is None
    assert plant.plan.instrument_state("xnx-1", 900.0) is None
    round_plan = SimulatedPlant(real_site(), scenario="maintenance-round", start=T0).plan
    # the XNX says span calibration, the Midas only calibration; the Polytron nothing
    assert round_plan.instrument_state("xnx-1", 1000.0) == ("check-function:span-calibration",
                                                            0.5)
    assert round_plan.instrument_state("midas-1", 1000.0) == ("check-function:calibration",
                                                              0.5)
    assert round_plan.instrument_state("polytron-1", 1000.0) is None
    assert round_plan.instrument_state("visic-1", 1300.0) == ("fault", None)


def test_a_named_device_that_cannot_say_the_state_is_refused() -> None:
    from simulators.scenarios import InstrumentState, Scenario

    scenario = Scenario("x", "x", (InstrumentState((BUMP,), 0.0, 10.0, "polytron-1"),))
    with pytest.raises(ScenarioError, match="'polytron-1' cannot say"):
        SimulatedPlant(real_site(), scenario=scenario, start=T0)


def test_the_drives_start_by_their_sequences_and_vent_only_their_points() -> None:
    async def main() -> None:
        config = real_site()
        async with plant_of(config, scenario="h2s-leak", speed=1.0) as plant, \
                client_of(plant, "acs580-1") as abb, client_of(plant, "md500-1") as md500:
            assert await holding(abb, ABB_STATUS) >> SW_RDY_REF & 1 == 0
            for word in (0x0476, 0x047F):  # ready to switch on, then operation enabled
                await abb.write_register(0, word, device_id=1)
            await eventually(lambda: asyncio.sleep(
                0, result=plant.fan_running("acs580-1")), 5)
            status = await holding(abb, ABB_STATUS)
            assert status >> SW_RDY_REF & 1 == 1 and status >> SW_TRIPPED & 1 == 0
            assert plant.drive("acs580-1").history == [0x0476, 0x047F]
            # the ACS580 vents the pump-house points only (its unit's): the sensors of
            # xnx-h2s and ultima-h2s, not the absorber's xcd-h2s
            since = plant._running_since()
            assert set(since) == {"acs580-1"}
            assert plant._vented_since("xnx-1-h2s", since) is not None
            assert plant._vented_since("ultima-1-h2s", since) is not None
            assert plant._vented_since("xcd-1-h2s", since) is None
            # the MD500: 100 % setting, then forward run; 3000H says 1 once running
            await md500.write_register(MD_SETTING, 10000, device_id=1)
            await md500.write_register(MD_COMMAND, 1, device_id=1)
            await eventually(lambda: asyncio.sleep(0, result=plant.fan_running("md500-1")), 5)
            assert await holding(md500, MD_STATE) == 1
            # a trip, as fan-fails or set_fault gives: the ACS580 shows TRIPPED
            plant.set_fault("acs580-1", True)
            assert await holding(abb, ABB_STATUS) >> SW_TRIPPED & 1 == 1
            assert not plant.fan_running("acs580-1")

    asyncio.run(main())


def test_fan_fails_trips_the_drives_too() -> None:
    plant = SimulatedPlant(real_site(), scenario="fan-fails", start=T0)
    assert plant.plan.fan_failed("acs580-1", 1.0) and plant.plan.fan_failed("md500-1", 1.0)


def test_fan_trips_trips_the_duty_drive_only_and_repairs_its_cause() -> None:
    """The site's first fan (the ACS580 duty drive) trips from 600 s to 900 s; the MD500
    standby is left to take over. Repaired, the cause is gone but the drive stays tripped
    until a reset edge, as the real drive does."""
    plant = SimulatedPlant(real_site(), scenario="fan-trips", start=T0)
    assert set(plant.plan.fan_failures) == {"acs580-1"}
    assert [plant.plan.fan_failed("acs580-1", t) for t in (599.0, 600.0, 900.0)] == [
        False, True, False]
    model = AbbDrive(start_delay=0.0)
    for word in (0x0476, 0x047F):
        model.write(ABB_CONTROL, word, 0.0)
    for t in (599.0, 600.0, 900.0):  # the plant's step, with what the plan says at t
        step_drive("acs580-1", model, plant.plan.fan_failed("acs580-1", t), t)
    assert model.phase is Phase.TRIPPED and not model.cause and not model.running
    model.write(ABB_CONTROL, 0x04F6, 901.0)  # the gateway's reset edge
    for word in (0x0476, 0x047F):
        model.write(ABB_CONTROL, word, 901.0)
    assert model.status(902.0) >> SW_RDY_REF & 1 == 1 and model.running
