"""Operator commands to the gateway over MQTT, and the answers.

The gateway's alarm engine and interlock are the single owners of alarm and ventilation
state, so the API does not change state itself: it publishes a request on
``occmon/v1/{site}/commands/request`` and waits for the answer with the same
``request_id`` on ``commands/result``:

    {"v": 1, "request_id": "...", "command": "acknowledge", "alarm_id": "...",
     "user": "li.wei", "comment": "..."}
    {"v": 1, "request_id": "...", "ok": true, "events": [...]}
    {"v": 1, "request_id": "...", "ok": false, "error": {"code": "...", "message": "..."}}

Every request is signed by the API and carries ``site``, ``role``, ``principal``, ``time``,
``nonce`` and ``signature`` as well; ``gateway.safety.guard`` checks those before ``parse``
sees the body (docs/topics.md).

``parse`` is pure: a request body in, the core event out, or ``BadCommand``. The
``CommandListener`` owns its own paho client (clean session: a command the gateway missed
while it was down is not executed late), and posts each request to the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway import interlock as il
from gateway.alarms import events as alarms
from occmon import topics
from occmon.config.tls import BrokerTls
from occmon.model import time_value
from occmon.mqttclient import apply, stop_loop

log = logging.getLogger(__name__)

COMMANDS = ("acknowledge", "shelve", "unshelve", "resolve", "out-of-service", "in-service",
            "override", "reset")

Command = (alarms.Acknowledge | alarms.Shelve | alarms.Unshelve | alarms.Resolve
           | alarms.SetOutOfService | il.ManualOverride | il.OperatorReset)


class BadCommand(Exception):
    code = "bad-command"


def _text(doc: dict[str, Any], key: str, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise BadCommand(f"field {key!r} must be a string")
    return value


def _time(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return time_value(value)
    except ValueError as exc:
        raise BadCommand(f"field 'until': {exc}") from None


def parse(doc: dict[str, Any], now: float) -> Command:
    """One request body -> the event for the alarm engine or the interlock."""
    command = doc.get("command")
    if command not in COMMANDS:
        raise BadCommand(f"command {command!r} is not one of {list(COMMANDS)}")
    user = _text(doc, "user")
    if command in ("override", "reset"):
        unit = _text(doc, "unit")
        if command == "reset":
            return il.OperatorReset(unit, user, now, _text(doc, "comment", ""))
        mode = doc.get("mode")
        if mode not in ("on", "off", "auto"):
            raise BadCommand(f"mode {mode!r} is not one of on, off, auto")
        return il.ManualOverride(unit, mode, user, _text(doc, "reason", ""), now)
    alarm_id = _text(doc, "alarm_id")
    if command == "acknowledge":
        return alarms.Acknowledge(alarm_id, user, _text(doc, "comment", ""), now)
    if command == "shelve":
        return alarms.Shelve(alarm_id, user, _time(doc.get("until")), _text(doc, "reason", ""),
                             now)
    if command == "unshelve":
        return alarms.Unshelve(alarm_id, user, now)
    if command == "resolve":
        return alarms.Resolve(alarm_id, user, _text(doc, "reason_code"), now,
                              _text(doc, "comment", ""))
    return alarms.SetOutOfService(alarm_id, user, _text(doc, "reason", ""), now,
                                  out_of_service=command == "out-of-service")


def result_payload(request_id: str, events: list[dict[str, Any]] | None = None,
                   code: str | None = None, message: str = "") -> bytes:
    doc: dict[str, Any] = {"v": 1, "request_id": request_id, "ok": code is None}
    if code is None:
        doc["events"] = events or []
    else:
        doc["error"] = {"code": code, "message": message}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False).encode()


Handler = Callable[[bytes], bytes | None]  # request payload -> result payload


class CommandListener:
    """Subscribes to the request topic; runs ``handler`` on the event loop; publishes."""

    def __init__(self, site: str, handler: Handler, *, host: str, port: int, client_id: str,
                 username: str | None = None, password: str | None = None,
                 tls: BrokerTls | None = None, keepalive: int = 30) -> None:
        self._site, self._handler = site, handler
        self._host, self._port, self._keepalive = host, port, keepalive
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=True, protocol=mqtt.MQTTv311)
        apply(client, username, password, tls)  # login and TLS (occmon/mqttclient.py)
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self.handled = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self._host, self._port, self._keepalive)
        self._client.loop_start()

    async def stop(self) -> None:
        self._client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, stop_loop, self._client)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                    _p: Any = None) -> None:
        if not reason.is_failure:
            client.subscribe(topics.commands(self._site, "request"), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._run, bytes(msg.payload))

    def _run(self, payload: bytes) -> None:
        answer = self._handler(payload)
        self.handled += 1
        if answer is not None:
            self._client.publish(topics.commands(self._site, "result"), answer, qos=1)
