"""An annunciator panel: an MQTT subscriber to the site's annunciator topic that stamps
each push with ``time.time()`` on arrival (used by the tests and bench/push_latency.py)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from occmon import topics
from occmon.mqttclient import stop_loop


@dataclass(frozen=True)
class Push:
    received: float
    body: dict[str, Any]

    @property
    def alarm_ids(self) -> list[str]:
        return [str(a["alarm_id"]) for a in self.body["alarms"]]


class Annunciator:
    def __init__(self, host: str, port: int, site: str) -> None:
        self.pushes: list[Push] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"panel-{site}")
        self._client.on_message = self._message
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.connect(host, port)
        self._client.loop_start()
        self._client.subscribe(topics.annunciator(site), qos=1)
        if not subscribed.wait(10):
            self.close()
            raise RuntimeError("the annunciator did not subscribe within 10 s")

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        push = Push(time.time(), json.loads(msg.payload))
        with self._lock:
            self.pushes.append(push)

    def of(self, alarm_id: str) -> list[Push]:
        with self._lock:
            return [p for p in self.pushes if alarm_id in p.alarm_ids]

    def close(self) -> None:
        stop_loop(self._client)
        self._client.disconnect()
