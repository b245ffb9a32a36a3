"""Test helpers: a real MQTT subscriber that records what the broker delivers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from occmon import payload_v2, topics
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading
from occmon.mqttclient import stop_loop
from occmon.payload import decode_batch


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    dup: bool = False  # the broker re-delivered it (our PUBACK may not have reached it)


@dataclass
class Subscriber:
    """A paho subscriber (QoS 1) on its own thread; ``messages`` fills as they arrive."""

    host: str
    port: int
    topic: str
    client_id: str = "test-subscriber"
    clean_session: bool = True
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    subscribed: threading.Event = field(default_factory=threading.Event)
    client: mqtt.Client | None = None

    def start(self) -> Subscriber:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=self.clean_session,
        )
        client.reconnect_delay_set(1, 2)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
            # payload v2's series too, so that its readings can be decoded
            c.subscribe([(self.topic, 1), (topics.series("+", "+"), 1)])

        def on_subscribe(_c: Any, _u: Any, _m: Any, _r: Any, _p: Any) -> None:
            self.subscribed.set()

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            with self.lock:
                self.messages.append(
                    Received(msg.topic, bytes(msg.payload), bool(msg.retain), bool(msg.dup))
                )

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.connect(self.host, self.port, keepalive=10)
        client.loop_start()
        self.client = client
        if not self.subscribed.wait(10):
            raise TimeoutError("subscriber did not get SUBACK")
        return self

    def stop(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            stop_loop(self.client)
            self.client = None

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def readings(self, *, dup: bool | None = None) -> list[Reading]:
        """Readings received; ``dup=True``/``False`` keeps only (non-)re-delivered messages."""
        out: list[Reading] = []
        book = payload_v2.SeriesBook()
        for msg in self.snapshot():
            parsed = topics.parse(msg.topic)
            if parsed.kind == "series" and msg.payload:
                book.learn(parsed.rest[0], msg.payload)
            elif parsed.kind == "readings" and (dup is None or msg.dup == dup):
                out.extend(decode_any(msg.payload, book))
        return out

    def series_messages(self) -> list[Received]:
        return [m for m in self.snapshot() if topics.parse(m.topic).kind == "series"]

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return condition()


def decode_any(payload: bytes, book: payload_v2.SeriesBook) -> list[Reading]:
    """The readings of a v1 or v2 batch; a v2 one needs its series in ``book``."""
    if not payload_v2.is_v2(payload):
        return decode_batch(payload)[1]
    _, _, items = payload_v2.decode_items(payload, book)
    for item in items:
        if not isinstance(item, Reading):
            raise item
    return [item for item in items if isinstance(item, Reading)]


def make_reading(i: int, point: str = "p1", base: float = 1_700_000_000.0) -> Reading:
    """Distinct reading number ``i`` of a point: time advances 1 ms per reading."""
    return Reading(
        point=point,
        agent="h2s",
        time=round(base + i / 1000, 3),
        value=float(i % 97),
        unit="mg/m3",
        quality=Quality.GOOD,
        sensor="s1",
        device="d1",
    )


def key(reading: Reading) -> tuple[str, str, float]:
    return (reading.point, reading.quantity, round(reading.time, 3))


def site_config(
    *,
    topic: str = "vendor/wgas/wgas-1/data",
    expire_after: float = 120.0,
    queue_path: str = "var/q.db",
    mapping: dict[str, Any] | None = None,
) -> SiteConfig:
    """A one-point site with one MQTT gas detector (and no Modbus device)."""
    return SiteConfig.model_validate(
        {
            "site": {"id": "plant-a", "name": {"zh": "甲厂", "en": "Plant A"}},
            "gateway": {"queue_path": queue_path, "publish_batch": 100, "max_inflight": 50},
            "areas": [{"id": "desulf", "name": {"zh": "脱硫", "en": "Desulf"}}],
            "points": [
                {
                    "id": "desulf-h2s-w1",
                    "name": {"zh": "硫化氢", "en": "H2S"},
                    "area": "desulf",
                    "agent": "h2s",
                }
            ],
            "devices": [
                {
                    "id": "wgas-1",
                    "protocol": "mqtt",
                    "topic": topic,
                    "expire_after": expire_after,
                    "mapping": mapping
                    or {"fields": {"h2s": "gas.h2s"}, "time": "ts", "time_format": "epoch_ms"},
                }
            ],
            "sensors": [
                {
                    "id": "w1-h2s",
                    "point": "desulf-h2s-w1",
                    "device": "wgas-1",
                    "field": "h2s",
                    "unit": "ppm",
                    "range": [0, 100],
                }
            ],
        }
    )


def vendor_client(host: str, port: int) -> mqtt.Client:
    """A vendor device publishing QoS 1 (connected, loop running)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vendor-device")
    client.connect(host, port, keepalive=10)
    client.loop_start()
    return client
