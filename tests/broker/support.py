"""Brokers with the generated accounts and rules, and a small paho client for the checks.

``secured_mosquitto`` runs a real Mosquitto with the password file and ACL that
``occmon broker acl`` writes; ``secured_embedded`` runs occmon's amqtt broker with the same
rules, in a thread of its own. Both hand back the port and every account's password.
"""

from __future__ import annotations

import asyncio
import copy
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from occmon import brokeracl
from occmon.broker import AccountRules, GuardedBroker, broker_config
from occmon.config import load
from occmon.config.schema import SiteConfig
from occmon.mqttclient import stop_loop
from tests.servers import free_port, mosquitto_binary, wait_for, wait_port

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-plant.yaml"
SITE = "demo-plant"
R = f"occmon/v1/{SITE}"
# The demo's accounts, one device renamed so an override is exercised, and the read-only
# account of a control-room annunciator panel.
ACCOUNTS: dict[str, Any] = {
    "annunciator": {},
    "devices": {"noisedos-1": {"username": "noise-dosimeter-7", "password_env": "NOISE_PW"}},
}


def demo_doc(port: int, accounts: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc.pop("embedded_broker", None)
    doc["broker"] = {"host": "127.0.0.1", "port": port,
                     "accounts": copy.deepcopy(ACCOUNTS if accounts is None else accounts)}
    return doc


def demo_config(tmp_path: Path, port: int) -> SiteConfig:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(demo_doc(port), allow_unicode=True), encoding="utf-8")
    return load(path)


def environ_for(config: SiteConfig) -> dict[str, str]:
    """A random password in each account's variable, as an operator's .env would hold."""
    accounts = brokeracl.accounts_of(config)
    return {g.cred.password_env: secrets.token_urlsafe(18)
            for g in brokeracl.grants(config, accounts)}


@dataclass
class SecuredBroker:
    kind: str
    port: int
    config: SiteConfig
    environ: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)  # username -> password

    def login(self, username: str) -> tuple[str, str]:
        return username, self.passwords[username]


def _passwords(config: SiteConfig, environ: dict[str, str]) -> dict[str, str]:
    accounts = brokeracl.accounts_of(config)
    return brokeracl.passwords(accounts, brokeracl.grants(config, accounts), environ)


@contextmanager
def secured_mosquitto(workdir: Path) -> Iterator[SecuredBroker]:
    port = free_port()
    config = demo_config(workdir, port)
    environ = environ_for(config)
    brokeracl.write(config, workdir, environ)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {workdir / 'passwd'}\n"
        f"acl_file {workdir / 'acl'}\n"
        "persistence false\n"
        f"log_dest file {workdir / 'mosquitto.log'}\n"
        + ("user root\n" if os.geteuid() == 0 else ""))
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield SecuredBroker("mosquitto", port, config, environ, _passwords(config, environ))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def secured_embedded(workdir: Path) -> Iterator[SecuredBroker]:
    """occmon's amqtt broker with the generated rules, its loop in a thread of its own."""
    port = free_port()
    config = demo_config(workdir, port)
    environ = environ_for(config)
    passwords = _passwords(config, environ)
    rules = AccountRules.of(brokeracl.grants(config), passwords)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> GuardedBroker:
        broker = GuardedBroker(broker_config("127.0.0.1", port, rules))
        await broker.start()
        return broker

    broker = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:  # listening once start() returned (a bare TCP probe would leak a transport)
        yield SecuredBroker("embedded", port, config, environ, passwords)
    finally:
        asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(10)
        asyncio.run_coroutine_threadsafe(finish_loop_tasks(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def finish_loop_tasks() -> None:
    """Cancel and await what amqtt left running after shutdown (a client's handler whose
    connection was closing), so its stream is closed here, not collected in a later test."""
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    # A handler cancelled while its client was half gone can leave its stream open, to be
    # collected after the loop is closed (a ResourceWarning in whichever test runs then).
    # Close what the loop still has connected, on the loop, before it closes.
    transports = getattr(asyncio.get_running_loop(), "_transports", {})  # selector loops
    for transport in list(transports.values()):
        if transport is not None and not transport.is_closing():
            transport.close()
    await asyncio.sleep(0)  # their connection_lost runs: the sockets are closed now


class Client:
    """A paho MQTT 3.1.1 client that records its CONNACK, SUBACKs and messages."""

    def __init__(self, port: int, login: tuple[str, str] | None, *, client_id: str = "",
                 clean: bool = True, will: tuple[str, bytes] | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.refused: str | None = None
        self.granted: list[int] = []
        self._connack = threading.Event()
        self._subacks: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                        protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        if login is not None:
            c.username_pw_set(*login)
        if will is not None:
            c.will_set(will[0], will[1], qos=1)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = lambda *_a: self._connack.set()
        self.client = c
        c.connect("127.0.0.1", port, keepalive=30)
        c.loop_start()
        assert self._connack.wait(10), "no CONNACK within 10 s"

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        self._connack.set()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        self.granted = [int(getattr(c, "value", c)) for c in codes]
        self._subacks.setdefault(mid, threading.Event()).set()

    @property
    def connected(self) -> bool:
        return self.refused is None and self.client.is_connected()

    def subscribe(self, topic: str) -> list[int]:
        """The SUBACK codes (0 or 1 granted, 128 refused)."""
        _rc, mid = self.client.subscribe(topic, qos=1)
        event = self._subacks.setdefault(mid, threading.Event())
        assert event.wait(10), f"no SUBACK for {topic}"
        return self.granted

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK: the broker has dealt with it."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), f"no PUBACK for {topic}"

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [p for _t, p, _r in self.messages]

    def saw(self, payload: bytes) -> bool:
        return payload in self.payloads()

    def wait_for(self, payload: bytes, timeout: float = 10.0) -> None:
        wait_for(lambda: self.saw(payload), timeout, what=f"{payload!r}")

    def vanish(self) -> None:
        """Drop the connection without DISCONNECT, as a crashed device would: the will fires."""
        sock = self.client.socket()
        stop_loop(self.client)
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        if self.client.is_connected():
            self.client.disconnect()
        stop_loop(self.client)
        # paho closes its socket once DISCONNECT is written; a connection that was not
        # connected at that moment (dropped, or never acknowledged) keeps it. Close it here,
        # not in the collector during a later test (a ResourceWarning, a failed test).
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.close()
