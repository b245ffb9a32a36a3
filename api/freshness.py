"""Which devices feed a point, and how old a reading may be before it is stale.

A Modbus value is stale after ``gateway.stale_after_polls`` poll intervals, an MQTT value
after the device's ``expire_after`` (Home Assistant's rule): a stale value is never shown
as live. Time is an argument, so this is a pure function of the config.
"""

from __future__ import annotations

from occmon.config.schema import SiteConfig


def feeding_devices(config: SiteConfig, point: str, quantity: str | None = None) -> list[str]:
    """Devices whose sensors feed ``point`` (for ``quantity`` when given), in config order."""
    found: list[str] = []
    for sensor in config.sensors:
        feeds = sensor.point == point and quantity in (None, sensor.quantity)
        if feeds and sensor.device not in found:
            found.append(sensor.device)
    return found


def quantities_of(config: SiteConfig, point: str) -> list[str]:
    found: list[str] = []
    for sensor in config.sensors:
        if sensor.point == point and sensor.quantity not in found:
            found.append(sensor.quantity)
    return found


def stale_after(config: SiteConfig, point: str, quantity: str) -> float:
    """The longest expiry of the devices feeding this quantity (any one may be the source)."""
    windows = [config.expiry(d) for d in feeding_devices(config, point, quantity)]
    return max(windows, default=3600.0)


def is_stale(reading_time: float | None, now: float, window: float) -> bool:
    return reading_time is None or now - reading_time > window
