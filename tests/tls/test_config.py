"""``broker.tls`` at load: every unusable file is refused naming its key and the fix; and
``occmon broker certs`` writes a CA, broker and client certificates that chain."""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from occmon.brokercerts import main as certs_main
from occmon.cli import main as cli_main
from occmon.config import load
from occmon.config.problems import ConfigError
from occmon.mqttclient import options
from tests.tls.support import Pki

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"


def load_with_tls(tmp_path: Path, tls: dict[str, Any]) -> ConfigError | None:
    doc: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc.pop("embedded_broker", None)
    doc["broker"] = {"host": "mqtt.example.com", "port": 8883, "tls": tls}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    try:
        load(path)
    except ConfigError as exc:
        return exc
    return None


def only_problem(error: ConfigError | None) -> tuple[str, str]:
    assert error is not None, "the configuration was accepted"
    assert len(error.problems) == 1, error
    return error.problems[0].key, error.problems[0].message


def paths(pki: Pki) -> dict[str, Any]:
    return {"ca_file": str(pki.ca), "cert_file": str(pki.client[0]),
            "key_file": str(pki.client[1])}


def test_a_complete_tls_section_loads_checks_host_names_and_reaches_every_role(
    tmp_path: Path, pki: Pki
) -> None:
    assert load_with_tls(tmp_path, paths(pki)) is None
    tls = pki.tls()
    context = tls.context()
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert not tls.insecure_skip_hostname  # on unless opted out
    from occmon.config.schema import Broker

    broker = Broker(username="u", password="p", tls=tls)
    for role in ("gateway", "ingest", "api", "notifier"):
        assert options(broker, role) == {"username": "u", "password": "p", "tls": tls}
    assert options(None, "api") == {"username": None, "password": None, "tls": None}


def test_a_missing_file_is_named_by_its_key(tmp_path: Path, pki: Pki) -> None:
    for key in ("ca_file", "cert_file", "key_file"):
        key_path, message = only_problem(
            load_with_tls(tmp_path, {**paths(pki), key: str(tmp_path / "nowhere.pem")}))
        assert key_path == f"broker.tls.{key}"
        assert "nowhere.pem does not exist" in message and "give the path" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_is_refused(tmp_path: Path, pki: Pki) -> None:
    key = tmp_path / "locked.key"
    key.write_bytes(pki.client[1].read_bytes())
    key.chmod(0)
    key_path, message = only_problem(load_with_tls(tmp_path, {**paths(pki),
                                                              "key_file": str(key)}))
    assert key_path == "broker.tls.key_file" and "not readable" in message


def test_a_key_without_its_certificate_is_refused(tmp_path: Path, pki: Pki) -> None:
    key_path, message = only_problem(load_with_tls(
        tmp_path, {"ca_file": str(pki.ca), "key_file": str(pki.client[1])}))
    assert key_path == "broker.tls"
    assert "key_file is set without cert_file" in message and "add cert_file" in message


def test_a_certificate_without_its_key_is_refused(tmp_path: Path, pki: Pki) -> None:
    key_path, message = only_problem(load_with_tls(
        tmp_path, {"ca_file": str(pki.ca), "cert_file": str(pki.client[0])}))
    assert key_path == "broker.tls"
    assert "holds no private key" in message and "add key_file" in message


def test_the_host_name_opt_out_takes_a_yaml_true_only(tmp_path: Path, pki: Pki) -> None:
    key_path, _ = only_problem(load_with_tls(
        tmp_path, {**paths(pki), "insecure_skip_hostname": "yes please"}))
    assert key_path == "broker.tls.insecure_skip_hostname"
    assert load_with_tls(tmp_path, {**paths(pki), "insecure_skip_hostname": True}) is None


def test_a_key_of_another_certificate_is_refused(tmp_path: Path, pki: Pki) -> None:
    key_path, message = only_problem(load_with_tls(
        tmp_path, {**paths(pki), "key_file": str(pki.stranger_client[1])}))
    assert key_path == "broker.tls"
    assert "cert_file" in message and "its own private key" in message


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(
    tmp_path: Path, pki: Pki
) -> None:
    key = serialization.load_pem_private_key(pki.client[1].read_bytes(), None)
    locked = tmp_path / "encrypted.key"
    locked.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase")))
    key_path, message = only_problem(load_with_tls(
        tmp_path, {**paths(pki), "key_file": str(locked)}))
    assert key_path == "broker.tls" and "is encrypted" in message


def test_a_ca_file_that_is_no_certificate_is_refused(tmp_path: Path, pki: Pki) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    key_path, message = only_problem(load_with_tls(tmp_path, {**paths(pki),
                                                              "ca_file": str(junk)}))
    assert key_path == "broker.tls" and message.startswith("Value error, ca_file ")


def test_unknown_keys_are_refused(tmp_path: Path, pki: Pki) -> None:
    key_path, _ = only_problem(load_with_tls(tmp_path, {**paths(pki), "verify": False}))
    assert key_path == "broker.tls.verify"


def test_broker_certs_writes_a_ca_a_broker_and_client_certificates(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert cli_main(["broker", "certs", "--out", str(out), "--host", "mosquitto",
                     "--host", "10.1.2.3"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{s}.{e}" for s in ("ca", "server", "gateway", "ingest", "api")
                           for e in ("crt", "key"))
    for key in out.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    server = x509.load_pem_x509_certificate((out / "server.crt").read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mosquitto"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    gateway = x509.load_pem_x509_certificate((out / "gateway.crt").read_bytes())
    usage = gateway.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]  # never usable as a broker's
    ca = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    for cert in (server, gateway):
        cert.verify_directly_issued_by(ca)
    # the written files are what broker.tls accepts
    load_error = load_with_tls(tmp_path, {"ca_file": str(out / "ca.crt"),
                                          "cert_file": str(out / "gateway.crt"),
                                          "key_file": str(out / "gateway.key")})
    assert load_error is None
    # a second run keeps the CA every client trusts
    assert certs_main(["--out", str(out), "--host", "mosquitto"]) == 1
    assert (out / "ca.crt").read_bytes() == ca.public_bytes(serialization.Encoding.PEM)
