"""Ledger anchors: signed (seq, hash) pairs kept outside the site, so a truncated or rebuilt
ledger can be caught later.

A hash chain proves that nothing inside it changed, not that its tail is all there: delete
the last entries (and their projection rows) and what is left is a valid, shorter chain. An
anchor is a copy of a head taken earlier: ``{site, day, seq, sha256}`` signed with the
site's ledger key. ``export`` makes one per closed day (the day's last close or signature
entry) and one for the current head; an inspector or the compliance archive keeps the file
(``occmon records anchor export``, ``GET /api/v1/ledger/anchors``). ``check`` holds a ledger
against such a file: an anchor whose seq is beyond the ledger's head means the tail was cut;
one whose hash differs from the entry at its seq means the ledger was rebuilt.

The file carries the public key; ``check`` also compares it with the key the verifier
trusts (the site's ``ledger_verify_key`` or an inspector's own copy), so anchors re-signed
with a new key made after the fact do not pass.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ingest.daily.verification import Finding
from occmon import ledger, signing

WHAT = "occmon-ledger-anchor"
FILE_WHAT = "occmon-ledger-anchors"


class AnchorError(ValueError):
    """An anchor file that cannot be read or is not an anchor file (bad input: exit 2)."""


def anchor(key: Ed25519PrivateKey, site: str, day: str | None, seq: int, sha256: str,
           now: float) -> dict[str, Any]:
    """One signed anchor; ``day`` None for the head at ``now``."""
    return signing.sign({"v": 1, "what": WHAT, "site": site, "day": day, "seq": seq,
                         "sha256": sha256, "time": now}, key)


def export(conn: sqlite3.Connection, key: Ed25519PrivateKey, site: str,
           now: float) -> dict[str, Any]:
    """Every closed day's anchor (its last day-close or signature entry) and the head's."""
    rows = conn.execute(
        "SELECT l.day, l.seq, l.entry_sha256 FROM ledger l JOIN (SELECT day, MAX(seq) AS seq "
        "FROM ledger WHERE kind IN ('day-close', 'signature') GROUP BY day) d "
        "ON l.seq = d.seq ORDER BY l.seq").fetchall()
    head_seq, head_sha = ledger.head(conn)
    public = key.public_key()
    return {
        "v": 1, "what": FILE_WHAT, "site": site, "exported_at": now,
        "fingerprint": signing.fingerprint(public),
        "public_key": public.public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo
                                          ).decode("ascii"),
        "head": anchor(key, site, None, head_seq, head_sha, now),
        "anchors": [anchor(key, site, str(day), int(seq), str(sha), now)
                    for day, seq, sha in rows],
    }


def load(source: str, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> dict[str, Any]:
    """An anchor file from a path or an http(s) URL."""
    try:
        if source.startswith(("http://", "https://")):
            request = urllib.request.Request(source, headers=headers or {})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8")
        else:
            text = Path(source).read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, urllib.error.URLError) as exc:
        raise AnchorError(f"anchor file {source} cannot be read: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnchorError(f"anchor file {source} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("what") != FILE_WHAT:
        raise AnchorError(f"anchor file {source} is not an occmon anchor file "
                          f"(what = {FILE_WHAT!r}): write one with occmon records anchor "
                          "export")
    return doc


def _public(doc: dict[str, Any]) -> Ed25519PublicKey | None:
    try:
        key = serialization.load_pem_public_key(str(doc.get("public_key", "")).encode())
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def check(conn: sqlite3.Connection, doc: dict[str, Any], trusted: Ed25519PublicKey | None,
          source: str = "anchor file") -> list[Finding]:
    """Hold the ledger against the anchors of ``doc``; one finding per anchor that fails."""
    out: list[Finding] = []
    key = _public(doc)
    if key is None:
        return [Finding("anchor", source, "bad-anchor", "the file's public_key is not an "
                        "Ed25519 PEM public key")]
    fp = signing.fingerprint(key)
    if trusted is not None and signing.fingerprint(trusted) != fp:
        out.append(Finding("anchor", source, "bad-signature",
                           f"anchors signed by key {fp}, but the site's ledger key is "
                           f"{signing.fingerprint(trusted)}: the key was replaced since"))
    try:
        head_seq, _ = ledger.head(conn)
    except sqlite3.Error as exc:
        return [*out, Finding("anchor", source, "unreadable", f"no ledger to hold: {exc}")]
    items = [a for a in [doc.get("head"), *(doc.get("anchors") or [])] if a is not None]
    for a in items:
        if not isinstance(a, dict):
            out.append(Finding("anchor", source, "bad-anchor", f"not an anchor: {a!r:.60}"))
            continue
        name = f"day {a.get('day')}" if a.get("day") else "head"
        if a.get("what") != WHAT or not signing.verify(a, key):
            out.append(Finding("anchor", name, "bad-signature",
                               f"anchor (seq {a.get('seq')}) is not signed by key {fp}"))
            continue
        seq, sha = a.get("seq"), a.get("sha256")
        if not isinstance(seq, int) or not isinstance(sha, str):
            out.append(Finding("anchor", name, "bad-anchor", "seq or sha256 is missing"))
            continue
        if seq == 0:
            continue  # the head of an empty ledger: nothing to hold
        entry = ledger.get(conn, seq)
        if entry is None and seq > head_seq:
            out.append(Finding("anchor", name, "truncated",
                               f"anchor names entry {seq} ({sha[:12]}), but the ledger ends "
                               f"at entry {head_seq}: its tail was cut"))
        elif entry is None:
            out.append(Finding("anchor", name, "anchor-mismatch",
                               f"anchor names entry {seq}, which is not in the ledger"))
        elif entry.entry_sha256 != sha:
            out.append(Finding("anchor", name, "anchor-mismatch",
                               f"entry {seq} has hash {entry.entry_sha256[:12]}, the anchor "
                               f"says {sha[:12]}: the ledger was rewritten since"))
    return out
