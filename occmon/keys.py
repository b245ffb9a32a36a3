"""``occmon keys init CONFIG``: the API's command-signing key pair, where ``security:`` says.

Run it where the API runs; copy the public key (never the private one) to the path the
gateway's config names as ``security.verify_key``. ``occmon run`` (everything on one box)
does the same by itself at start, so the demo needs no setup. Existing keys are kept: to
replace a pair, delete both files and run it again, then copy the new public key to every
gateway (until then they refuse the API's commands with ``bad-signature``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

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


def ensure_for_run(config: SiteConfig) -> None:
    """``occmon run``: make missing keys; a problem is logged, and the gateway then refuses
    operator commands (it fails closed) while the interlock runs on."""
    try:
        log.info("command keys: %s", ensure(config))
    except (signing.KeyFileError, OSError) as exc:
        log.error("command keys: %s; operator commands will be refused", exc)


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
    try:
        print(ensure(config))
    except (signing.KeyFileError, OSError) as exc:
        print(f"occmon keys init: {exc}", file=sys.stderr)
        return 1
    return 0
