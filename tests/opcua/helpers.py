"""A site with one OPC UA gas panel (H2S and CO detectors) and a sink that records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway.app import build_bindings
from gateway.driver import DeviceStatus
from gateway.opcua import OpcUaIntake
from gateway.sink import DeadLetter
from occmon.config.opcua import OpcUaDevice
from occmon.config.schema import SiteConfig
from occmon.model import Reading


def panel_site(endpoint: str, *, interval: float = 0.2, nodes: dict[str, str] | None = None,
               queue_path: str = "var/q.db", **device: Any) -> SiteConfig:
    return SiteConfig.model_validate({
        "site": {"id": "plant-a", "name": {"zh": "甲厂", "en": "Plant A"}},
        "gateway": {"queue_path": queue_path},
        "areas": [{"id": "desulf", "name": {"zh": "脱硫", "en": "Desulf"}}],
        "points": [
            {"id": "desulf-h2s", "name": {"zh": "硫化氢", "en": "H2S"}, "area": "desulf",
             "agent": "h2s"},
            {"id": "desulf-co", "name": {"zh": "一氧化碳", "en": "CO"}, "area": "desulf",
             "agent": "co"},
        ],
        "devices": [{
            "id": "gas-panel-1", "protocol": "opcua", "endpoint": endpoint,
            "publishing_interval": interval,
            "nodes": nodes or {"h2s": "ns=2;s=GasPanel.H2S", "co": "ns=2;s=GasPanel.CO"},
            **device,
        }],
        "sensors": [
            {"id": "p1-h2s", "point": "desulf-h2s", "device": "gas-panel-1", "field": "h2s",
             "unit": "ppm", "range": [0, 100]},
            {"id": "p1-co", "point": "desulf-co", "device": "gas-panel-1", "field": "co",
             "unit": "ppm", "range": [0, 1000]},
        ],
    })


class RecordingSink:
    """The Sink interface, keeping what it is handed (the queue is tested elsewhere)."""

    def __init__(self) -> None:
        self.got: list[Reading] = []
        self.statuses: list[DeviceStatus] = []
        self.letters: list[DeadLetter] = []

    def readings(self, batch: Sequence[Reading]) -> None:
        self.got.extend(batch)

    def status(self, status: DeviceStatus) -> None:
        self.statuses.append(status)

    def dead_letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    def of(self, sensor: str) -> list[Reading]:
        return [r for r in self.got if r.sensor == sensor]


def intake_for(config: SiteConfig, **kw: Any) -> OpcUaIntake:
    bindings = build_bindings(config)
    return OpcUaIntake(
        [d for d in config.devices if isinstance(d, OpcUaDevice)],
        list(bindings.values()), trust=config.trust, **kw)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()
