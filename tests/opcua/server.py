"""A real asyncua OPC UA server for the tests: its own thread and event loop, a free port,
a ``GasPanel`` object with one Double variable per detector (``ns=2;s=GasPanel.<name>``)
and a String one, ``Label``.

``stop()`` and ``start()`` may be called again and again: the server comes back on the same
port with a fresh address space (a restarted panel has forgotten every subscription).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.cert_gen import (
    dump_private_key_as_pem,
    generate_private_key,
    generate_self_signed_app_certificate,
)
from asyncua.crypto.permission_rules import User, UserRole
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.servers import free_port

NAMESPACE = "urn:occmon:test:gas-panel"


def node_id(name: str) -> str:
    return f"ns=2;s=GasPanel.{name}"


class OpcUaServer:
    def __init__(
        self,
        names: tuple[str, ...] = ("H2S", "CO"),
        port: int | None = None,
        *,
        certificate: tuple[Path, Path] | None = None,
        users: dict[str, str] | None = None,
        application_uri: str | None = None,
    ) -> None:
        """``certificate`` (cert, key): only Basic256Sha256 SignAndEncrypt is offered;
        ``users``: only these username/password logins are accepted; ``application_uri``:
        the server's (its certificate's SubjectAltName URI), else asyncua's default."""
        self.names = names
        self.application_uri = application_uri
        self.certificate = certificate
        self.users = users
        self.port = port or free_port()
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/occmon/"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._nodes: dict[str, ua.NodeId] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="opcua-server",
                                        daemon=True)
        self._thread.start()
        self._call(self._start())

    def freeze(self) -> None:
        """Hang the server: its loop stops, its sockets stay open and nothing answers (a
        panel that locked up, a cable pulled on the far side of a switch)."""
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def thaw(self) -> None:
        assert self._loop is not None
        self._thread = threading.Thread(target=self._loop.run_forever, name="opcua-server",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None and not self._thread.is_alive():
            self.thaw()
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._server.stop())
            self._call(self._cancel_rest())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()
            self._loop = self._thread = self._server = None

    async def _start(self) -> None:
        server = Server(user_manager=_Users(self.users) if self.users is not None else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        if self.application_uri is not None:
            await server.set_application_uri(self.application_uri)
        if self.certificate is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            await server.load_certificate(str(self.certificate[0]))
            await server.load_private_key(str(self.certificate[1]))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        if self.users is not None:
            server.set_security_IDs(["Username"])
        index = await server.register_namespace(NAMESPACE)
        assert index == 2
        panel = await server.nodes.objects.add_object(ua.NodeId("GasPanel", index), "GasPanel")
        for name in self.names:
            variable = await panel.add_variable(
                ua.NodeId(f"GasPanel.{name}", index), name, ua.Variant(0.0, ua.VariantType.Double))
            self._nodes[name] = variable.nodeid
        label = await panel.add_variable(  # a text value where a number belongs
            ua.NodeId("GasPanel.Label", index), "Label", ua.Variant("", ua.VariantType.String))
        self._nodes["Label"] = label.nodeid
        await server.start()
        self._server = server

    @staticmethod
    async def _cancel_rest() -> None:
        """End what the server left running (per-connection tasks), as a process exit would."""
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        assert self._loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    # -- the panel's values ----------------------------------------------------------------

    def set(
        self,
        name: str,
        value: Any,
        *,
        status: int = ua.StatusCodes.Good,
        source: dt.datetime | None = None,
        variant: ua.VariantType = ua.VariantType.Double,
    ) -> None:
        """Write a detector's value as the panel would: value, status code, source time."""
        data = ua.DataValue(
            ua.Variant(value, variant) if value is not None else ua.Variant(),
            StatusCode=ua.StatusCode(status),
            SourceTimestamp=source or dt.datetime.now(dt.UTC),
            ServerTimestamp=dt.datetime.now(dt.UTC),
        )
        self._call(self._server.write_attribute_value(self._nodes[name], data))


class _Users:
    """asyncua's user manager: these logins and no other (no anonymous session)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, _iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


def make_certificate(folder: Path, name: str, uri: str) -> tuple[Path, Path]:
    """A self-signed OPC UA application certificate (DER) and its key (PEM)."""
    key = generate_private_key()
    cert = generate_self_signed_app_certificate(
        key, name, {"organizationName": "occmon tests"},
        [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")],
        [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH])
    cert_path, key_path = folder / f"{name}-cert.der", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    return cert_path, key_path


@contextmanager
def running_opcua(names: tuple[str, ...] = ("H2S", "CO")) -> Iterator[OpcUaServer]:
    server = OpcUaServer(names)
    server.start()
    try:
        yield server
    finally:
        server.stop()
