"""The trust list: which OPC UA servers the gateway accepts, by certificate.

Pinning one ``server_certificate`` names one server; a trust list names the certificate
authorities (or the servers' own certificates) the site trusts, so a panel whose certificate
is renewed by the plant's CA keeps working and any other is refused. It is checked on every
session, against the certificate the server presents in CreateSession, by asyncua's
``CertificateValidator`` with the OPC UA Part 4 6.1.3 checks: validity period, the
application URI in the certificate's SubjectAltName equal to the server's, key usage and
extended key usage (serverAuth), and the chain up to a trusted certificate. A server that
fails is refused before any value is read: the device is offline with reason
``opcua-bad:BadCertificateUntrusted`` (or ``...UriInvalid``, ``...TimeInvalid``,
``...UseNotAllowed``, ``...Invalid``), counted ``opcua.<device>.untrusted``, and the log
line names the certificate (subject and SHA-256 fingerprint) and the trust list.

The files are read again at each connect, so a certificate added to a trust directory is
used from the next reconnect on, without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes

SUFFIXES = (".der", ".pem", ".crt", ".cer")
OPTIONS = (CertificateValidatorOptions.TRUSTED_VALIDATION
           | CertificateValidatorOptions.PEER_SERVER)


class TrustListError(Exception):
    """The trust list cannot be read, or holds no certificate."""


def certificate_files(paths: Sequence[Path]) -> list[Path]:
    """The certificate files of the trust list: each path a file, or a directory whose
    ``*.der``, ``*.pem``, ``*.crt`` and ``*.cer`` files are read (not its subdirectories)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            files.append(path)
    return files


def read_certificate(path: Path) -> x509.Certificate:
    """A PEM or DER certificate; TrustListError naming the file otherwise."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrustListError(f"trust list: cannot read {path}: {exc.strerror or exc}") from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise TrustListError(f"trust list: {path} is not a PEM or DER certificate") from None


def load(paths: Sequence[Path]) -> list[x509.Certificate]:
    """Every certificate of the trust list; TrustListError if one is unreadable or none."""
    certificates = [read_certificate(p) for p in certificate_files(paths)]
    if not certificates:
        shown = ", ".join(str(p) for p in paths)
        raise TrustListError(f"trust list {shown} holds no certificate (*.der, *.pem, *.crt, "
                             "*.cer)")
    return certificates


def describe(certificate: x509.Certificate) -> str:
    """Subject and SHA-256 fingerprint, as an operator compares them with the panel's."""
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    return f"{certificate.subject.rfc4514_string()} (SHA-256 {fingerprint})"


class _Store(TrustStore):
    """asyncua's TrustStore over certificates already read (files and directories alike)."""

    def __init__(self, certificates: list[x509.Certificate]) -> None:
        super().__init__([], [])
        self._certificates = certificates

    async def load_trust(self) -> None:
        self._trust_store = x509.verification.Store(self._certificates)


class TrustValidator:
    """The client's ``certificate_validator``: asyncua's checks against the trust list; a
    refusal is remembered (``refusal``) for the hub's log line, then raised as asyncua
    expects (a ServiceError, which it turns into UaStatusCodeError)."""

    def __init__(self, paths: Sequence[Path], certificates: list[x509.Certificate]) -> None:
        self.paths = list(paths)
        self._store = _Store(certificates)
        self._validator = CertificateValidator(OPTIONS, self._store)
        self.refusal: str | None = None

    @classmethod
    async def from_paths(cls, paths: Sequence[Path]) -> TrustValidator:
        """Read the trust list (off the event loop: files) and build the validator."""
        validator = cls(paths, await asyncio.to_thread(load, paths))
        await validator._store.load()
        return validator

    async def __call__(self, certificate: x509.Certificate,
                       server: ua.ApplicationDescription) -> None:
        try:
            await self._validator.validate(certificate, server)
        except ServiceError as exc:
            name = ua.StatusCode(ua.UInt32(exc.code)).name
            shown = ", ".join(str(p) for p in self.paths)
            self.refusal = (f"server certificate {describe(certificate)} refused: {name} "
                            f"(trust list {shown}; server URI {server.ApplicationUri})")
            raise
