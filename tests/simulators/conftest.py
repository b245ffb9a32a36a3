from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from occmon.config import SiteConfig, parse, read_yaml
from tests.servers import free_port

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"
T0 = 1_780_000_000.0  # a fixed sim epoch, so series are comparable across runs


def free_ports(count: int) -> list[int]:
    """Distinct free ports below the ephemeral range (``tests.servers.free_port``)."""
    return [free_port() for _ in range(count)]


def demo_config(broker_port: int | None = None) -> SiteConfig:
    """The demo plant with every Modbus device moved to a free port."""
    data, problems = read_yaml(DEMO)
    assert not problems, problems
    modbus = [d for d in data["devices"] if d["protocol"] == "modbus-tcp"]
    for device, port in zip(modbus, free_ports(len(modbus)), strict=True):
        device["port"] = port
    if broker_port is not None:
        data["broker"] = {"host": "127.0.0.1", "port": broker_port}
    config, problems = parse(data, DEMO)
    assert config is not None, problems
    return config


def port_of(config: SiteConfig, device: str) -> int:
    port = getattr(config.device(device), "port", None)
    assert isinstance(port, int)
    return port


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Await ``check()`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")
