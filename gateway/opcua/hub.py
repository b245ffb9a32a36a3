"""The hub of one OPC UA server: the session, the subscription, the reconnect.

One ``OpcUaHub`` per device (endpoint) owns one asyncua ``Client``: it connects (secured as
the site file says), creates one subscription at the device's publishing interval and one
monitored item per configured node, and hands each data change to its owner as it comes.
When the connection is lost (the socket closes, the session's keep-alive probe fails, the
server reports the subscription gone) it reports the device offline, throws the client
away and connects again with back-off (0.5 s doubling to 30 s), re-creating the
subscription on the new session: a restarted server has forgotten the old one.

asyncua's own ``auto_reconnect`` is not used: the hub must know the moment the server is
gone (the device goes offline and its points fault at once) and must start from a clean
client whatever state the old one was left in. Failures are logged once per outage and
once on recovery, with the outage's length and the number of attempts.

Everything runs on the gateway's event loop; asyncua calls the handler from its own tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import uacrypto
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.uaerrors import UaStatusCodeError
from cryptography import x509

from gateway.logthrottle import throttle_library
from gateway.opcua.trust import TrustListError, TrustValidator
from occmon.config.opcua import OpcUaDevice

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.5  # s before the first reconnect attempt
BACKOFF_MAX = 30.0  # s between attempts at most
DISCONNECT_TIMEOUT = 0.5  # s for CloseSession: a hung server must not hold up a reconnect
QUEUE_SIZE = 10  # samples the server keeps per node between two publishes

# asyncua loggers that speak at every connect attempt or lost connection
_CHATTY = ("asyncua.client.client", "asyncua.client.ua_client.UaClient",
           "asyncua.client.ua_client.UASocketProtocol", "asyncua.client.ua_session.UaSession",
           "asyncua.crypto.uacrypto", "asyncua.common.subscription",
           # the trust list's refusal: a traceback per attempt from asyncua's TrustStore
           "asyncuagds.validate", "asyncua.crypto.validator")

ClientFactory = Callable[[str, float], Client]


def default_client(endpoint: str, timeout: float) -> Client:
    return Client(endpoint, timeout=timeout)


class HubOwner(Protocol):
    """What the hub tells the intake (all on the event loop)."""

    def changed(self, device: str, field: str, value: ua.DataValue, arrival: float) -> None: ...

    def rejected(self, device: str, field: str, node: str, code: int) -> None: ...

    def state(self, device: str, online: bool, reason: str | None) -> None: ...


class LoginMissing(Exception):
    """The password's environment variable is not set: no point retrying fast."""


def reason_of(exc: BaseException) -> str:
    """A stable short code for why a connection failed or ended."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, LoginMissing):
        return "login-missing"
    if isinstance(exc, TrustListError):
        return "trust-list-unreadable"
    if isinstance(exc, UaStatusCodeError):
        return f"opcua-bad:{type(exc).__name__}"
    return "connection-lost"


def _close_transport(client: Client) -> None:
    """Close the socket asyncua may leave open: when its session probe times out it marks
    the client disconnected without closing the transport, and ``disconnect_socket`` then
    does nothing (asyncua 2.1). One leaked socket per outage of a hung server adds up."""
    protocol = getattr(client.uaclient, "protocol", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None and not transport.is_closing():
        transport.close()


class _Handler:
    """asyncua's subscription handler: data changes and the subscription's own status."""

    def __init__(self, hub: OpcUaHub, lost: asyncio.Event, session: int) -> None:
        self.hub = hub
        self.lost = lost
        self.session = session

    def datachange_notification(self, node: Any, _val: Any, data: Any) -> None:
        self.hub.notified(node.nodeid, data.monitored_item.Value, self.session)

    def status_change_notification(self, status: Any) -> None:
        code = getattr(status, "Status", None)
        if code is None or not code.is_good():
            self.lost.set()


class OpcUaHub:
    """Connection owner for one OPC UA device; ``run()`` until cancelled."""

    def __init__(
        self,
        device: OpcUaDevice,
        owner: HubOwner,
        *,
        client_factory: ClientFactory = default_client,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self.device = device
        self.owner = owner
        library = logging.getLogger("asyncua")  # INFO is a line per publish: keep warnings
        if library.level == logging.NOTSET:
            library.setLevel(logging.WARNING)
        for name in _CHATTY:  # what asyncua says at each attempt: once a minute
            throttle_library(name)
        self._factory = client_factory
        self._clock = clock
        self._env = env if env is not None else os.environ
        self._backoff = (backoff_first, backoff_max)
        # node id -> field names bound to it (two fields may name one node)
        self._fields: dict[ua.NodeId, list[str]] = {}
        for name, text in device.nodes.items():
            self._fields.setdefault(ua.NodeId.from_string(text), []).append(name)
        self.connects = 0
        self.failures = 0
        self.untrusted = 0  # sessions refused: the server's certificate is not trusted
        self._trust: TrustValidator | None = None
        self.online = False
        self._down_since: float | None = None
        self._attempts = 0
        self._session_no = 0  # data changes count only from the current session

    @property
    def id(self) -> str:
        return self.device.id

    async def run(self) -> None:
        """Connect, subscribe, wait for the loss, back off, again; until cancelled."""
        delay = self._backoff[0]
        first = True
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                self._attempts += 1
                refusal = self._refusal()
                if refusal is not None:
                    self.untrusted += 1
                if self.online or first:  # a new outage: say so once, tell the owner
                    reason = reason_of(exc)
                    self.online = False
                    delay = self._backoff[0]
                    self._down_since, self._attempts = self._clock(), 1
                    log.warning("opcua %s: %s unreachable (%s: %s); retrying with back-off",
                                self.id, self.device.endpoint, reason,
                                refusal or str(exc) or type(exc).__name__)
                    self.owner.state(self.id, False, reason)
            first = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    def _refusal(self) -> str | None:
        """Why the trust list refused the last session's server certificate, if it did."""
        trust = self._trust
        if trust is None or trust.refusal is None:
            return None
        refusal, trust.refusal = trust.refusal, None
        return refusal

    def notified(self, node: ua.NodeId, value: ua.DataValue, session: int) -> None:
        if session != self._session_no:
            return  # dispatched late from a session already given up: not vouched for
        arrival = self._clock()
        for name in self._fields.get(node, ()):
            self.owner.changed(self.id, name, value, arrival)

    async def _session(self) -> None:
        device = self.device
        client = self._factory(device.endpoint, device.timeout)
        lost = asyncio.Event()
        self._session_no += 1
        session = self._session_no

        async def on_lost(_exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        try:  # the socket is closed on every way out, a cancelled handshake included
            await self._secure(client)
            await client.connect()
            interval_ms = device.publishing_interval * 1000.0
            handler = _Handler(self, lost, session)
            subscription = await client.create_subscription(interval_ms, handler)
            nodes = [client.get_node(node) for node in self._fields]
            results = await subscription.subscribe_data_change(
                nodes, queuesize=QUEUE_SIZE, sampling_interval=ua.Double(interval_ms))
            for node, result in zip(self._fields, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    for name in self._fields[node]:
                        self.owner.rejected(self.id, name, node.to_string(), result.value)
            self.connects += 1
            if not self.online:
                self.online = True
                if self._down_since is not None:
                    log.warning("opcua %s: %s back after %.1f s and %d attempts; "
                                "subscription restored (%d nodes)", self.id, device.endpoint,
                                self._clock() - self._down_since, self._attempts, len(nodes))
                    self._down_since = None
                self.owner.state(self.id, True, None)
            await lost.wait()
            raise ConnectionError("connection lost")
        finally:
            self._session_no += 1  # what this session's tasks still dispatch is dropped
            with contextlib.suppress(Exception):  # a polite close, if the server answers
                await asyncio.wait_for(client.disconnect(), DISCONNECT_TIMEOUT)
            client.disconnect_socket()  # and the socket closed whether it did or not
            _close_transport(client)

    async def _secure(self, client: Client) -> None:
        device = self.device
        if device.username is not None and device.password_env is not None:
            password = self._env.get(device.password_env)
            if password is None:
                raise LoginMissing(f"environment variable {device.password_env} is not set")
            client.set_user(device.username)
            client.set_password(password)
        security = device.security
        if security.policy == "None":
            return
        assert security.certificate is not None and security.private_key is not None
        mode = (ua.MessageSecurityMode.Sign if security.mode == "Sign"
                else ua.MessageSecurityMode.SignAndEncrypt)
        # Servers check that the client's application URI is the one in its certificate.
        certificate = await uacrypto.load_certificate(str(security.certificate))
        with contextlib.suppress(x509.ExtensionNotFound):
            names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            uris = names.value.get_values_for_type(x509.UniformResourceIdentifier)
            if uris:
                client.application_uri = uris[0]
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            certificate=str(security.certificate),
            private_key=str(security.private_key),
            server_certificate=(str(security.server_certificate)
                                if security.server_certificate is not None else None),
            mode=mode,
        )
        if security.trust:  # read at each connect: a certificate added is used at once
            self._trust = await TrustValidator.from_paths(security.trust)
            client.certificate_validator = self._trust
