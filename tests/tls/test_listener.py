"""Every occmon MQTT client against a real Mosquitto whose only listener is TLS.

The broker requires a client certificate signed by the test CA and TLS 1.2 or later;
the clients check its certificate and host name (``broker.tls``, occmon/mqttclient.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import ssl
import time
import warnings
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi import HTTPException
from paho.mqtt.enums import CallbackAPIVersion

from api.auth import Principal
from api.commands import GatewayCommands
from api.heartbeats import ComponentWatch
from gateway.app import Gateway
from ingest.subscriber import Ingest
from occmon import signing, topics
from occmon.config.schema import Broker, SecurityConfig, SiteConfig, Store
from occmon.config.trust import TrustConfig
from occmon.mqttclient import configure, stop_loop
from tests.gateway_core.helpers import site_config
from tests.servers import wait_for
from tests.tls.support import Pki, TlsBroker, tls_mosquitto, try_connect

# paho drops, unclosed, the socket of a failed TLS handshake (the garbage collector closes
# it): these tests make handshakes fail on purpose
pytestmark = [pytest.mark.server,
              pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")]

SITE = "plant-a"
VENDOR_TOPIC = "vendor/wgas/wgas-1/data"


def tls_site(tmp_path: Path, broker: Broker) -> SiteConfig:
    """The one-detector plant of the gateway tests on the TLS broker, with command keys."""
    signing.ensure_key_pair(tmp_path / "sign.pem", tmp_path / "verify.pub.pem")
    config = site_config(queue_path=str(tmp_path / "queue.db"))
    return config.model_copy(update={
        "broker": broker,
        "store": Store(path=tmp_path / "occmon.db", batch_size=50, batch_interval=0.1),
        "security": SecurityConfig(signing_key=tmp_path / "sign.pem",
                                   verify_key=tmp_path / "verify.pub.pem",
                                   ledger_key=None, ledger_verify_key=None),
        "trust": TrustConfig(),
    })


class Retained:
    """A TLS subscriber (as the API's account) collecting the last message per topic."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.last: dict[str, bytes] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-watcher",
                                  protocol=mqtt.MQTTv311)
        configure(self.client, broker, "api")
        self.client.on_connect = lambda c, *_a: c.subscribe(topic, 1)
        self.client.on_message = lambda _c, _u, m: self.last.__setitem__(m.topic, m.payload)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        stop_loop(self.client)


def stored_values(db: Path) -> list[float]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("SELECT raw_value FROM readings WHERE point = ?",
                                ("desulf-h2s-w1",)).fetchall()
        except sqlite3.OperationalError:  # the table is not there yet
            return []
    return [row[0] for row in rows]


def test_gateway_ingest_api_and_heartbeats_work_over_tls_only(
    tmp_path: Path, tls_broker: TlsBroker, pki: Pki
) -> None:
    """A vendor reading goes vendor -> intake -> publisher -> ingest -> SQLite, a signed
    command goes API -> gateway -> API, and all three heartbeats arrive: every hop on the
    broker's TLS listener, the only one it has."""
    broker = tls_broker.broker(pki.tls(), host="localhost")  # checked by DNS name
    config = tls_site(tmp_path, broker)
    ingest = Ingest(config, broker_host=broker.host, broker_port=broker.port)
    watch = ComponentWatch(config, config.store.path, host=broker.host, port=broker.port)
    commands = GatewayCommands.from_config(config)
    status = Retained(broker, f"occmon/v1/{SITE}/status/#")
    vendor = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vendor-device")
    configure(vendor, broker, "gateway")  # a vendor device on the same TLS listener
    vendor.connect(broker.host, broker.port)
    vendor.loop_start()
    ingest.start()
    watch.start()
    answer: dict[str, object] = {}

    async def main() -> None:
        gateway = Gateway(config, tmp_path / "site.yaml", broker_host=broker.host,
                          broker_port=broker.port)
        await gateway.start()
        try:
            assert await asyncio.to_thread(ingest.wait_ready, 20), "ingest did not subscribe"
            deadline = time.monotonic() + 20
            while gateway.counters().get("mqtt.connects", 0) == 0:
                assert time.monotonic() < deadline, "the intake did not connect"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # SUBACK
            sent = vendor.publish(
                VENDOR_TOPIC, json.dumps({"ts": int(time.time() * 1000),
                                          "gas": {"h2s": 7.25}}).encode(), qos=1)
            await asyncio.to_thread(sent.wait_for_publish, 5)
            deadline = time.monotonic() + 20
            while stored_values(config.store.path) != [7.25]:
                assert time.monotonic() < deadline, stored_values(config.store.path)
                await asyncio.sleep(0.1)
            try:
                await asyncio.to_thread(
                    commands.send, "acknowledge", Principal("officer-1", "officer", None),
                    alarm_id="no-such-alarm", user="tester")
            except HTTPException as exc:
                answer.update(status=exc.status_code, detail=exc.detail)
            wait_for(lambda: {f"{topics.component_status(SITE, c)}"
                              for c in ("gateway", "ingest", "api")} <= set(status.last),
                     20, "the three heartbeats")
            assert watch.last("gateway") is not None and watch.last("ingest") is not None
        finally:
            await gateway.stop()

    try:
        asyncio.run(main())
    finally:
        commands.stop()
        watch.stop()
        ingest.stop()
        status.close()
        vendor.disconnect()
        stop_loop(vendor)
    assert stored_values(config.store.path) == [7.25]
    # the gateway verified the signed command and answered it (no such alarm): the API's
    # client and the gateway's command listener both reached the broker
    assert answer, "the gateway accepted an acknowledgement of an alarm that does not exist"
    detail = answer["detail"]
    assert isinstance(detail, dict) and detail["code"] not in (
        "gateway-unreachable", "unsigned", "bad-signature"), answer


def test_a_client_without_the_ca_is_refused(tls_broker: TlsBroker, pki: Pki) -> None:
    assert try_connect(tls_broker.broker(pki.tls())) == "connected"  # the control
    for tls in (pki.tls(ca_file=pki.stranger_ca), pki.tls(ca_file=None)):  # None: system CAs
        outcome = try_connect(tls_broker.broker(tls))
        assert outcome.startswith("SSLCertVerificationError"), outcome


def test_a_client_without_a_certificate_of_the_ca_is_refused(
    tls_broker: TlsBroker, pki: Pki
) -> None:
    for tls in (pki.tls(cert_file=None, key_file=None),
                pki.tls(cert_file=pki.stranger_client[0], key_file=pki.stranger_client[1])):
        outcome = try_connect(tls_broker.broker(tls))
        assert outcome != "connected" and not outcome.startswith("connack"), outcome


def test_plain_text_is_refused(tls_broker: TlsBroker) -> None:
    outcome = try_connect(tls_broker.broker(None), plain=True)
    assert outcome != "connected", outcome


def test_a_broker_certificate_for_another_host_is_refused_unless_opted_out(
    tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    with tls_mosquitto(tmp_path / "wrong", pki, server=pki.wrong_server) as wrong:
        for host in ("127.0.0.1", "localhost"):
            outcome = try_connect(wrong.broker(pki.tls(), host=host))
            assert outcome.startswith("SSLCertVerificationError") and "mismatch" in outcome, (
                host, outcome)
        with caplog.at_level(logging.WARNING, logger="occmon.tls"):
            outcome = try_connect(wrong.broker(pki.tls(insecure_skip_hostname=True)))
        assert outcome == "connected"
        assert any("insecure_skip_hostname" in r.getMessage() and r.levelno == logging.WARNING
                   for r in caplog.records)
        # the opt-out skips the name only: a broker of another CA is still refused
        outcome = try_connect(wrong.broker(
            pki.tls(ca_file=pki.stranger_ca, insecure_skip_hostname=True)))
        assert outcome.startswith("SSLCertVerificationError"), outcome


def _handshake(port: int, context: ssl.SSLContext) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as tls:
            return str(tls.version())
    except (OSError, ssl.SSLError) as exc:
        return f"{type(exc).__name__}: {exc}"


def test_the_broker_speaks_tls_1_2_or_later_only(tls_broker: TlsBroker, pki: Pki) -> None:
    def context(version: ssl.TLSVersion) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca)
        ctx.load_cert_chain(*pki.client)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer old versions
        with warnings.catch_warnings():  # offering TLS 1.0/1.1 is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = version
        return ctx

    assert _handshake(tls_broker.port, context(ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
    for old in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
        outcome = _handshake(tls_broker.port, context(old))
        assert outcome.startswith(("SSLError", "ConnectionResetError")), (old, outcome)
    assert pki.tls().context().minimum_version == ssl.TLSVersion.TLSv1_2  # our clients


def test_ingest_with_the_wrong_ca_stores_nothing_and_keeps_running(
    tmp_path: Path, tls_broker: TlsBroker, pki: Pki
) -> None:
    broker = tls_broker.broker(pki.tls(ca_file=pki.stranger_ca))
    config = tls_site(tmp_path, broker)
    ingest = Ingest(config, broker_host=broker.host, broker_port=broker.port)
    ingest.start()
    try:
        assert not ingest.wait_ready(3)
        assert ingest.healthy()
    finally:
        ingest.stop()


def test_files_removed_after_load_do_not_stop_a_reconnect(
    tmp_path: Path, tls_broker: TlsBroker, pki: Pki
) -> None:
    """The context is built when the config loads: a later deploy that moves or breaks the
    files cannot make a client's reconnect (a new paho client) raise."""
    copies = {}
    for key, source in (("ca_file", pki.ca), ("cert_file", pki.client[0]),
                        ("key_file", pki.client[1])):
        copies[key] = tmp_path / source.name
        copies[key].write_bytes(source.read_bytes())
    broker = tls_broker.broker(pki.tls(**copies))
    for path in copies.values():
        path.unlink()
    assert try_connect(broker) == "connected"
    assert try_connect(broker) == "connected"  # and again, as after a broker restart
