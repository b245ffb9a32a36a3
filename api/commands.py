"""Operator commands to the gateway: publish a request over MQTT, wait for its result.

The gateway's engine owns alarm and ventilation state (docs/alarms.md), so the API sends
``{"request_id", "command", ...}`` on ``occmon/v1/{site}/commands/request`` and waits (at
most ``timeout`` s) for the gateway's answer with the same id on ``commands/result``. The
gateway's typed error codes map to HTTP statuses here; no answer is a 503 that says so.

Every command names who sends it (``user``, the API key's ``role`` and name), its site, a
time and a random nonce, and is signed with the API's Ed25519 key (``occmon.signing``);
the gateway executes nothing else. A role that may not send a command (``occmon.roles``,
the table the gateway applies too) is a 403 before anything is signed or sent.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import HTTPException, Request
from paho.mqtt.enums import CallbackAPIVersion

from api.auth import Principal
from ingest.records import INGEST_ALARMS
from occmon import roles, signing, topics
from occmon.config.schema import SiteConfig
from occmon.config.tls import BrokerTls
from occmon.mqttclient import apply, options, stop_loop

log = logging.getLogger(__name__)

TIMEOUT = 5.0
CONNECT_WAIT = 2.0

NOT_FOUND = {"unknown-alarm", "unknown-point", "unknown-unit"}
CONFLICT = {"ingest-alarm", "already-acknowledged", "not-shelved", "already-shelved", "shelved",
            "out-of-service", "in-service", "still-active", "nothing-to-resolve",
            "already-in-mode", "not-overridden", "reset-not-allowed"}
FORBIDDEN = {"forbidden-role"}
# the gateway has no verify key, or is flooded with signed commands: try again later
UNAVAILABLE = {"no-verify-key", "replay-cache-full"}
# the gateway took the API's own command for a forgery, a replay or a stale one: the keys or
# the clocks of the two do not agree, which is the API's upstream's fault, not the caller's
MISTRUSTED = {"malformed", "unsigned", "bad-signature", "wrong-site", "clock-skew",
              "too-old", "bad-time", "stale", "replay"}
# everything else the gateway refuses (shelve-needs-expiry, shelve-too-long,
# unknown-reason-code, missing-who-or-why, bad-command) is a 422


def http_status(code: str) -> int:
    if code in NOT_FOUND:
        return 404
    if code in CONFLICT:
        return 409
    if code in FORBIDDEN:
        return 403
    if code in UNAVAILABLE:
        return 503
    if code in MISTRUSTED:
        return 502
    return 422


class CommandSigner:
    """The API's signing key, loaded on first use and retried while missing (logged once)."""

    def __init__(self, site: str, path: Path | None) -> None:
        self.site, self.path = site, path
        self._key: Ed25519PrivateKey | None = None
        self._complained = False

    @classmethod
    def from_config(cls, config: SiteConfig) -> CommandSigner:
        return cls(config.site.id, config.security.signing_key)

    def key(self) -> Ed25519PrivateKey | None:
        if self._key is None:
            try:
                if self.path is None:
                    raise signing.KeyFileError("security.signing_key is null")
                self._key = signing.load_private(self.path)
            except signing.KeyFileError as exc:
                if not self._complained:
                    self._complained = True
                    log.error("no command signing key (%s): every operator command is "
                              "refused (503 no-signing-key); run `occmon keys init CONFIG`",
                              exc)
        return self._key

    def require(self, command: str) -> Ed25519PrivateKey:
        """The key, or HTTPException 503 ``no-signing-key``."""
        key = self.key()
        if key is None:
            raise HTTPException(503, detail={
                "code": "no-signing-key",
                "message": f"the API has no key to sign {command!r} with "
                           f"(security.signing_key = {self.path}); nothing was sent"})
        return key

    def envelope(self, request_id: str, command: str, who: Principal,
                 fields: dict[str, Any]) -> dict[str, Any]:
        """The signed request body, timed now: sign just before publishing."""
        key = self.require(command)
        body = {"v": 1, "request_id": request_id, "command": command, **fields,
                "site": self.site, "role": who.role, "principal": who.name,
                "time": time.time(), "nonce": secrets.token_hex(16)}
        return signing.sign(body, key)


@dataclass(slots=True)
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None


class GatewayCommands:
    """One paho client per API process; thread-safe ``send``."""

    def __init__(self, site: str, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, tls: BrokerTls | None = None,
                 timeout: float = TIMEOUT) -> None:
        self.site, self.timeout = site, timeout
        self._host, self._port = host, port
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"occmon-api-{site}-{uuid.uuid4().hex[:8]}",
                             clean_session=True, protocol=mqtt.MQTTv311)
        apply(client, username, password, tls)  # login and TLS (occmon/mqttclient.py)
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = lambda *_a: self._subscribed.set()
        client.on_message = self._on_message
        self._client = client
        self._started = False
        self.signer: CommandSigner | None = None  # None: every command is a 503

    @classmethod
    def from_config(cls, config: SiteConfig) -> GatewayCommands:
        """A client of the config's broker that signs with the config's signing key."""
        commands = cls._for_broker(config)
        commands.signer = CommandSigner.from_config(config)
        return commands

    @classmethod
    def _for_broker(cls, config: SiteConfig) -> GatewayCommands:
        broker = config.broker
        if broker is not None:
            return cls(config.site.id, broker.host, broker.port, **options(broker, "api"))
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
            stop_loop(self._client)

    def send(self, command: str, who: Principal, **fields: Any) -> dict[str, Any]:
        """The gateway's result (``ok`` True); raises HTTPException for errors and silence."""
        why = roles.refusal(who.role, command)
        if why is not None:
            raise HTTPException(403, detail={
                "code": "forbidden-role",
                "message": f"key {who.name!r} may not send {command!r}: {why}"})
        alarm_id = str(fields.get("alarm_id", ""))
        if alarm_id.startswith(INGEST_ALARMS):
            raise HTTPException(409, detail={
                "code": "ingest-alarm",
                "message": f"{alarm_id} is one of ingest's own system alarms: the gateway does "
                           f"not hold it, so there is nothing to {command}. It does not latch: "
                           "it ends by itself (event returned) when its cause is fixed; "
                           "/healthz names the cause"})
        signer = self.signer or CommandSigner(self.site, None)
        signer.require(command)
        self.start()
        if not self._subscribed.wait(CONNECT_WAIT):
            raise HTTPException(503, detail={
                "code": "gateway-unreachable",
                "message": f"cannot reach the broker at {self._host}:{self._port} to send "
                           f"{command!r} to the gateway; nothing was changed"})
        request_id = uuid.uuid4().hex
        body = signer.envelope(request_id, command, who, fields)
        pending = _Pending()
        with self._lock:
            self._pending[request_id] = pending
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
            message = str(error.get("message", ""))
            if code in MISTRUSTED:
                message = (f"the gateway refused the API's signed {command!r} ({message}): "
                           "check that its security.verify_key is the public half of this "
                           "API's security.signing_key and that both clocks keep time")
            raise HTTPException(http_status(code), detail={"code": code, "message": message})
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
