"""``broker.tls``: TLS from every occmon MQTT client to the broker.

Plants reach head office's broker over a WAN: without TLS the readings, the alarm events,
the signed operator commands and the broker passwords all cross it in clear, and anyone on
the path can read them or pose as the broker. With ``broker.tls`` every occmon client
(gateway, ingest, API, heartbeats, annunciator pushes; occmon/mqttclient.py) checks the
broker's certificate against ``ca_file`` and its host name against ``broker.host``, speaks
TLS 1.2 or later only, and shows its own client certificate when the broker asks for one.

Files are checked at load, not at the first connect: each must exist and be readable, the
CA must parse, the key must match the certificate and must not be encrypted (a service has
nobody to type a passphrase). Skipping the host-name check is an explicit, logged opt-out
(``insecure_skip_hostname: true``) for a broker reached by an address its certificate does
not name; the chain is still checked against ``ca_file``.
"""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

log = logging.getLogger("occmon.tls")

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class EncryptedKey(ValueError):
    """The key file asks for a passphrase; a service cannot type one."""


def _no_passphrase() -> str:
    raise EncryptedKey("encrypted")


class BrokerTls(BaseModel):
    """``broker.tls``; paths are relative to the working directory, like ``store.path``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the broker's certificate; "
        "absent: the system's trusted CAs (a broker with a public certificate)")
    cert_file: Path | None = Field(
        default=None, description="PEM client certificate, for a broker that requires one")
    key_file: Path | None = Field(
        default=None, description="PEM private key of cert_file (unencrypted, mode 0600)")
    insecure_skip_hostname: bool = Field(
        default=False, strict=True,  # an explicit YAML true, never a string that looks like one
        description="do not check that the broker's certificate names broker.host; "
        "anyone holding any certificate of the CA can then pose as the broker")
    # built once, at load: a file moved or broken later cannot stop a client reconnecting
    # (a new certificate takes a restart)
    _context: ssl.SSLContext | None = PrivateAttr(default=None)

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is None:
            return None
        if not path.is_file():
            raise ValueError(f"{path} does not exist or is not a file; give the path of the "
                             "PEM file (relative paths start at the working directory)")
        if not os.access(path, os.R_OK):
            raise ValueError(f"{path} is not readable by this user; give the service user "
                             "read access (chmod/chown)")
        return path

    @model_validator(mode="after")
    def _usable(self) -> BrokerTls:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file is set without cert_file; add cert_file (the client "
                             "certificate of this key) or remove key_file")
        try:
            context = self._verifying()
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"ca_file {self.ca_file}: not a usable PEM CA certificate "
                             f"({exc}); give the CA that signed the broker's "
                             "certificate") from None
        try:
            self._context = self._identify(context)
        except EncryptedKey:
            raise ValueError(f"key_file {self.key_file or self.cert_file} is encrypted; "
                             "give an unencrypted key readable only by the service user "
                             "(openssl pkey -in KEY -out KEY.plain)") from None
        except (ssl.SSLError, OSError) as exc:
            if self.key_file is None:
                raise ValueError(f"cert_file {self.cert_file} holds no private key ({exc}); "
                                 "add key_file, the key of this certificate") from None
            raise ValueError(f"cert_file {self.cert_file} / key_file {self.key_file}: "
                             f"cannot be used ({exc}); give the PEM client certificate and "
                             "its own private key") from None
        return self

    def context(self) -> ssl.SSLContext:
        """A client context: chain checked against ``ca_file``, host name checked unless
        opted out, TLS 1.2 or later, the client certificate loaded when given."""
        if self._context is None:
            self._context = self._identify(self._verifying())
        return self._context

    def _verifying(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file) if self.ca_file else None)
        context.minimum_version = MINIMUM_VERSION
        context.check_hostname = not self.insecure_skip_hostname
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def _identify(self, context: ssl.SSLContext) -> ssl.SSLContext:
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file, password=_no_passphrase)
        return context
