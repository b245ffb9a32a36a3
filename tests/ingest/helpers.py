"""Shared pieces of the ingest tests: a site config, readings, a publisher, a poller."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from occmon.config import load
from occmon.config.schema import Broker, SiteConfig, Store
from occmon.config.trust import TrustConfig
from occmon.model import Quality, Reading
from occmon.mqttclient import stop_loop

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"
SITE = "demo-plant"
T0 = 1_780_000_000.0  # 2026-05-28, a fixed instant so rows are comparable
# ingest refuses samples older than trust.max_age_days: keep T0 inside the window for as
# long as these tests live, while year 1970 stays outside it
TRUST = TrustConfig(max_age_days=(time.time() - T0) / 86_400 + 400)
# the catalogue id of each demo point's agent: ingest refuses a reading with another
AGENTS = {
    "desulf-h2s-1": "h2s", "desulf-h2s-w1": "h2s", "ammonia-nh3-1": "nh3",
    "mill-dust-total": "cement-dust", "mill-dust-resp": "cement-dust",
}

def site_config(tmp_path: Path, port: int = 1883) -> SiteConfig:
    """The demo plant, with its store in tmp_path and the test broker."""
    config = load(DEMO)
    return config.model_copy(
        update={
            "store": Store(path=tmp_path / "occmon.db", batch_size=500, batch_interval=0.1),
            "broker": Broker(host="127.0.0.1", port=port),
            "trust": TRUST,
        }
    )


def reading(point: str, i: int, value: float | None = 1.0, **kw: object) -> Reading:
    fields: dict[str, object] = {
        "point": point,
        "agent": AGENTS.get(point, "h2s"),
        "time": T0 + i,
        "value": value,
        "unit": "mg/m3",
        "quality": Quality.GOOD,
        "sensor": "gp1-h2s",
        "device": "gas-panel-1",
        "raw_value": None if value is None else value / 1.4,
        "raw_unit": "ppm",
    }
    fields.update(kw)
    return Reading(**fields)  # type: ignore[arg-type]


class Publisher:
    """A plain QoS 1 publisher that waits until the broker has every message."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"broker did not take {topic}"

    def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(t, p, qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        stop_loop(self.client)


