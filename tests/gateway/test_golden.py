"""Golden folders (Telegraf's testcases/): config.yaml plus expected.json or init.err.

expected.json: what one poll of each Modbus device gives against pymodbus servers seeded
from registers.json ({device id: {kind: {address: value or list}}}): the readings, and the
decoded register values of each device. init.err: the config problems, one a line, with
paths relative to the case folder.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.modbus import validate
from gateway.modbus.drivers import build_drivers
from occmon.config import parse
from tests.gateway.helpers import bindings_for, row
from tests.gateway.modbus_server import ModbusTestServer
from tests.gateway.sites import with_free_ports

CASES = Path(__file__).parent / "cases"
NOW = 1_750_000_000.0


def problems_text(case: Path) -> str:
    file = case / "config.yaml"
    config, problems = parse(yaml.safe_load(file.read_text(encoding="utf-8")), file)
    assert config is not None, problems
    lines = [str(p).replace(f"{case}/", "") for p in validate.check(config, file)]
    return "".join(f"{line}\n" for line in lines)


async def poll_once(case: Path) -> dict[str, Any]:
    file = case / "config.yaml"
    data = with_free_ports(yaml.safe_load(file.read_text(encoding="utf-8")))
    config, problems = parse(data, file)
    assert config is not None, problems
    assert validate.check(config, file) == []
    seeds = json.loads((case / "registers.json").read_text(encoding="utf-8"))
    servers = []
    for device in config.devices:
        if device.protocol == "modbus-tcp":
            server = ModbusTestServer(device.port, {device.unit_id: seeds[device.id]})
            await server.start()
            servers.append(server)
    drivers = build_drivers(config, bindings_for(config), file)
    try:
        readings, values = [], {}
        for driver in drivers:
            readings += [row(r) for r in await driver.poll(NOW)]
            values[driver.device_id] = driver.values
        return {"readings": readings, "values": values}
    finally:
        for driver in drivers:
            await driver.close()
        for server in servers:
            await server.stop()


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_case(case: str) -> None:
    folder = CASES / case
    if (folder / "init.err").exists():
        assert problems_text(folder) == (folder / "init.err").read_text(encoding="utf-8")
        return
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    got = asyncio.run(poll_once(folder))
    got["values"] = {
        device: {name: float(f"{value:.6g}") for name, value in values.items()}
        for device, values in got["values"].items()
    }
    assert got == expected


def test_there_are_cases_of_both_kinds() -> None:
    kinds = {
        "err" if (p / "init.err").exists() else "json" for p in CASES.iterdir() if p.is_dir()
    }
    assert kinds == {"err", "json"}
