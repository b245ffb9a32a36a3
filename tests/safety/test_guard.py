"""The command guard as a table: one request in, the refusal code (or admission) out.

No broker and no gateway: ``CommandGuard.admit`` is given bytes and a clock reading, as
``Safety.command`` gives it each MQTT request. The end-to-end refusals (fan coil untouched,
audit event stored) are in ``test_signed_commands.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.safety.commands import COMMANDS
from gateway.safety.guard import CommandGuard, Refused
from occmon import signing
from occmon.config.trust import TrustConfig
from occmon.roles import COMMAND_ROLES, ROLES, refusal
from tests.safety.commands_signed import envelope, signed

SITE = "guard-site"
NOW = 1_800_000_000.0
MAX_AGE = 30.0
SKEW = 5.0


@pytest.fixture()
def key(tmp_path: Path) -> Ed25519PrivateKey:
    private = signing.generate()
    signing.write_public(tmp_path / "verify.pub.pem", private.public_key())
    return private


def guard(tmp_path: Path, **kwargs: Any) -> CommandGuard:
    return CommandGuard(SITE, tmp_path / "verify.pub.pem", max_age=MAX_AGE,
                        trust=TrustConfig(max_future_skew=SKEW), **kwargs)


def code_of(gate: CommandGuard, payload: bytes | dict[str, Any], now: float = NOW) -> str:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    try:
        gate.admit(data, now)
    except Refused as refused:
        return refused.code
    return "admitted"


def _resigned(key: Ed25519PrivateKey, **changes: Any) -> dict[str, Any]:
    doc = envelope("override", site=SITE, sent=NOW, unit="u", mode="off", reason="r")
    doc.update(changes)
    return signing.sign(doc, key)


def _tampered(key: Ed25519PrivateKey) -> dict[str, Any]:
    doc = _resigned(key)
    doc["mode"] = "on"  # changed after signing
    return doc


ROWS: list[tuple[str, Any, str]] = [
    ("officer override, fresh", lambda k: _resigned(k), "admitted"),
    ("not JSON", lambda k: b"\xff{", "malformed"),
    ("not an object", lambda k: b"[1, 2]", "malformed"),
    ("no request id: the forged body of the issue",
     lambda k: {"command": "override", "unit": "desulf-exhaust", "mode": "off", "user": "x"},
     "malformed"),
    ("too large", lambda k: b"{" + b" " * 20_000 + b"}", "malformed"),
    ("unsigned", lambda k: envelope("override", site=SITE, sent=NOW, unit="u", mode="off"),
     "unsigned"),
    ("signed by another key", lambda k: _resigned(signing.generate()), "bad-signature"),
    ("changed after signing", _tampered, "bad-signature"),
    ("signature not base64", lambda k: {**_resigned(k), "signature": "not base64!"},
     "bad-signature"),
    ("signature a number", lambda k: {**_resigned(k), "signature": 7}, "bad-signature"),
    ("other site", lambda k: _resigned(k, site="other-site"), "wrong-site"),
    ("no site", lambda k: signing.sign({k2: v for k2, v in _resigned(k).items()
                                        if k2 not in ("site", "signature")}, k), "wrong-site"),
    ("time a string", lambda k: _resigned(k, time="2027-01-15T08:00:00Z"), "malformed"),
    ("just inside the age", lambda k: _resigned(k, time=NOW - MAX_AGE), "admitted"),
    ("older than the age", lambda k: _resigned(k, time=NOW - MAX_AGE - 0.5), "stale"),
    ("just inside the skew", lambda k: _resigned(k, time=NOW + SKEW), "admitted"),
    ("ahead beyond the skew", lambda k: _resigned(k, time=NOW + SKEW + 0.5), "clock-skew"),
    ("short nonce", lambda k: _resigned(k, nonce="abc"), "malformed"),
    ("no role", lambda k: signing.sign({k2: v for k2, v in _resigned(k).items()
                                        if k2 not in ("role", "signature")}, k), "malformed"),
    ("staff override", lambda k: _resigned(k, role="staff"), "forbidden-role"),
    ("inspector override", lambda k: _resigned(k, role="inspector"), "forbidden-role"),
    ("unknown role", lambda k: _resigned(k, role="admin"), "forbidden-role"),
    ("staff acknowledge", lambda k: signed(k, "acknowledge", site=SITE, sent=NOW,
                                           role="staff", alarm_id="p:process"), "admitted"),
    ("staff shelve", lambda k: signed(k, "shelve", site=SITE, sent=NOW, role="staff",
                                      alarm_id="p:process", until=NOW + 60), "forbidden-role"),
    ("unknown command: the engine's bad-command",
     lambda k: signed(k, "explode", site=SITE, sent=NOW), "admitted"),
]


@pytest.mark.parametrize(("case", "make", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_each_refusal_has_its_code(tmp_path: Path, key: Ed25519PrivateKey, case: str,
                                   make: Any, expected: str) -> None:
    assert code_of(guard(tmp_path), make(key)) == expected, case


def test_a_nonce_is_used_once_within_the_window_and_the_cache_stays_bounded(
        tmp_path: Path, key: Ed25519PrivateKey) -> None:
    gate = guard(tmp_path, capacity=3)
    first = _resigned(key, nonce="n" * 16)
    assert code_of(gate, first) == "admitted"
    assert code_of(gate, first) == "replay"
    # the same nonce in a newly signed command (another request id) is a replay too
    assert code_of(gate, _resigned(key, nonce="n" * 16)) == "replay"
    # a refused-for-role command still uses up its nonce: replaying it is a replay
    staff = _resigned(key, role="staff", nonce="s" * 16)
    assert code_of(gate, staff) == "forbidden-role"
    assert code_of(gate, staff) == "replay"
    assert code_of(gate, _resigned(key, nonce="t" * 16)) == "admitted"
    # three nonces held, none expired: a fourth is refused, not let in by forgetting one
    assert code_of(gate, _resigned(key, nonce="u" * 16)) == "replay-cache-full"
    # once the first three (sent at NOW) age out (NOW + 30 s), the cache makes room; the
    # old command itself is stale by then, so forgetting its nonce opens nothing
    later = NOW + MAX_AGE + 1
    assert code_of(gate, first, now=later) == "stale"
    assert code_of(gate, _resigned(key, nonce="u" * 16, time=later), now=later) == "admitted"


def test_no_verify_key_refuses_everything_logs_once_and_recovers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.safety.guard")
    gate = guard(tmp_path)  # no key file yet
    private = signing.generate()
    assert code_of(gate, signing.sign(envelope("reset", site=SITE, sent=NOW, unit="u"),
                                      private)) == "no-verify-key"
    assert code_of(gate, envelope("reset", site=SITE, sent=NOW, unit="u")) == "no-verify-key"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "refuses every operator command" in errors[0].getMessage()
    assert str(tmp_path / "verify.pub.pem") in errors[0].getMessage()
    # the key arrives: the next command is checked against it, no restart needed
    signing.write_public(tmp_path / "verify.pub.pem", private.public_key())
    assert code_of(gate, signing.sign(envelope("reset", site=SITE, sent=NOW, unit="u"),
                                      private)) == "admitted"
    null = CommandGuard(SITE, None, max_age=MAX_AGE, trust=TrustConfig())
    assert code_of(null, signing.sign(envelope("reset", site=SITE, sent=NOW, unit="u"),
                                      private)) == "no-verify-key"


def test_audit_bodies_name_the_refusal_never_the_signature_and_are_rate_limited(
        tmp_path: Path, key: Ed25519PrivateKey) -> None:
    gate = guard(tmp_path, audit_per_minute=2)
    forged = _resigned(signing.generate(), user="x" * 1000)
    with pytest.raises(Refused) as caught:
        gate.admit(json.dumps(forged).encode(), NOW)
    body = gate.audit_body(caught.value, NOW)
    assert body is not None
    assert body["code"] == "bad-signature" and body["signed"] is False
    assert body["command"] == "override" and body["unit"] == "u" and body["mode"] == "off"
    assert body["request_id"] == forged["request_id"] and body["sent"] == NOW
    assert len(body["user"]) == 200  # clipped: an attacker does not fill the queue
    assert forged["signature"] not in json.dumps(body)
    assert "signature" not in body
    # two per minute: the third and fourth are counted, and reported with the next one
    assert gate.audit_body(caught.value, NOW + 1) is not None
    assert gate.audit_body(caught.value, NOW + 2) is None
    assert gate.audit_body(caught.value, NOW + 3) is None
    later = gate.audit_body(caught.value, NOW + 61)
    assert later is not None and later["suppressed"] == 2
    answer = caught.value.answer()
    assert answer is not None
    result = json.loads(answer)
    assert result == {"v": 1, "request_id": forged["request_id"], "ok": False,
                      "error": {"code": "bad-signature", "message": str(caught.value)}}
    assert forged["signature"] not in answer.decode()


def test_one_role_table_for_api_and_gateway() -> None:
    assert set(COMMAND_ROLES) == set(COMMANDS)  # every command the gateway parses has a rule
    assert set(ROLES) == {"officer", "staff", "inspector", "worker"}  # workers command nothing
    allowed = {(r, c) for c in COMMAND_ROLES for r in ROLES if refusal(r, c) is None}
    assert allowed == {("officer", c) for c in COMMANDS} | {("staff", "acknowledge")}
