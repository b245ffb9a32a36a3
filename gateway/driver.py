"""The narrow driver interface: what a Modbus poller or an MQTT intake offers the gateway.

A polled driver answers ``poll()``; a pushed driver is ``start(sink)``-ed and ``stop()``-ped.
Both deliver to a Sink, which the gateway backs with the store-and-forward queue. Config is
validated before any driver exists, so a driver never has to report a config error at run
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from occmon.model import Reading


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A change of a field device's health, as the gateway sees it."""

    device: str
    online: bool
    time: float  # epoch seconds
    reason: str | None = None  # why offline: timeout, refused, modbus-exception ...


class Sink(Protocol):
    """Where drivers put what they read. Must not block the event loop for long."""

    def readings(self, batch: Sequence[Reading]) -> None: ...

    def status(self, status: DeviceStatus) -> None: ...


class DeviceOffline(Exception):
    """A polled device did not answer; ``reason`` is a stable short code."""

    def __init__(self, device: str, reason: str, detail: str = "") -> None:
        super().__init__(f"device {device!r} offline: {reason}{': ' + detail if detail else ''}")
        self.device = device
        self.reason = reason


class PolledDriver(Protocol):
    """One polled device (one asyncio task each, so a dead device never blocks the others)."""

    @property
    def device_id(self) -> str: ...

    @property
    def interval(self) -> float: ...

    async def poll(self, now: float) -> Sequence[Reading]:
        """Read every bound sensor once; raise DeviceOffline when the device does not answer.

        A list, or an ``occmon.batch.GoodBatch`` when every value is good.

        A Modbus exception response is not offline: its sensors come back as bad readings.
        """
        ...

    def offline_readings(self, now: float, reason: str) -> list[Reading]:
        """Explicit bad readings (``reason``) for every bound sensor, so a gap is never silent."""
        ...

    async def close(self) -> None: ...


class PushedDriver(Protocol):
    async def start(self, sink: Sink) -> None: ...

    async def stop(self) -> None: ...
