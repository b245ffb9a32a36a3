"""``write_drive`` against simulated drives over real sockets: every failure is a result with
a stable code, never an exception, and the sequence is exactly the configured words."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.interlock import CoilResult, WriteCoil
from gateway.modbus.device import ModbusDevice
from gateway.modbus.hub import ModbusHub, default_client
from gateway.modbus.profile import load_profile
from gateway.safety.fans import write_drive
from occmon.config.schema import ModbusTcpDevice
from occmon.config.ventilation import Drive
from simulators.drive import AbbDrive, DriveServer, Md500Drive
from tests.safety.drives import ACS580_DRIVE, COMMANDS, DRIVES, MD500_DRIVE, PROFILES
from tests.servers import free_port

RUN = WriteCoil("u", "fan-1", "control_word", True, "run", "test")


def _device(kind: str, port: int) -> ModbusDevice:
    config = ModbusTcpDevice.model_validate({
        "id": "fan-1", "protocol": "modbus-tcp", "host": "127.0.0.1", "port": port,
        "profile": PROFILES[kind], "timeout": 0.5, "retries": 0})
    hub = ModbusHub("fan-1", lambda: default_client(config), call_timeout=0.5)
    return ModbusDevice(config, load_profile(PROFILES[kind]), [], hub)


def _with(model: AbbDrive | Md500Drive, kind: str,
          body: Callable[[ModbusDevice, DriveServer], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        port = free_port()
        server = DriveServer("fan-1", model, "127.0.0.1", port)
        await server.start()
        device = _device(kind, port)
        try:
            return await body(device, server)
        finally:
            await device.close()
            await server.stop()
    return asyncio.run(main())


def _drive(base: dict[str, Any], **changes: Any) -> Drive:
    return Drive.model_validate({**base, **changes})


def test_run_and_stop_write_exactly_the_sequence() -> None:
    model, counters = AbbDrive(start_delay=0.0), Counter[str]()

    async def body(device: ModbusDevice, _: DriveServer) -> list[CoilResult]:
        drive = _drive(ACS580_DRIVE)
        run = await write_drive(device, drive, RUN, lambda: 1.0, counters)
        stop = await write_drive(device, drive, WriteCoil("u", "fan-1", "control_word", False,
                                                          "run", "test"), lambda: 2.0, counters)
        return [run, stop]

    run, stop = _with(model, "acs580", body)
    assert run.ok and stop.ok, (run, stop)
    assert model.history == [0x0476, 0x047F, 0x047E] and counters["drive-writes"] == 2


def test_a_step_the_status_word_never_confirms_is_named() -> None:
    model, counters = AbbDrive(start_delay=0.0), Counter[str]()
    model.trip(0.0)  # tripped with the cause present: nothing moves it

    async def body(device: ModbusDevice, _: DriveServer) -> CoilResult:
        return await write_drive(device, _drive(ACS580_DRIVE, step_timeout=0.3), RUN,
                                 lambda: 1.0, counters)

    result = _with(model, "acs580", body)
    assert not result.ok
    assert result.error.startswith("run step 1 of 2 (0x0476): status_word bit 0 = 1 not seen "
                                   "within 0.3 s"), result.error
    # the reset went first (the fault bit held), then step 1, and nothing after it
    assert model.history == [0x04F6, 0x0476]
    assert counters["drive-write-failed.not-confirmed"] == 1 and counters["drive-resets"] == 1


def test_reading_back_a_write_only_register_is_a_modbus_exception() -> None:
    model, counters = Md500Drive(start_delay=0.0), Counter[str]()
    command = WriteCoil("u", "fan-1", "command", True, "run", "test")

    async def body(device: ModbusDevice, _: DriveServer) -> CoilResult:
        return await write_drive(device, _drive(MD500_DRIVE, read_back=True), command,
                                 lambda: 1.0, counters)

    result = _with(model, "md500", body)
    assert not result.ok and counters["drive-write-failed.modbus-exception"] == 1
    # 1000H read back fine; the run command landed and its read-back was refused (0x02)
    assert model.history == [1] and "exception code 2" in result.error, result.error


def test_a_drive_that_is_gone_is_device_offline_not_an_exception() -> None:
    counters = Counter[str]()

    async def main() -> CoilResult:
        device = _device("acs580", free_port())  # nothing listens
        try:
            return await write_drive(device, _drive(ACS580_DRIVE), RUN, lambda: 1.0, counters)
        finally:
            await device.close()

    result = asyncio.run(main())
    assert not result.ok and counters["drive-write-failed.device-offline"] == 1, result


@pytest.mark.parametrize("kind", ["acs580", "md500"])
def test_a_run_command_to_a_running_drive_writes_its_set_points_only(kind: str) -> None:
    """A repeated run (a retry landing after the fan restarted) leaves a running drive's
    control word alone: the ABB sequence's first word is OFF1, which would ramp the fan down
    mid-leak. A set-point step is written again: an MD500 left running slow (by hand, or
    found running at 30 % for general ventilation) comes up to 100 %."""
    model: AbbDrive | Md500Drive = (AbbDrive(start_delay=0.0) if kind == "acs580"
                                    else Md500Drive(start_delay=0.0))
    counters = Counter[str]()
    command = WriteCoil("u", "fan-1", COMMANDS[kind], True, "run", "test")

    async def body(device: ModbusDevice, _: DriveServer) -> list[CoilResult]:
        drive = _drive(DRIVES[kind])
        first = await write_drive(device, drive, command, lambda: 1.0, counters)
        await asyncio.sleep(0.05)  # past the start-up delay: the running test holds
        if isinstance(model, Md500Drive):
            model.setting = 3000  # turned down to 30 % at the panel
        again = await write_drive(device, drive, command, lambda: 2.0, counters)
        return [first, again]

    first, again = _with(model, kind, body)
    assert first.ok and again.ok, (first, again)
    assert model.running
    # one control-word sequence only: the second command found the drive running
    assert model.history == ([0x0476, 0x047F] if kind == "acs580" else [1]), model.history
    if isinstance(model, Md500Drive):
        assert model.setting == 10000  # 1000H written again: full air
    assert counters["drive-writes"] == 2 and counters["drive-already-running"] == 1


def test_a_tripped_drive_is_reset_even_if_its_running_bit_were_set() -> None:
    """The fault test wins over the running test: a drive in fault is reset and started."""
    model, counters = AbbDrive(start_delay=0.0), Counter[str]()
    model.trip(0.0)
    model.clear()  # the cause is gone: a reset edge clears the trip

    async def body(device: ModbusDevice, _: DriveServer) -> CoilResult:
        # running: any status bit the tripped word has (bit 3 = TRIPPED), so it "holds"
        drive = _drive(ACS580_DRIVE, running={"word": "status_word", "bit": 3})
        return await write_drive(device, drive, RUN, lambda: 1.0, counters)

    result = _with(model, "acs580", body)
    assert model.history[:2] == [0x04F6, 0x0476], model.history
    assert counters["drive-resets"] == 1 and counters["drive-already-running"] == 0, result
