"""Which devices feed a point, how old a reading may be before it is stale, and how old it is.

Silence is a fault (MISSION.md): a value is stale once its device has been silent for
``gateway.stale_after_polls`` expected intervals, and a stale value is never shown as live.
The expected interval is the one the gateway uses (``occmon.cadence``): a Modbus device's
poll interval; an MQTT device's ``interval``, else the rate learnt from its stored readings
(the same rule as the gateway's, so the API judges alike when it runs alone), else 40 s; an
MQTT ``expire_after`` given outright is the whole window.

Staleness is judged against the current time on every request, so a point goes stale on
the API even when no gateway or ingest runs. A point whose latest reading is the gateway's
own mark of silence (BAD ``stale``, or BAD ``device-offline`` from a poll with no answer)
is stale at once, and its age is that of the last reading the sensor gave.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.reader import StoredReading, StoreReader
from occmon.cadence import HISTORY, Cadence
from occmon.config.schema import DEFAULT_MQTT_INTERVAL, MqttDevice, SiteConfig
from occmon.model import Quality, Reading, Reason

SILENT: tuple[str, ...] = (Reason.STALE.value, Reason.DEVICE_OFFLINE.value)
NO_DEVICE_WINDOW = 3600.0  # a quantity no configured device feeds (config changed)


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


def silent(reading: Reading) -> bool:
    """The reading is a mark of silence the gateway wrote, not a value the sensor gave."""
    return reading.quality is Quality.BAD and reading.reason in SILENT


def learns(config: SiteConfig, device_id: str) -> MqttDevice | None:
    """The MQTT device whose interval is learnt (neither ``interval`` nor ``expire_after``)."""
    device = config.device(device_id)
    if isinstance(device, MqttDevice) and device.interval is None and device.expire_after is None:
        return device
    return None


def learnt_window(config: SiteConfig, device: MqttDevice,
                  history: Sequence[StoredReading]) -> float:
    """The window of a learning MQTT device from its stored readings (oldest first)."""
    cadence = Cadence(device)
    timed = device.mapping.time is not None
    for stored in history:
        r = stored.reading
        if r.device == device.id and not silent(r):
            cadence.observe(r.time, timed=timed)
    return cadence.window(config.gateway.stale_after_polls)


def recent(store: StoreReader, point: str, quantity: str, until: float) -> list[StoredReading]:
    """Readings of the last ``HISTORY + 1`` default intervals up to ``until``, oldest first."""
    lookback = (HISTORY + 1) * DEFAULT_MQTT_INTERVAL
    page, _more = store.readings(point, until - lookback, until + 0.001, quantity=quantity,
                                 limit=1000)
    return page


def stale_after(config: SiteConfig, point: str, quantity: str,
                store: StoreReader | None = None, latest: float | None = None) -> float:
    """The longest window of the devices feeding this quantity (any one may be the source).
    With ``store`` and the time of the ``latest`` reading, learning MQTT devices are judged on
    their learnt rate; without, on the default."""
    windows: list[float] = []
    history: list[StoredReading] | None = None
    for device_id in feeding_devices(config, point, quantity):
        device = learns(config, device_id)
        if device is None or store is None or latest is None:
            windows.append(config.expiry(device_id))
            continue
        if history is None:
            history = recent(store, point, quantity, latest)
        windows.append(learnt_window(config, device, history))
    return max(windows, default=NO_DEVICE_WINDOW)


def is_stale(reading_time: float | None, now: float, window: float) -> bool:
    return reading_time is None or now - reading_time > window
