"""Personal keys: a revocable key an officer issues to one worker, to read their own file.

A worker has no account in the site file, and editing the site file to hand out or withdraw
a key is slow and needs a restart; so an officer issues a key through the API, the worker
gets it once (the store keeps only its SHA-256), and the officer can list and revoke it. The
API judges the key on every request (``api.auth``): a revoked or expired key is refused at
its next request, with no restart and no cache.

A personal key reads as a ``worker`` key bound to its employee: the worker's own file and
nothing else. It starts with ``PREFIX`` so the API tells it from a site-file key without a
second lookup, and carries 256 random bits: it cannot be guessed, so a lookup by its digest
(an indexed equality) leaks nothing an attacker could use.

The table lives in the site store with its own row in ``module_versions`` (module
``worker-keys``), like the registries (``ingest.workers.schema``).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from ingest.workers.schema import migrate_module

PREFIX = "occw_"
MODULE = "worker-keys"
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE worker_keys (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            employee TEXT NOT NULL,
            sha256 TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL DEFAULT '',
            issued REAL NOT NULL,
            issued_by TEXT NOT NULL,
            expires REAL NOT NULL,
            revoked REAL,
            revoked_by TEXT
        )""",
        "CREATE INDEX worker_keys_by_employee ON worker_keys (employee, id)",
    ),
)
VERSION = len(MIGRATIONS)
COLS = ("id", "employee", "label", "issued", "issued_by", "expires", "revoked", "revoked_by")


class UnknownKey(LookupError):
    """No such key of that worker (404)."""


@dataclass(frozen=True, slots=True)
class Found:
    """A presented personal key's row, and why it is refused now (None: it is valid)."""

    id: int
    employee: str
    problem: str | None  # revoked-key | expired-key

    @property
    def name(self) -> str:
        """How the key appears in the access log: whose, and which of their keys."""
        return f"{self.employee}/key-{self.id}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``worker_keys`` to VERSION on an autocommit connection; the version found."""
    return migrate_module(conn, MODULE, MIGRATIONS, name="worker-keys")


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(COLS, values, strict=True))


def issue(conn: sqlite3.Connection, employee: str, *, by: str, now: float, days: int,
          label: str = "") -> tuple[dict[str, Any], str]:
    """A new key for ``employee``, valid ``days`` days: (its row, the key itself). The key
    is returned here once and never stored."""
    token = PREFIX + secrets.token_urlsafe(32)
    with conn:
        cur = conn.execute(
            "INSERT INTO worker_keys (employee, sha256, label, issued, issued_by, expires) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (employee, digest(token), label, now, by, now + days * 86400.0))
    ident = int(cur.lastrowid or 0)
    return {"id": ident, "employee": employee, "label": label, "issued": now,
            "issued_by": by, "expires": now + days * 86400.0, "revoked": None,
            "revoked_by": None}, token


def of_worker(conn: sqlite3.Connection, employee: str) -> list[dict[str, Any]]:
    """Every key ever issued to ``employee`` (revoked and expired ones too), oldest first."""
    return [_row(r) for r in conn.execute(
        f"SELECT {', '.join(COLS)} FROM worker_keys WHERE employee = ? ORDER BY id",
        (employee,))]


def revoke(conn: sqlite3.Connection, employee: str, ident: int, *, by: str,
           now: float) -> dict[str, Any]:
    """Revoke key ``ident`` of ``employee`` (a second revoke keeps the first time and who)."""
    with conn:
        conn.execute("UPDATE worker_keys SET revoked = ?, revoked_by = ? WHERE id = ? AND "
                     "employee = ? AND revoked IS NULL", (now, by, ident, employee))
        found = conn.execute(f"SELECT {', '.join(COLS)} FROM worker_keys WHERE id = ? AND "
                             "employee = ?", (ident, employee)).fetchone()
    if found is None:
        raise UnknownKey(f"worker {employee!r} has no key {ident}")
    return _row(found)


def lookup(conn: sqlite3.Connection, token: str, now: float) -> Found | None:
    """The key ``token`` is, or None (unknown, or the table does not exist yet)."""
    try:
        found = conn.execute("SELECT id, employee, expires, revoked FROM worker_keys "
                             "WHERE sha256 = ?", (digest(token),)).fetchone()
    except sqlite3.OperationalError:  # no key was ever issued on this store
        return None
    if found is None:
        return None
    ident, employee, expires, revoked = found
    problem = "revoked-key" if revoked is not None else (
        "expired-key" if now >= float(expires) else None)
    return Found(int(ident), str(employee), problem)
