"""One MQTT link for a component's heartbeat: publish its own, read the others'.

The link is a paho client of its own (own thread, own connection), apart from the data
path: the gateway's queue may be unable to write and its publisher stuck, and the beat and
the direct system-alarm push must still go out. The will marks the component offline when
the connection dies; ``stop()`` says offline itself, since a clean DISCONNECT suppresses it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from occmon import heartbeat, topics
from occmon.config.schema import SiteConfig
from occmon.mqttclient import PublishGate, configure, role_of, stop_loop

log = logging.getLogger(__name__)


class StatusLink:
    """Heartbeats out on ``status/{component}``; the watched components' beats in."""

    def __init__(self, config: SiteConfig, component: str, *, host: str, port: int,
                 watch: Sequence[str] = ()) -> None:
        self.site = config.site.id
        self.component = component
        self.topic = topics.component_status(self.site, component)
        self._watch = {topics.component_status(self.site, c): c for c in watch}
        broker = config.broker
        prefix = broker.client_id_prefix if broker else "occmon"
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"{prefix}-{component}-status-{self.site}",
                             clean_session=True, protocol=mqtt.MQTTv311)
        configure(client, broker, role_of(component))  # login and TLS (mqttclient.py)
        client.will_set(self.topic, heartbeat.offline_payload(self.site, component), 1, True)
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self._client = client
        self._out = PublishGate(client)  # publishes from the asyncio thread, not paho's
        self._host, self._port = host, port
        self._keepalive = broker.keepalive if broker else 30
        self._lock = threading.Lock()
        self._beats: dict[str, tuple[heartbeat.Beat, float]] = {}
        self._alive: set[str] = set()  # components seen beating at least once
        self.connected = False
        self.connected_at = 0.0

    def sees(self, now: float, settle: float) -> bool:
        """Connected for ``settle`` s: long enough that a live peer's beat has come, so a
        stale one means the peer, not our own link (a broker outage is not a lost peer)."""
        return self.connected and now - self.connected_at >= settle

    def start(self) -> None:
        self._client.connect_async(self._host, self._port, self._keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        """Say offline (a clean disconnect suppresses the will), then disconnect."""
        if self.connected:
            info = self._client.publish(
                self.topic, heartbeat.offline_payload(self.site, self.component, time.time()),
                1, True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(1.0)
        self._client.disconnect()
        stop_loop(self._client)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Hand a message to paho, or hold it until the link is connected (occmon.mqttclient
        ``PublishGate``); False only when it cannot even be held."""
        return self._out.publish(topic, payload, qos, retain)

    def beat(self, payload: bytes) -> bool:
        """Publish a heartbeat; not held while disconnected (the next one replaces it)."""
        return self._out.publish(self.topic, payload, 1, True, hold=False)

    def seen_alive(self, component: str) -> bool:
        """A timed online beat of ``component`` came at least once: it can be "lost"."""
        with self._lock:
            return component in self._alive

    def last(self, component: str) -> heartbeat.Beat | None:
        """The component's last heartbeat (an offline status counts, a bare online does not)."""
        with self._lock:
            got = self._beats.get(component)
        return got[0] if got else None

    # -- paho's thread ----------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                    _p: Any = None) -> None:
        if reason.is_failure:
            log.warning("%s status link refused by the broker: %s", self.component, reason)
            return
        self.connected = True
        self.connected_at = time.time()
        self._out.flush()
        for topic in self._watch:
            client.subscribe(topic, qos=1)

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected = False

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        component = self._watch.get(msg.topic)
        if component is None:
            return
        beat = heartbeat.parse(component, bytes(msg.payload))
        if beat is None:
            return
        with self._lock:
            previous = self._beats.get(component)
            now = time.time()
            self._beats[component] = (
                heartbeat.merge(previous[0] if previous else None, beat, now), now)
            if beat.online and beat.time is not None:
                self._alive.add(component)
