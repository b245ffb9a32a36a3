"""Helpers for the signed-command tests: envelopes as the API makes them, and a raw MQTT
client that publishes on ``commands/request`` and waits for ``commands/result``, as an
attacker on the broker (or the API) would."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from occmon import signing, topics
from occmon.mqttclient import stop_loop


def envelope(command: str, *, site: str, role: str = "officer", user: str = "li",
             sent: float | None = None, nonce: str | None = None,
             request_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """An unsigned command body with every envelope field the API puts in."""
    return {"v": 1, "request_id": request_id or uuid.uuid4().hex, "command": command,
            "user": user, **fields, "site": site, "role": role, "principal": role,
            "time": time.time() if sent is None else sent,
            "nonce": nonce or secrets.token_hex(16)}


def signed(key: Ed25519PrivateKey, command: str, **kwargs: Any) -> dict[str, Any]:
    return signing.sign(envelope(command, **kwargs), key)


class Requester:
    """Publishes raw request bodies and collects every result body by request id."""

    def __init__(self, host: str, port: int, site: str) -> None:
        self.site = site
        self.results: dict[str, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        ready = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.on_connect = lambda c, *_: c.subscribe(topics.commands(site, "result"), qos=1)
        client.on_subscribe = lambda *_: ready.set()
        client.on_message = self._on_message
        client.connect(host, port)
        client.loop_start()
        assert ready.wait(10), "no subscription to commands/result"
        self._client = client

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        with self._arrived:
            self.results[str(doc.get("request_id"))] = doc
            self._arrived.notify_all()

    def publish(self, payload: bytes | dict[str, Any]) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self._client.publish(topics.commands(self.site, "request"), data, qos=1)
        info.wait_for_publish(5)

    def send(self, doc: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Publish ``doc`` and return the gateway's answer to its request id."""
        request_id = str(doc["request_id"])
        self.publish(doc)
        with self._arrived:
            assert self._arrived.wait_for(lambda: request_id in self.results, timeout), (
                f"no answer to {doc.get('command')!r} within {timeout} s")
            return self.results[request_id]

    def close(self) -> None:
        self._client.disconnect()
        stop_loop(self._client)


def error_code(result: dict[str, Any]) -> str | None:
    """The answer's error code, or None for ``ok``."""
    return None if result.get("ok") else str(result["error"]["code"])
