"""The trust list: a server whose certificate chains to a trusted CA is accepted, any other
is refused before a value is read, counted, and shown offline with the reason.

The certificates are made here with ``cryptography``: a plant CA that signs the panel's
certificate (as OPC UA Part 6 6.2.2 wants it: SubjectAltName URI and DNS name, key usage,
serverAuth), and a second CA the panel has nothing to do with. A real asyncua server offers
only Basic256Sha256 SignAndEncrypt with the panel's certificate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.opcua.trust import TrustListError, describe, load
from occmon.model import Quality
from tests.opcua.helpers import RecordingSink, intake_for, panel_site, until
from tests.opcua.server import OpcUaServer, make_certificate

PANEL_URI = "urn:plant-a:gas-panel-1"
GATEWAY_URI = "urn:occmon:gateway:plant-a"
DAY = dt.timedelta(days=1)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "occmon tests")])


def make_ca(folder: Path, name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A CA certificate (PEM, in ``folder``) and its key."""
    key, now = _key(), dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def make_server_certificate(folder: Path, name: str, uri: str, ca: x509.Certificate,
                            ca_key: rsa.RSAPrivateKey) -> tuple[Path, Path]:
    """An OPC UA server application certificate signed by ``ca``: (cert DER, key PEM)."""
    key, now = _key(), dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                         key_encipherment=True, data_encipherment=True,
                                         key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri),
                                                        x509.DNSName("localhost")]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}-cert.der", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OpcUaServer, Path]]:
    """The plant CA (in pki/trusted/), a foreign CA (pki/foreign/), the panel's certificate
    signed by the plant CA, and a server serving it."""
    folder = tmp_path_factory.mktemp("pki")
    ca, ca_key = make_ca(folder / "trusted", "plant-ca")
    make_ca(folder / "foreign", "other-ca")
    panel = make_server_certificate(folder, "panel", PANEL_URI, ca, ca_key)
    server = OpcUaServer(certificate=panel, application_uri=PANEL_URI)
    server.start()
    try:
        yield server, folder
    finally:
        server.stop()


def _run(server: OpcUaServer, folder: Path, trust: list[str]) -> tuple[RecordingSink,
                                                                         dict[str, int]]:
    cert, key = make_certificate(folder, "gateway", GATEWAY_URI)
    security = {"policy": "Basic256Sha256", "mode": "SignAndEncrypt",
                "certificate": str(cert), "private_key": str(key), "trust": trust}
    config = panel_site(server.endpoint, security=security, timeout=1.0)
    sink = RecordingSink()
    counters: dict[str, int] = {}

    async def main() -> None:
        intake = intake_for(config)
        await intake.start(sink)
        try:
            assert await until(lambda: bool(sink.statuses))
            if sink.statuses[0].online:
                await asyncio.to_thread(server.set, "H2S", 2.0)
                assert await until(lambda: any(r.raw_value == 2.0 for r in sink.of("p1-h2s")))
            else:  # refused: it keeps trying with back-off and is refused each time
                assert await until(
                    lambda: intake.counters()["opcua.gas-panel-1.untrusted"] >= 2, 5)
        finally:
            counters.update(intake.counters())
            await intake.stop()

    asyncio.run(main())
    return sink, counters


def test_a_server_signed_by_a_trusted_ca_is_accepted(pki: tuple[OpcUaServer, Path]) -> None:
    server, folder = pki
    sink, counters = _run(server, folder, [str(folder / "trusted")])  # a directory
    assert [s.online for s in sink.statuses] == [True]
    assert next(r for r in sink.of("p1-h2s") if r.raw_value == 2.0).quality is Quality.GOOD
    assert counters["opcua.gas-panel-1.untrusted"] == 0


def test_a_server_whose_certificate_is_not_trusted_is_refused(
        pki: tuple[OpcUaServer, Path], caplog: pytest.LogCaptureFixture) -> None:
    server, folder = pki
    caplog.set_level(logging.WARNING, logger="gateway.opcua.hub")
    sink, counters = _run(server, folder, [str(folder / "foreign" / "other-ca.pem")])  # a file
    assert [(s.online, s.reason) for s in sink.statuses] == [
        (False, "opcua-bad:BadCertificateUntrusted")]
    assert not sink.got or all(r.quality is Quality.BAD for r in sink.got)
    assert counters["opcua.gas-panel-1.untrusted"] >= 2
    assert counters["opcua.gas-panel-1.connects"] == 0
    # the log line names the certificate refused, its fingerprint and the trust list
    panel = x509.load_der_x509_certificate((folder / "panel-cert.der").read_bytes())
    [line] = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert describe(panel) in line and "BadCertificateUntrusted" in line
    assert "other-ca.pem" in line and PANEL_URI in line


def test_the_panel_s_own_certificate_in_the_list_is_not_a_ca(
        pki: tuple[OpcUaServer, Path]) -> None:
    """A server certificate (not a CA) in the list is trusted as itself: it is the anchor."""
    server, folder = pki
    sink, _counters = _run(server, folder, [str(folder / "panel-cert.der")])
    assert [s.online for s in sink.statuses] == [True]


def test_a_trust_list_that_holds_no_certificate_is_said_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(TrustListError, match="holds no certificate"):
        load([tmp_path / "empty"])
    with pytest.raises(TrustListError, match=r"junk\.pem is not a PEM or DER certificate"):
        load([tmp_path / "junk.pem"])


def _security(**change: Any) -> dict[str, Any]:
    return {"policy": "Basic256Sha256", "mode": "SignAndEncrypt",
            "certificate": "/etc/occmon/gw.der", "private_key": "/etc/occmon/gw.pem", **change}


@pytest.mark.parametrize(("security", "message"), [
    (_security(trust=["pki/trusted"]), "must be absolute paths"),
    (_security(trust=["/pki/a", "/pki/a"]), "given twice"),
    ({"policy": "None", "mode": "None", "trust": ["/pki/a"]}, "checks the server's certificate"),
])
def test_the_schema_refuses_a_bad_trust_list(security: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        panel_site("opc.tcp://127.0.0.1:4840/panel", security=security)


def test_config_check_names_a_trust_list_without_certificates(tmp_path: Path) -> None:
    import yaml

    from occmon.check import check_file

    cert, key = make_certificate(tmp_path, "gateway", GATEWAY_URI)
    (tmp_path / "trusted").mkdir()
    security = _security(certificate=str(cert), private_key=str(key),
                         trust=[str(tmp_path / "trusted")])
    doc = panel_site("opc.tcp://127.0.0.1:4840/panel", security=security).model_dump(
        mode="json", by_alias=True, exclude_unset=True)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    _config, problems = check_file(path)
    [problem] = [str(p) for p in problems]
    assert "devices[0].security.trust" in problem and "holds no certificate" in problem
    make_ca(tmp_path / "trusted", "plant-ca")  # the fix: a CA certificate there
    _config, problems = check_file(path)
    assert problems == []


def test_a_trusted_ca_s_certificate_for_another_application_is_refused(
        pki: tuple[OpcUaServer, Path]) -> None:
    """The plant CA signed it, but for another application URI than the server says it is
    (a certificate copied from another device): BadCertificateUriInvalid, offline."""
    _server, folder = pki
    other_dir = folder / "trusted-2"  # a CA of its own, trusted, whose key the test holds
    ca2, ca2_key = make_ca(other_dir, "plant-ca-2")
    copied = make_server_certificate(folder, "copied", "urn:plant-a:another-device", ca2,
                                     ca2_key)
    server = OpcUaServer(certificate=copied, application_uri=PANEL_URI)
    server.start()
    try:
        sink, counters = _run(server, folder, [str(other_dir)])
    finally:
        server.stop()
    assert [(s.online, s.reason) for s in sink.statuses] == [
        (False, "opcua-bad:BadCertificateUriInvalid")]
    assert counters["opcua.gas-panel-1.untrusted"] >= 2
