"""Shared test helpers: bindings from a site config, a sink that records, readings as rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import thresholds
from gateway.driver import DeviceStatus
from gateway.normalise import Binding
from occmon.config.schema import SiteConfig
from occmon.model import Reading


def bindings_for(config: SiteConfig) -> dict[str, Binding]:
    """As the gateway app builds them: the point's agent, standard reference conditions."""
    out = {}
    for sensor in config.sensors:
        point = config.point(sensor.point)
        out[sensor.id] = Binding(
            sensor, point, thresholds.lookup(point.agent), thresholds.STANDARD_REFERENCE
        )
    return out


class RecordingSink:
    """A Sink that keeps everything, in order."""

    def __init__(self) -> None:
        self.batches: list[list[Reading]] = []
        self.statuses: list[DeviceStatus] = []

    def readings(self, batch: Sequence[Reading]) -> None:
        self.batches.append(list(batch))

    def status(self, status: DeviceStatus) -> None:
        self.statuses.append(status)

    def of_device(self, device: str) -> list[Reading]:
        return [r for batch in self.batches for r in batch if r.device == device]


def row(reading: Reading) -> dict[str, Any]:
    """The fields a golden file compares (floats rounded to 6 significant places)."""

    def num(value: float | None) -> float | None:
        return None if value is None else float(f"{value:.6g}")

    return {
        "sensor": reading.sensor,
        "point": reading.point,
        "agent": reading.agent,
        "device": reading.device,
        "quantity": reading.quantity,
        "value": num(reading.value),
        "unit": reading.unit,
        "quality": str(reading.quality),
        "reason": reading.reason,
        "raw_value": num(reading.raw_value),
        "raw_unit": reading.raw_unit,
    }
