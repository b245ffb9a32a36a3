"""Simulated MQTT sensors: wireless detectors and dosimeters publishing vendor-style JSON.

Each device is its own paho-mqtt 2.x client (its own connection and client id, as a real
device has), publishing at QoS 1 on the device's topic every ``mqtt_interval`` real
seconds. The payload is built from the device's ``mapping`` in the site config, so the
simulator follows whatever shape the integrator declared: field ``h2s`` at path
``gas.h2s`` becomes ``{"gas": {"h2s": 0.4}}``. The time field carries the device clock
(wall-clock time, the same clock the gateway stamps Modbus readings with) in the mapping's
format. A few vendor extras (serial number, battery) sit beside the mapped fields, as in
real payloads, and a driver must ignore them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from occmon.config.schema import MqttDevice, MqttMapping
from occmon.mqttclient import PublishGate, stop_loop

log = logging.getLogger(__name__)

ValueSource = Callable[[str], float | None]  # sensor id -> current value, None: no value


def device_time(epoch: float, time_format: str) -> str | int | float:
    if time_format == "epoch_ms":
        return round(epoch * 1000)
    if time_format == "epoch_s":
        return round(epoch, 3)
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def put(document: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path``, creating the objects on the way."""
    *parents, leaf = path.split(".")
    node = document
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[leaf] = value


def build_payload(
    device: str,
    mapping: MqttMapping,
    values: Mapping[str, float],
    epoch: float,
    *,
    decimals: int = 3,
) -> dict[str, Any]:
    """The JSON document of one message: mapped fields, the time, and vendor extras.

    ``values`` is keyed by field name; a field without a value is left out.
    """
    mapped_roots = {p.split(".")[0] for p in mapping.fields.values()}
    if mapping.time:
        mapped_roots.add(mapping.time.split(".")[0])
    extras = {"sn": device, "battery_pct": 87}
    document: dict[str, Any] = {k: v for k, v in extras.items() if k not in mapped_roots}
    for field, path in mapping.fields.items():
        if field in values:
            put(document, path, round(float(values[field]), decimals))
    if mapping.time:
        put(document, mapping.time, device_time(epoch, mapping.time_format))
    return document


class MqttDeviceSim:
    """One simulated MQTT device: a paho client and a publishing task in the running loop."""

    def __init__(
        self,
        config: MqttDevice,
        fields: Mapping[str, str],
        values: ValueSource,
        *,
        host: str,
        port: int,
        interval: float,
        client_id_prefix: str = "occmon-sim",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if any(ch in config.topic for ch in "+#"):
            raise ValueError(
                f"device {config.id!r}: topic {config.topic!r} has wildcards; "
                "a simulated device needs a concrete topic to publish on"
            )
        self.config = config
        self.fields = dict(fields)  # field name -> sensor id
        self.values = values
        self.interval = interval
        self.host = host
        self.port = port
        self.publishing = True
        self.published = 0
        self.last_payload: dict[str, Any] | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{client_id_prefix}-{config.id}",
            clean_session=True,
        )
        if username:  # the device's own broker account (broker.accounts)
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._out = PublishGate(self._client)  # publishes from the plant's loop, not paho's thread
        self._client.on_connect = lambda *_: self._out.flush()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        self._task = asyncio.create_task(self._run(), name=f"sim-mqtt-{self.config.id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._client.disconnect()
        await asyncio.to_thread(stop_loop, self._client)

    def publish_once(self, epoch: float | None = None) -> dict[str, Any] | None:
        """Publish the current values now; returns the document (None if nothing to send)."""
        values: dict[str, float] = {}
        for field, sensor in self.fields.items():
            value = self.values(sensor)
            if value is not None:
                values[field] = value
        if not values:
            return None
        document = build_payload(
            self.config.id, self.config.mapping, values, time.time() if epoch is None else epoch
        )
        self._out.publish(self.config.topic, json.dumps(document), qos=1)
        self.published += 1
        self.last_payload = document
        return document

    async def _run(self) -> None:
        while True:
            if self.publishing:
                try:
                    self.publish_once()
                except (ValueError, OSError) as exc:  # never stop the plant for one message
                    log.warning("simulated device %s: publish failed: %s", self.config.id, exc)
            await asyncio.sleep(self.interval)
