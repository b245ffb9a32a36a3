"""The compose stack's broker: deploy/mosquitto/mosquitto.conf run by a real Mosquitto with
the generated password file and ACL and certificates from ``occmon broker certs``; and the
container's start command, which refuses to start without the certificates."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from occmon import brokeracl
from occmon.brokercerts import main as certs_main
from occmon.config import load
from occmon.config.schema import Broker
from occmon.config.tls import BrokerTls
from tests.broker.support import environ_for
from tests.servers import free_port, mosquitto_binary, wait_port
from tests.tls.support import try_connect

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy/mosquitto/mosquitto.conf"

pytestmark = [pytest.mark.server,
              pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")]


@contextmanager
def deploy_broker(tmp_path: Path) -> Iterator[tuple[int, int, Broker]]:
    """The deploy config with its paths moved into tmp_path and its two listeners on free
    loopback ports; returns (plain port, TLS port, the gateway's broker settings)."""
    config = load(ROOT / "deploy/occmon/site.yaml")
    environ = environ_for(config)
    data, conf_dir = tmp_path / "data", tmp_path / "config"
    data.mkdir()
    brokeracl.write(config, data, environ)  # passwd (and an acl, same as the committed one)
    brokeracl.write(config, conf_dir, environ, with_passwords=False)
    certs = tmp_path / "certs"
    assert certs_main(["--out", str(certs), "--host", "localhost"]) == 0
    (data / "certs").mkdir()
    for name in ("ca.crt", "server.crt", "server.key"):
        (data / "certs" / name).write_bytes((certs / name).read_bytes())
    plain, tls_port = free_port(), free_port()
    text = CONF.read_text()
    assert "\nlistener 1883 0.0.0.0\n" in text and "\nlistener 8883 0.0.0.0\n" in text
    text = (text.replace("listener 1883 0.0.0.0", f"listener {plain} 127.0.0.1")
            .replace("listener 8883 0.0.0.0", f"listener {tls_port} 127.0.0.1")
            .replace("/mosquitto/data/", f"{data}/").replace("/mosquitto/config/", f"{conf_dir}/")
            .replace("log_dest stdout", "log_dest none"))
    if os.geteuid() == 0:
        text += "user root\n"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(text)
    process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(tls_port)
        accounts = config.broker.accounts if config.broker else None
        assert accounts is not None
        given = brokeracl.passwords(accounts, brokeracl.grants(config, accounts), environ)
        broker = Broker(host="localhost", port=tls_port,
                        accounts=accounts.with_passwords(given),
                        tls=BrokerTls(ca_file=certs / "ca.crt", cert_file=certs / "gateway.crt",
                                      key_file=certs / "gateway.key"))
        yield plain, tls_port, broker
    finally:
        process.terminate()
        process.wait(5)


def test_the_stack_broker_takes_tls_with_a_client_certificate_and_a_password(
    tmp_path: Path
) -> None:
    with deploy_broker(tmp_path) as (_plain, _tls_port, broker):
        assert try_connect(broker) == "connected"
        assert broker.tls is not None
        no_cert = broker.model_copy(update={"tls": BrokerTls(ca_file=broker.tls.ca_file)})
        assert try_connect(no_cert) != "connected"
        assert try_connect(broker, plain=True) != "connected"  # plain MQTT on the TLS port
        # the password is still checked behind the certificate (allow_anonymous false)
        assert broker.accounts is not None
        wrong = broker.accounts.with_passwords({"occmon-gateway": "not-the-password-1"})
        outcome = try_connect(broker.model_copy(update={"accounts": wrong}))
        assert outcome.startswith("connack"), outcome


def test_the_compose_broker_will_not_start_without_certificates(tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["mosquitto"]
    assert "./deploy/mosquitto/certs:/mosquitto/config/certs:ro" in service["volumes"]
    assert "${MQTTS_PORT:-8883}:8883" in service["ports"]
    assert all(p.startswith("127.0.0.1:") for p in service["ports"] if p.endswith(":1883"))
    command = service["command"][0].replace("$$", "$")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "passwd").write_text("occmon-gateway:$7$...\n")
    local = re.sub(r"(?<![\w/])/mosquitto/", f"{tmp_path}/", command)
    result = subprocess.run(["sh", "-c", local], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "deploy/mosquitto/certs is missing: run occmon broker certs" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before copying anything
