"""Ed25519 signatures over operator commands: canonical JSON, sign, verify, key files.

The API signs every command it sends to a gateway; the gateway verifies it with the API's
public key (docs/topics.md, "Operator commands"). Ed25519 and not a shared HMAC secret: a
gateway holds only the public key, so a leaked edge-box disk or config lets nobody forge
a command (with HMAC the gateway's copy of the secret would sign as well as it verifies),
and one API key pair serves any number of sites without a secret per site to distribute.

What is signed is the *parsed* command object, serialised canonically (keys sorted, no
whitespace, UTF-8, the ``signature`` member left out): what the gateway verifies is exactly
what it then acts on, whatever whitespace, key order or duplicate keys were on the wire.

Pure apart from the key-file helpers at the end, which are the only I/O here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # cryptography is imported where a key is used: the gateway, which
    # imports this module for its command guard, then pays nothing (~6 MB of memory) on a
    # site that never receives a command
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNATURE = "signature"  # the member that carries the signature; never part of what is signed
SIGNATURE_BYTES = 64


class KeyFileError(Exception):
    """A key file that is missing, unreadable, not an Ed25519 key, or too open."""


def canonical(doc: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: ``doc`` without ``signature``, keys sorted, compact.

    Raises ``ValueError`` for what JSON cannot carry exactly (NaN, infinities)."""
    body = {k: v for k, v in doc.items() if k != SIGNATURE}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sign(doc: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``doc`` with its ``signature`` (base64 of the 64-byte Ed25519 signature) added."""
    signature = key.sign(canonical(doc))
    return {**doc, SIGNATURE: base64.b64encode(signature).decode("ascii")}


def verify(doc: Mapping[str, Any], key: Ed25519PublicKey) -> bool:
    """True if ``doc[signature]`` is ``key``'s signature of ``canonical(doc)``; never raises."""
    text = doc.get(SIGNATURE)
    if not isinstance(text, str):
        return False
    try:
        signature = base64.b64decode(text, validate=True)
        data = canonical(doc)
    except (binascii.Error, ValueError, TypeError):
        return False
    if len(signature) != SIGNATURE_BYTES:
        return False
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short name for a public key in messages and logs: SHA-256 of its raw bytes, 16 hex."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# -- key files (the only I/O) ----------------------------------------------------------------
def generate() -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically (temp file + rename) with ``mode`` from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # an older temp file keeps its mode otherwise
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_private(path: Path, key: Ed25519PrivateKey) -> None:
    """PKCS#8 PEM, unencrypted, mode 0600 (the file's permissions are its protection)."""
    from cryptography.hazmat.primitives import serialization

    _write(path, key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()), 0o600)


def write_public(path: Path, key: Ed25519PublicKey) -> None:
    """SubjectPublicKeyInfo PEM, mode 0644: a public key is no secret."""
    from cryptography.hazmat.primitives import serialization

    _write(path, key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"{what} {path} cannot be read: {exc.strerror}") from None


def load_private(path: Path) -> Ed25519PrivateKey:
    """The signing key; refused if group or others may read it (as ssh refuses)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read(path, "signing key")
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        raise KeyFileError(f"signing key {path} is open to other users (mode {mode:04o}): "
                           f"run chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"signing key {path} is not an unencrypted PEM private key: "
                           f"{exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"signing key {path} is a {type(key).__name__}, not Ed25519")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    data = _read(path, "verify key")  # a site without a key never loads cryptography
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"verify key {path} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"verify key {path} is a {type(key).__name__}, not Ed25519")
    return key


def ensure_key_pair(private: Path, public: Path) -> str:
    """Make what is missing: a new pair if there is no private key (a stray public key is
    replaced), else the public key from the private one. Returns what was done:
    ``created``, ``public-written`` or ``present``. A pair that does not match raises."""
    if not private.exists():
        key = generate()
        write_private(private, key)
        write_public(public, key.public_key())
        return "created"
    signing = load_private(private)
    if not public.exists():
        write_public(public, signing.public_key())
        return "public-written"
    have, want = fingerprint(load_public(public)), fingerprint(signing.public_key())
    if have != want:
        raise KeyFileError(f"verify key {public} (fingerprint {have}) is not the public half "
                           f"of signing key {private} ({want}): every command would be "
                           f"refused; delete {public} to write it again")
    return "present"
