"""A publish from another thread while paho reconnects must not go out before CONNECT.

paho's ``reconnect()`` sets the new socket, calls ``on_socket_open``, then queues CONNECT;
``publish()`` only checks that a socket exists. A publish that lands in that window (here
made certain by publishing from ``on_socket_open``, which runs exactly there) is the first
packet of the connection, and the broker drops the connection for it. ``PublishGate``
holds it until CONNACK instead.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from occmon.mqttclient import PublishGate, stop_loop
from tests.servers import Mosquitto

TOPIC = "gate/test"


class Watcher:
    """A subscriber that records what reached the broker."""

    def __init__(self, broker: Mosquitto) -> None:
        self.got: list[bytes] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gate-watcher")
        self.client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.got.append(m.payload)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(5)

    def stop(self) -> None:
        self.client.disconnect()
        stop_loop(self.client)


def publisher(broker: Mosquitto, gated: bool) -> tuple[mqtt.Client, dict[str, Any]]:
    seen: dict[str, Any] = {"connects": 0, "disconnects": 0}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gate-{gated}")
    client.reconnect_delay_set(1, 1)
    gate = PublishGate(client)

    def on_open(*_: Any) -> None:  # runs inside reconnect(), after the socket, before CONNECT
        if seen["connects"] == 0 and "sent" not in seen:
            seen["sent"] = True
            if gated:
                gate.publish(TOPIC, b"in-the-window", 1)
            else:
                client.publish(TOPIC, b"in-the-window", 1)

    def on_connect(*_: Any) -> None:
        seen["connects"] += 1
        gate.flush()

    def on_disconnect(*_: Any) -> None:
        seen["disconnects"] += 1

    client.on_socket_open = on_open
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect_async(broker.host, broker.port)
    client.loop_start()
    return client, seen


def run(broker: Mosquitto, gated: bool) -> tuple[list[bytes], dict[str, Any]]:
    watcher = Watcher(broker)
    client, seen = publisher(broker, gated)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not watcher.got:
        time.sleep(0.05)
    time.sleep(0.3)
    client.disconnect()
    stop_loop(client)
    watcher.stop()
    return watcher.got, seen


def test_a_publish_in_the_connect_window_is_held_until_connack(mosquitto: Mosquitto) -> None:
    got, seen = run(mosquitto, gated=True)
    assert got == [b"in-the-window"]
    assert seen["disconnects"] == 1  # only the test's own disconnect at the end
    assert seen["connects"] == 1


def test_without_the_gate_the_broker_drops_the_connection(mosquitto: Mosquitto) -> None:
    """The failure the gate prevents, shown on the same broker: the premise of the test above."""
    _, seen = run(mosquitto, gated=False)
    assert seen["disconnects"] >= 2 or seen["connects"] == 0, seen
