"""The ``security:`` section: where the command-signing keys are, and how long a command lives.

The API signs every operator command with its Ed25519 private key (``signing_key``); the
gateway verifies with its copy of the public key (``verify_key``) and refuses anything
unsigned, forged, replayed or older than ``max_command_age`` (docs/alarms.md). On a single
box (``occmon run``) both files sit under ``var/keys/`` and are made on first start; for a
split deployment run ``occmon keys init CONFIG`` where the API runs and copy the public key
to the gateway. A gateway without a readable verify key refuses every command.

The site's *ledger* key pair is separate (``ledger_key``, ``ledger_verify_key``): it seals
day closes and signatures in the records ledger (docs/records.md), so the key that may
command a ventilation unit is not the one that vouches for the compliance record, and
either can be replaced without the other. Made by ``occmon keys init`` and ``occmon run``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class SecurityConfig(BaseModel):
    """``security:`` in the site file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signing_key: Path | None = Field(
        default=Path("var/keys/command-signing.pem"),
        description="the API's Ed25519 private key (PEM, mode 0600); null on a gateway box")
    verify_key: Path | None = Field(
        default=Path("var/keys/command-verify.pub.pem"),
        description="the gateway's copy of the API's public key (PEM); null: refuse all")
    max_command_age: float = Field(
        default=30.0, ge=1, le=600,
        description="seconds after its signed time a command is still executed")
    ledger_key: Path | None = Field(
        default=Path("var/keys/ledger-signing.pem"),
        description="the site's Ed25519 ledger key (PEM, mode 0600): seals day closes and "
                    "signatures; null: closes are written unsigned (verify warns)")
    ledger_verify_key: Path | None = Field(
        default=Path("var/keys/ledger-verify.pub.pem"),
        description="the ledger key's public half (PEM), what `occmon records verify` checks "
                    "seals with; give inspectors this file")
