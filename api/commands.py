"""Operator commands to the gateway: publish a request over MQTT, wait for its result.

The gateway's engine owns alarm and ventilation state (docs/alarms.md), so the API sends
``{"request_id", "command", ...}`` on ``occmon/v1/{site}/commands/request`` and waits (at
most ``timeout`` s) for the gateway's answer with the same id on ``commands/result``. The
gateway's typed error codes map to HTTP statuses here; no answer is a 503 that says so.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from fastapi import HTTPException, Request
from paho.mqtt.enums import CallbackAPIVersion

from occmon import topics
from occmon.config.mqttauth import login
from occmon.config.schema import SiteConfig

TIMEOUT = 5.0
CONNECT_WAIT = 2.0

NOT_FOUND = {"unknown-alarm", "unknown-point", "unknown-unit"}
CONFLICT = {"already-acknowledged", "not-shelved", "already-shelved", "shelved",
            "out-of-service", "in-service", "still-active", "nothing-to-resolve",
            "already-in-mode", "not-overridden", "reset-not-allowed"}
# everything else the gateway refuses (shelve-needs-expiry, shelve-too-long,
# unknown-reason-code, missing-who-or-why, bad-command) is a 422


def http_status(code: str) -> int:
    if code in NOT_FOUND:
        return 404
    if code in CONFLICT:
        return 409
    return 422


@dataclass(slots=True)
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None


class GatewayCommands:
    """One paho client per API process; thread-safe ``send``."""

    def __init__(self, site: str, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, timeout: float = TIMEOUT) -> None:
        self.site, self.timeout = site, timeout
        self._host, self._port = host, port
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"occmon-api-{site}-{uuid.uuid4().hex[:8]}",
                             clean_session=True, protocol=mqtt.MQTTv311)
        if username:
            client.username_pw_set(username, password)
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = lambda *_a: self._subscribed.set()
        client.on_message = self._on_message
        self._client = client
        self._started = False

    @classmethod
    def from_config(cls, config: SiteConfig) -> GatewayCommands:
        broker = config.broker
        if broker is not None:
            return cls(config.site.id, broker.host, broker.port, **login(broker, "api"))
        embedded = config.embedded_broker
        return cls(config.site.id, embedded.host, embedded.port)

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self._client.connect_async(self._host, self._port, 30)
        self._client.loop_start()

    def stop(self) -> None:
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()

    def send(self, command: str, **fields: Any) -> dict[str, Any]:
        """The gateway's result (``ok`` True); raises HTTPException for errors and silence."""
        self.start()
        if not self._subscribed.wait(CONNECT_WAIT):
            raise HTTPException(503, detail={
                "code": "gateway-unreachable",
                "message": f"cannot reach the broker at {self._host}:{self._port} to send "
                           f"{command!r} to the gateway; nothing was changed"})
        request_id = uuid.uuid4().hex
        pending = _Pending()
        with self._lock:
            self._pending[request_id] = pending
        body = {"v": 1, "request_id": request_id, "command": command,
                "time": time.time(), **fields}
        try:
            self._client.publish(topics.commands(self.site, "request"),
                                 json.dumps(body, ensure_ascii=False), qos=1)
            answered = pending.done.wait(self.timeout)
        finally:
            with self._lock:
                self._pending.pop(request_id, None)
        result = pending.result
        if not answered or result is None:
            raise HTTPException(503, detail={
                "code": "gateway-unreachable",
                "message": f"the gateway did not answer {command!r} within {self.timeout:g} s "
                           "(is it running and connected to the broker?)"})
        if not result.get("ok"):
            error = result.get("error") or {}
            code = str(error.get("code", "error"))
            raise HTTPException(http_status(code), detail={
                "code": code, "message": str(error.get("message", ""))})
        return result

    # -- paho's thread --------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                    _p: Any = None) -> None:
        if not reason.is_failure:
            client.subscribe(topics.commands(self.site, "result"), qos=1)

    def _on_disconnect(self, *_args: Any) -> None:
        self._subscribed.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            doc = json.loads(msg.payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if not isinstance(doc, dict):
            return
        with self._lock:
            pending = self._pending.get(str(doc.get("request_id")))
        if pending is not None:
            pending.result = doc
            pending.done.set()


def get_commands(request: Request) -> GatewayCommands:
    """The app's command client, made on first use (the API starts without a broker)."""
    state = request.app.state
    with _CREATE:
        commands: GatewayCommands | None = getattr(state, "gateway_commands", None)
        if commands is None:
            commands = GatewayCommands.from_config(state.config)
            state.gateway_commands = commands
    return commands


_CREATE = threading.Lock()
