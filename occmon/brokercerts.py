"""``occmon broker certs``: a private CA, the broker's certificate and one client certificate
per occmon service, for the broker's TLS listener (deploy/mosquitto/mosquitto.conf).

A plant's gateway reaches head office's broker over a WAN; a private CA that signs only
these certificates lets both ends check each other without a public CA. The broker's
certificate names every host name or IP address the clients use (subjectAltName: the
clients check it, ``broker.tls``); each client certificate is for client authentication
only, so it cannot serve as a broker certificate. Keys are EC P-256, written mode 0600.

Keep ``ca.key`` off the broker host (it issues certificates the broker trusts); the broker
needs ``ca.crt``, ``server.crt`` and ``server.key``, a client ``ca.crt`` and its own pair.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 825  # the longest validity Apple's TLS clients accept for a server certificate
CLIENTS = ("gateway", "ingest", "api")


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "occmon"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             days: int, now: dt.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days)))


def make_ca(common_name: str = "occmon broker CA", days: int = 3650,
            now: dt.datetime | None = None) -> Issued:
    """A self-signed CA that may sign end certificates only (path length 0)."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(common_name), _name(common_name), key, days, now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                         False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(key, cert)


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue(ca: Issued, common_name: str, *, hosts: Sequence[str] = (), server: bool,
          days: int = DEFAULT_DAYS, now: dt.datetime | None = None) -> Issued:
    """An end certificate signed by ``ca``: a server one naming ``hosts`` (the names the
    clients connect to), or a client one (client authentication only)."""
    if server and not hosts:
        raise ValueError("a broker certificate needs at least one host name or IP address")
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_builder(_name(common_name), ca.cert.subject, key, days, now)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(True, False, False, False, True, False, False,
                                            False, False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca.key.public_key()), critical=False))
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    return Issued(key, builder.sign(ca.key, hashes.SHA256()))


def write(issued: Issued, folder: Path, stem: str) -> tuple[Path, Path]:
    """``stem.crt`` (0644) and ``stem.key`` (0600, created so, never world-readable)."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key = folder / f"{stem}.crt", folder / f"{stem}.key"
    crt.write_bytes(issued.cert_pem())
    crt.chmod(0o644)
    key.unlink(missing_ok=True)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(issued.key_pem())
    return crt, key


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="occmon broker certs",
        description="Write a private CA, the broker's certificate and a client certificate "
        "per occmon service for the broker's TLS listener.")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--host", action="append", default=[], dest="hosts",
                        help="a host name or IP address the clients use for the broker "
                        "(repeat; e.g. --host mosquitto --host mqtt.example.com)")
    parser.add_argument("--client", action="append", dest="clients",
                        help=f"client certificate to issue (repeat; default {', '.join(CLIENTS)})")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--force", action="store_true", help="replace an existing CA")
    args = parser.parse_args(list(argv))
    if not args.hosts:
        parser.error("give at least one --host: the name the clients connect to (the "
                     "clients check that the broker's certificate names it)")
    out: Path = args.out
    if (out / "ca.crt").exists() and not args.force:
        print(f"{out / 'ca.crt'} exists: not replacing the CA (every client would need the "
              "new ca.crt); pass --force to replace it", file=sys.stderr)
        return 1
    ca = make_ca()
    write(ca, out, "ca")
    write(issue(ca, args.hosts[0], hosts=args.hosts, server=True, days=args.days), out, "server")
    for client in args.clients or CLIENTS:
        write(issue(ca, f"occmon-{client}", server=False, days=args.days), out, client)
    print(f"wrote ca, server ({', '.join(args.hosts)}) and "
          f"{', '.join(args.clients or CLIENTS)} certificates to {out}; keep ca.key "
          "off the broker host")
    return 0
