"""occmon.signing and the key files: canonical form, signatures, modes, ``occmon keys init``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from occmon import signing
from occmon.config import load
from occmon.keys import ensure_for_run
from tests.safety.rig import write_config

ROOT = Path(__file__).resolve().parents[2]
DOC = {"v": 1, "request_id": "r1", "command": "override", "unit": "desulf-exhaust",
       "mode": "off", "user": "王工", "reason": "belt guard open", "site": "s", "role": "officer",
       "principal": "officer", "time": 1795486046.206, "nonce": "0123456789abcdef"}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_canonical_form_ignores_key_order_whitespace_and_the_signature() -> None:
    shuffled = json.loads(json.dumps(dict(reversed(list(DOC.items()))), indent=2))
    assert signing.canonical(shuffled) == signing.canonical(DOC)
    assert signing.canonical({**DOC, "signature": "x"}) == signing.canonical(DOC)
    text = signing.canonical(DOC).decode("utf-8")
    assert text.startswith('{"command":"override","mode":"off","nonce":')
    assert "王工" in text and " " not in text.replace("belt guard open", "")
    with pytest.raises(ValueError):
        signing.canonical({**DOC, "time": float("nan")})


def test_a_signature_covers_every_field_and_only_its_key_verifies() -> None:
    key = signing.generate()
    doc = signing.sign(DOC, key)
    assert len(doc["signature"]) == 88  # base64 of 64 bytes
    assert signing.verify(doc, key.public_key())
    # parsed back from the wire with other whitespace and order: still valid
    assert signing.verify(json.loads(json.dumps(doc, indent=1, sort_keys=True)),
                          key.public_key())
    assert not signing.verify(doc, signing.generate().public_key())
    for name, value in DOC.items():
        changed = {**doc, name: f"{value}x" if isinstance(value, str) else value + 1}
        assert not signing.verify(changed, key.public_key()), name
    assert not signing.verify({**doc, "extra": 1}, key.public_key())
    assert not signing.verify({k: v for k, v in doc.items() if k != "unit"}, key.public_key())
    assert not signing.verify(DOC, key.public_key())  # unsigned
    assert not signing.verify({**doc, "signature": doc["signature"][:-4]}, key.public_key())


def test_key_files_private_0600_refused_when_open_and_pairs_checked(tmp_path: Path) -> None:
    private, public = tmp_path / "k" / "signing.pem", tmp_path / "k" / "verify.pub.pem"
    assert signing.ensure_key_pair(private, public) == "created"
    assert mode_of(private) == 0o600 and mode_of(public) == 0o644
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    key = signing.load_private(private)
    assert signing.fingerprint(signing.load_public(public)) == signing.fingerprint(
        key.public_key())
    assert signing.ensure_key_pair(private, public) == "present"
    assert signing.load_private(private).private_bytes_raw() == key.private_bytes_raw()
    public.unlink()
    assert signing.ensure_key_pair(private, public) == "public-written"
    # a public key of another pair: every command would fail, so say so
    signing.write_public(public, signing.generate().public_key())
    with pytest.raises(signing.KeyFileError, match="is not the public half"):
        signing.ensure_key_pair(private, public)
    os.chmod(private, 0o644)
    with pytest.raises(signing.KeyFileError, match=r"mode 0644\): run chmod 600"):
        signing.load_private(private)
    with pytest.raises(signing.KeyFileError, match="does not exist"):
        signing.load_public(tmp_path / "nope.pem")
    with pytest.raises(signing.KeyFileError, match="not a PEM public key"):
        signing.load_public(private)  # a private key where the public one belongs


def _config(tmp_path: Path) -> Path:
    from tests.safety.rig import site_doc

    doc = site_doc(tmp_path, 1883)
    doc["security"] = {"signing_key": str(tmp_path / "new" / "api.pem"),
                       "verify_key": str(tmp_path / "new" / "gw.pub.pem"),
                       "ledger_key": str(tmp_path / "new" / "ledger.pem"),
                       "ledger_verify_key": str(tmp_path / "new" / "ledger.pub.pem")}
    return write_config(tmp_path, doc)


def test_occmon_keys_init_writes_the_pair_once(tmp_path: Path) -> None:
    config = _config(tmp_path)
    run = [sys.executable, "-m", "occmon.cli", "keys", "init", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created: ")
    private = tmp_path / "new" / "api.pem"
    assert mode_of(private) == 0o600
    fingerprint = signing.fingerprint(signing.load_private(private).public_key())
    assert fingerprint in first.stdout
    again = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env)
    assert again.returncode == 0 and again.stdout.startswith("present: ")
    assert fingerprint in again.stdout
    usage = subprocess.run(run[:4], capture_output=True, text=True, timeout=60, env=env)
    assert usage.returncode == 2 and "occmon keys init CONFIG" in usage.stderr


def test_occmon_run_makes_missing_keys_under_var(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The default paths are relative: ``var/keys/`` of the directory run starts in."""
    demo = yaml.safe_load((ROOT / "examples" / "demo-plant.yaml").read_text(encoding="utf-8"))
    assert "security" not in demo  # `make run` needs no key setup
    monkeypatch.chdir(tmp_path)
    config = load(write_config(tmp_path, demo))
    ensure_for_run(config)
    private = tmp_path / "var" / "keys" / "command-signing.pem"
    assert mode_of(private) == 0o600
    public = signing.load_public(tmp_path / "var" / "keys" / "command-verify.pub.pem")
    assert signing.fingerprint(public) == signing.fingerprint(
        signing.load_private(private).public_key())
