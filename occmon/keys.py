"""``occmon keys init CONFIG``: the API's command-signing key pair and the site's ledger key
pair, where ``security:`` says.

Run it where the API runs; copy the public key (never the private one) to the path the
gateway's config names as ``security.verify_key``. ``occmon run`` (everything on one box)
does the same by itself at start, so the demo needs no setup. Existing keys are kept: to
replace a pair, delete both files and run it again, then copy the new public key to every
gateway (until then they refuse the API's commands with ``bad-signature``).

The ledger key pair (``security.ledger_key``, ``ledger_verify_key``) seals day closes and
signatures (docs/records.md). Keep it: a replaced ledger key makes every earlier seal fail
verification against the new public key, so inspectors must be told the new fingerprint
(and keep the old public key to check the older part of the ledger).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from occmon import signing
from occmon.config import ConfigError, SiteConfig, load

log = logging.getLogger(__name__)

USAGE = "usage: occmon keys init CONFIG"


def ensure(config: SiteConfig) -> str:
    """Make the configured key files that are missing; what was done, or why nothing."""
    security = config.security
    if security.signing_key is None or security.verify_key is None:
        return "security.signing_key or security.verify_key is null: nothing to make"
    done = signing.ensure_key_pair(security.signing_key, security.verify_key)
    key = signing.load_public(security.verify_key)
    return (f"{done}: signing key {security.signing_key} (mode 0600), verify key "
            f"{security.verify_key}, fingerprint {signing.fingerprint(key)}")


def ensure_ledger(config: SiteConfig) -> str:
    """Make the site's ledger key files that are missing; what was done, or why nothing."""
    security = config.security
    if security.ledger_key is None or security.ledger_verify_key is None:
        return ("security.ledger_key or security.ledger_verify_key is null: nothing to make "
                "(day closes will be unsigned)")
    done = signing.ensure_key_pair(security.ledger_key, security.ledger_verify_key)
    key = signing.load_public(security.ledger_verify_key)
    return (f"{done}: ledger key {security.ledger_key} (mode 0600), ledger verify key "
            f"{security.ledger_verify_key}, fingerprint {signing.fingerprint(key)}")


def ledger_signing_key(config: SiteConfig) -> Ed25519PrivateKey | None:
    """The key that seals day closes and signatures; None (logged) when there is none:
    the close is then written unsigned, and ``records verify`` names it."""
    path = config.security.ledger_key
    if path is None:
        return None
    try:
        return signing.load_private(path)
    except signing.KeyFileError as exc:
        log.error("ledger key: %s; day closes are written unsigned (run occmon keys init)",
                  exc)
        return None


def ledger_verify_key(config: SiteConfig,
                      override: Path | None = None) -> Ed25519PublicKey | None:
    """The public key seals are checked with: ``override`` (an inspector's own copy), else
    ``security.ledger_verify_key``, else the public half of ``security.ledger_key``.
    Raises ``KeyFileError`` only for an ``override`` that cannot be read."""
    if override is not None:
        return signing.load_public(override)
    security = config.security
    if security.ledger_verify_key is not None and security.ledger_verify_key.exists():
        try:
            return signing.load_public(security.ledger_verify_key)
        except signing.KeyFileError as exc:
            log.error("ledger verify key: %s", exc)
    private = ledger_signing_key(config) if security.ledger_key is not None and \
        security.ledger_key.exists() else None
    return None if private is None else private.public_key()


def ensure_for_run(config: SiteConfig) -> None:
    """``occmon run``: make missing keys; a problem is logged, and the gateway then refuses
    operator commands (it fails closed) while the interlock runs on; without a ledger key
    day closes are written unsigned (``records verify`` names them)."""
    try:
        log.info("command keys: %s", ensure(config))
    except (signing.KeyFileError, OSError) as exc:
        log.error("command keys: %s; operator commands will be refused", exc)
    try:
        log.info("ledger keys: %s", ensure_ledger(config))
    except (signing.KeyFileError, OSError) as exc:
        log.error("ledger keys: %s; day closes will be unsigned", exc)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "init":
        print(USAGE, file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="occmon keys init")
    parser.add_argument("config", type=Path, help="site configuration (YAML)")
    args = parser.parse_args(argv[1:])
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    status = 0
    for make in (ensure, ensure_ledger):
        try:
            print(make(config))
        except (signing.KeyFileError, OSError) as exc:
            print(f"occmon keys init: {exc}", file=sys.stderr)
            status = 1
    return status
