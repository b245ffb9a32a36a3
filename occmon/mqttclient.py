"""The one place that configures an occmon paho client for the broker: login and TLS.

Every occmon MQTT client (the gateway's publisher, command listener and vendor intake, the
heartbeat links, ingest with its annunciator pushes, the API's command client) goes through
``configure`` (it holds the config's ``Broker``) or ``apply`` (it was handed ``options``
as keyword arguments), so a new client cannot forget TLS or log in with the wrong account.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TypedDict

import paho.mqtt.client as mqtt

from occmon.config.mqttauth import ROLES, Role, login
from occmon.config.schema import Broker
from occmon.config.tls import BrokerTls

log = logging.getLogger("occmon.tls")
_warned: set[str] = set()  # client ids already warned about insecure_skip_hostname


class ClientOptions(TypedDict):
    """Keyword arguments of every occmon MQTT client: ``Publisher(..., **options(b, role))``."""

    username: str | None
    password: str | None
    tls: BrokerTls | None


def options(broker: Broker | None, role: Role) -> ClientOptions:
    """The login of ``role`` and the broker's TLS settings (none: the embedded broker)."""
    auth = login(broker, role)
    return ClientOptions(username=auth["username"], password=auth["password"],
                         tls=broker.tls if broker is not None else None)


def role_of(component: str) -> Role:
    """The account of an occmon component (``gateway``, ``ingest``, ``api``)."""
    for role in ROLES:
        if role == component:
            return role
    raise ValueError(f"{component!r} is not an occmon role; use one of {', '.join(ROLES)}")


def configure(client: mqtt.Client, broker: Broker | None, role: Role) -> None:
    """Log ``client`` in as ``role`` and put it on TLS when the broker has ``tls``."""
    apply(client, **options(broker, role))


def apply(client: mqtt.Client, username: str | None = None, password: str | None = None,
          tls: BrokerTls | None = None) -> None:
    """``configure`` for a client that was handed ``options`` instead of the broker."""
    if username:
        client.username_pw_set(username, password)
    if tls is None:
        return
    if tls.insecure_skip_hostname and _client_id(client) not in _warned:
        # once per client and process: the publisher makes a new client at each reconnect
        _warned.add(_client_id(client))
        log.warning("broker.tls.insecure_skip_hostname is set: client %s does NOT check that "
                    "the broker's certificate names the host it connects to; any holder of "
                    "a certificate of the CA can pose as the broker. Put the broker's "
                    "address in its certificate and remove the opt-out.", _client_id(client))
    client.tls_set_context(tls.context())


def _client_id(client: mqtt.Client) -> str:
    return str(getattr(client, "_client_id", b"").decode(errors="replace")) or "(no id)"


def stop_loop(client: mqtt.Client) -> None:
    """``loop_stop``, then close the wake-up socket pair ``loop_start`` opened.

    paho closes that pair only in ``Client.__del__``. A client held in a reference cycle
    (its callbacks are bound methods of the object that holds it) is freed by the cycle
    collector, which may finalise the sockets first: each stop then leaves two descriptors
    open until a full collection, and a ResourceWarning when it comes.
    """
    client.loop_stop()
    if getattr(client, "_thread", None) is not None:
        return  # called from paho's own thread, or it did not end: it may still use them
    for name in ("_sockpairR", "_sockpairW"):
        sock = getattr(client, name, None)
        if sock is not None:
            sock.close()
            setattr(client, name, None)


class PublishGate:
    """``publish`` from any thread without racing paho's reconnect.

    paho's ``reconnect()`` (in its network thread) sets the new socket a moment before it
    queues CONNECT, and ``publish()`` from another thread only checks that a socket exists:
    a message published in between goes out first on the new connection, and the broker
    drops the connection ("first packet is not CONNECT"). So a message published while the
    client is not connected is held here and handed to paho by ``flush()``, which the
    owner calls from its ``on_connect`` (paho's thread, after CONNACK). QoS 0 is not held
    (at most once: paho drops it too when not connected). At most ``limit`` are held; the
    oldest are dropped past that and counted.
    """

    def __init__(self, client: mqtt.Client, limit: int = 10_000) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._held: deque[tuple[str, bytes | str, int, bool]] = deque()
        self._limit = limit
        self.dropped = 0

    def publish(self, topic: str, payload: bytes | str, qos: int = 1,
                retain: bool = False, *, hold: bool = True) -> bool:
        """True when paho took the message or it is held for the next connection.
        ``hold=False``: not connected is False (a heartbeat: the next one replaces it)."""
        with self._lock:
            if self._client.is_connected() and not self._held:
                info = self._client.publish(topic, payload, qos, retain)
                return info.rc == mqtt.MQTT_ERR_SUCCESS
            if qos == 0 or not hold:
                return False
            if len(self._held) >= self._limit:
                self._held.popleft()
                self.dropped += 1
            self._held.append((topic, payload, qos, retain))
            return True

    def flush(self) -> None:
        """Hand the held messages to paho, in order (call from ``on_connect``)."""
        with self._lock:
            while self._held and self._client.is_connected():
                topic, payload, qos, retain = self._held.popleft()
                self._client.publish(topic, payload, qos, retain)

    @property
    def held(self) -> int:
        return len(self._held)
