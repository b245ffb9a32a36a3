"""The gate in front of the alarm engine and the interlock: only the API's signed commands pass.

Anyone who can publish on ``commands/request`` could otherwise acknowledge, shelve or take
an alarm out of service, or force an accident fan off during a leak. ``CommandGuard.admit``
lets a command through only if it is

1. a JSON object with a ``request_id`` (else ``malformed``: no answer can be addressed);
2. checked against a verify key at all (``no-verify-key``: without one, every command is
   refused: the gateway fails closed, and says so loudly once);
3. signed (``unsigned``) with the API's Ed25519 key over its canonical form
   (``bad-signature``; ``occmon.signing``);
4. for this site (``wrong-site``), with a time neither ahead of the gateway's clock by more
   than ``trust.max_future_skew`` (``clock-skew``) nor older than
   ``security.max_command_age`` (``stale``), and the envelope complete (``malformed``);
5. new: its nonce not seen within the age window (``replay``; the cache holds at most
   ``REPLAY_CAPACITY`` nonces and refuses, ``replay-cache-full``, rather than forget one
   that could still be replayed);
6. within the signed role's rights (``forbidden-role``; the table in ``occmon.roles``).

A refusal raises ``Refused``: the caller changes nothing, counts it, answers it on
``commands/result`` and commits ``audit_body`` to ``events/audit``. Audit events are
rate-limited (``AUDIT_PER_MINUTE``) so that a flood of forged commands cannot fill the
gateway's never-dropped queue; the ones left out are counted and reported with the next.
Nothing here logs or records a signature.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.safety.commands import result_payload
from occmon import signing
from occmon.config.schema import SiteConfig
from occmon.config.trust import TrustConfig
from occmon.plausibility import Implausible, check_time
from occmon.roles import COMMAND_ROLES, ROLES, refusal

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger(__name__)

AUDIT = "audit"  # events/audit: refused operator commands
MAX_PAYLOAD = 16_384  # bytes; the API's commands are a few hundred
REPLAY_CAPACITY = 10_000  # nonces; at 30 s of age that is 333 commands a second
AUDIT_PER_MINUTE = 60
NONCE_LENGTH = (16, 128)
TEXT_LIMIT = 200  # characters of any field copied into an audit event

# the envelope's fields copied into an audit event (never ``signature``)
AUDIT_FIELDS = ("request_id", "command", "user", "role", "principal", "alarm_id", "unit",
                "mode", "nonce")


class Refused(Exception):
    """A command the guard does not let through; ``code`` is the answer's error code."""

    def __init__(self, code: str, message: str, doc: dict[str, Any] | None = None,
                 signed: bool = False) -> None:
        super().__init__(message)
        self.code, self.doc, self.signed = code, doc or {}, signed

    @property
    def request_id(self) -> str | None:
        value = self.doc.get("request_id")
        return value if isinstance(value, str) and value else None

    def answer(self) -> bytes | None:
        """The ``commands/result`` body, or None when there is no request id to answer."""
        if self.request_id is None:
            return None
        return result_payload(self.request_id, code=self.code, message=str(self))


def _clip(value: Any) -> Any:
    if isinstance(value, str):
        return value[:TEXT_LIMIT]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    return _clip(repr(value))


class CommandGuard:
    """Signature, freshness, replay and role checks for one gateway. Event-loop only."""

    def __init__(self, site: str, verify_key: Path | None, *, max_age: float,
                 trust: TrustConfig, capacity: int = REPLAY_CAPACITY,
                 audit_per_minute: int = AUDIT_PER_MINUTE) -> None:
        self.site, self.max_age, self.trust = site, max_age, trust
        self._path = verify_key
        self._key: Ed25519PublicKey | None = None
        self._complained = False
        self._capacity = capacity
        self._expiry: dict[str, float] = {}  # nonce -> when it would be stale anyway
        self._heap: list[tuple[float, str]] = []
        self._audit_per_minute = audit_per_minute
        self._window = (-math.inf, 0)  # (start, audit events in it)
        self.suppressed = 0
        self.key()  # say at start-up, not at the first command, that commands are refused

    @classmethod
    def from_config(cls, config: SiteConfig) -> CommandGuard:
        return cls(config.site.id, config.security.verify_key,
                   max_age=config.security.max_command_age, trust=config.trust)

    def key(self) -> Ed25519PublicKey | None:
        """The verify key, loaded on first use and retried while missing (logged once)."""
        if self._key is not None:
            return self._key
        if self._path is None:
            problem = "security.verify_key is null"
        else:
            try:
                self._key = signing.load_public(self._path)
            except signing.KeyFileError as exc:
                problem = str(exc)
            else:
                log.info("operator commands verified with key %s from %s",
                         signing.fingerprint(self._key), self._path)
                self._complained = False
                return self._key
        if not self._complained:
            self._complained = True
            log.error("NO COMMAND VERIFY KEY (%s): the gateway refuses every operator command "
                      "(no-verify-key) until the API's public key is there; the interlock "
                      "runs on. Run `occmon keys init CONFIG` where the API runs and copy "
                      "its public key to security.verify_key.", problem)
        return None

    # -- the checks -----------------------------------------------------------------------
    def admit(self, payload: bytes, now: float) -> dict[str, Any]:
        """The verified command object, or ``Refused``. Remembers its nonce."""
        doc = self._object(payload)
        key = self.key()
        if key is None:
            raise Refused("no-verify-key", "this gateway has no verify key for operator "
                          "commands and refuses them all (security.verify_key)", doc)
        if signing.SIGNATURE not in doc:
            raise Refused("unsigned", "command is not signed: only the API's signed "
                          "commands are executed", doc)
        if not signing.verify(doc, key):
            raise Refused("bad-signature", "signature does not verify with this gateway's "
                          f"key {signing.fingerprint(key)}", doc)
        if doc.get("site") != self.site:
            raise Refused("wrong-site", f"command is for site {_clip(doc.get('site'))!r}, "
                          f"this gateway is {self.site!r}", doc, signed=True)
        sent = doc.get("time")
        if isinstance(sent, bool) or not isinstance(sent, int | float):
            raise Refused("malformed", "field 'time' must be epoch seconds", doc, signed=True)
        try:
            check_time(float(sent), now, self.trust)
        except Implausible as exc:
            raise Refused(exc.code, f"command {exc}", doc, signed=True) from None
        age = now - sent
        if age > self.max_age:
            raise Refused("stale", f"command was signed {age:.1f} s ago, more than "
                          f"security.max_command_age = {self.max_age:g} s", doc, signed=True)
        nonce, role = doc.get("nonce"), doc.get("role")
        low, high = NONCE_LENGTH
        if not isinstance(nonce, str) or not low <= len(nonce) <= high:
            raise Refused("malformed", f"field 'nonce' must be a string of {low}..{high} "
                          "characters", doc, signed=True)
        if not isinstance(role, str):
            raise Refused("malformed", "field 'role' must be a string", doc, signed=True)
        self._remember(nonce, float(sent) + self.max_age, now, doc)
        command = doc.get("command")
        known = isinstance(command, str) and command in COMMAND_ROLES
        # an unknown command is the engine's ``bad-command``, unless the role is unknown too
        why = refusal(role, str(command)) if known or role not in ROLES else None
        if why is not None:
            raise Refused("forbidden-role", why, doc, signed=True)
        return doc

    @staticmethod
    def _object(payload: bytes) -> dict[str, Any]:
        if len(payload) > MAX_PAYLOAD:
            raise Refused("malformed", f"command of {len(payload)} bytes (at most "
                          f"{MAX_PAYLOAD})")
        try:
            doc = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise Refused("malformed", "command is not UTF-8 JSON") from None
        if not isinstance(doc, dict):
            raise Refused("malformed", "command is not a JSON object")
        request_id = doc.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise Refused("malformed", "command has no 'request_id'", doc)
        return doc

    def _remember(self, nonce: str, expires: float, now: float, doc: dict[str, Any]) -> None:
        while self._heap and self._heap[0][0] < now:
            _, old = heapq.heappop(self._heap)
            self._expiry.pop(old, None)
        if nonce in self._expiry:
            raise Refused("replay", "this command's nonce was already used: a command is "
                          "executed once", doc, signed=True)
        if len(self._expiry) >= self._capacity:
            raise Refused("replay-cache-full", f"{self._capacity} commands within "
                          f"{self.max_age:g} s: refused until older ones age out", doc,
                          signed=True)
        self._expiry[nonce] = expires
        heapq.heappush(self._heap, (expires, nonce))

    # -- the audit record -----------------------------------------------------------------
    def audit_body(self, refused: Refused, now: float) -> dict[str, Any] | None:
        """The ``events/audit`` body of a refusal, or None past the per-minute budget."""
        start, count = self._window
        if now - start >= 60.0:
            start, count = now, 0
        if count >= self._audit_per_minute:
            self._window = (start, count)
            self.suppressed += 1
            return None
        self._window = (start, count + 1)
        body: dict[str, Any] = {
            "event": "command-refused", "code": refused.code, "message": str(refused),
            "time": now, "signed": refused.signed}
        for name in AUDIT_FIELDS:
            if name in refused.doc:
                body[name] = _clip(refused.doc[name])
        if "time" in refused.doc:
            body["sent"] = _clip(refused.doc["time"])
        if "site" in refused.doc:  # the claimed one; the event's own ``site`` is this gateway's
            body["for_site"] = _clip(refused.doc["site"])
        if self.suppressed:
            body["suppressed"] = self.suppressed  # refusals not audited since the last one
            self.suppressed = 0
        log.warning("operator command refused (%s): %s [request %s, %s by %s]", refused.code,
                    refused, body.get("request_id"), body.get("command"), body.get("user"))
        return body
