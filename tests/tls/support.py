"""A private PKI made with ``cryptography`` and a real Mosquitto with only a TLS listener.

The broker requires a client certificate from the test CA, TLS 1.2 or later, and a
password (one shared login): nothing in these tests can reach it in plain text.
"""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from occmon.brokercerts import Issued, issue, make_ca, write
from occmon.config.schema import Broker
from occmon.config.tls import BrokerTls
from occmon.mqttclient import configure
from tests.servers import free_port, mosquitto_binary, wait_port

GOOD_HOSTS = ("localhost", "127.0.0.1")
WRONG_HOST = "broker.elsewhere.example"  # a name the clients never connect to
USER = "occmon"


@dataclass(frozen=True)
class Pki:
    """Files of the test CA, two broker certificates, a client pair and a stranger CA."""

    folder: Path
    ca: Path
    server: tuple[Path, Path]  # names localhost and 127.0.0.1
    wrong_server: tuple[Path, Path]  # names only WRONG_HOST
    client: tuple[Path, Path]
    stranger_ca: Path  # a CA that signed nothing the broker shows
    stranger_client: tuple[Path, Path]  # a client pair the broker's CA did not sign

    def tls(self, **changes: Any) -> BrokerTls:
        fields: dict[str, Any] = {"ca_file": self.ca, "cert_file": self.client[0],
                                  "key_file": self.client[1]}
        fields.update(changes)
        return BrokerTls(**fields)


def make_pki(folder: Path) -> Pki:
    ca = make_ca("test broker CA")
    stranger = make_ca("stranger CA")
    write(ca, folder, "ca")
    write(stranger, folder, "stranger-ca")

    def pair(issued: Issued, stem: str) -> tuple[Path, Path]:
        return write(issued, folder, stem)

    return Pki(
        folder=folder,
        ca=folder / "ca.crt",
        server=pair(issue(ca, "localhost", hosts=GOOD_HOSTS, server=True), "server"),
        wrong_server=pair(issue(ca, WRONG_HOST, hosts=(WRONG_HOST,), server=True), "wrong"),
        client=pair(issue(ca, "occmon-gateway", server=False), "client"),
        stranger_ca=folder / "stranger-ca.crt",
        stranger_client=pair(issue(stranger, "occmon-gateway", server=False), "stranger"),
    )


@dataclass(frozen=True)
class TlsBroker:
    host: str
    port: int
    password: str

    def broker(self, tls: BrokerTls | None, host: str | None = None) -> Broker:
        return Broker(host=host or self.host, port=self.port, username=USER,
                      password=self.password, tls=tls)


@contextmanager
def tls_mosquitto(workdir: Path, pki: Pki, *, server: tuple[Path, Path] | None = None
                  ) -> Iterator[TlsBroker]:
    """Mosquitto whose one listener is TLS: client certificate required, TLS >= 1.2."""
    binary = mosquitto_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    password = secrets.token_urlsafe(18)
    passwd = workdir / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), USER, password],
                   check=True, capture_output=True)
    cert, key = server or pki.server
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {pki.ca}\n"
        f"certfile {cert}\n"
        f"keyfile {key}\n"
        "require_certificate true\n"
        "tls_version tlsv1.2\n"
        "allow_anonymous false\n"
        f"password_file {passwd}\n"
        "persistence false\n"
        "log_dest none\n"
        + ("user root\n" if os.geteuid() == 0 else ""))
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield TlsBroker("127.0.0.1", port, password)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def try_connect(broker: Broker, *, plain: bool = False, timeout: float = 5.0) -> str:
    """Connect as ``gateway`` the way every occmon client does (``configure``); return
    "connected", or what stopped it: the exception's class and text, or the CONNACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{secrets.token_hex(4)}",
                         protocol=mqtt.MQTTv311)
    if plain:
        client.username_pw_set(broker.username, broker.password)
    else:
        configure(client, broker, "gateway")
    outcome: list[str] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: outcome.append(
        "connected" if not reason.is_failure else f"connack {reason}")
    client.on_disconnect = lambda *_a: outcome.append("disconnected")
    try:
        client.connect(broker.host, broker.port, keepalive=10)
        deadline = time.monotonic() + timeout
        while not outcome and time.monotonic() < deadline:
            rc = client.loop(0.1)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                outcome.append(f"loop {mqtt.error_string(rc)}")
    except (OSError, ssl.SSLError) as exc:  # ssl errors are OSErrors; named for the reader
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.disconnect()
    return outcome[0] if outcome else "no answer"
