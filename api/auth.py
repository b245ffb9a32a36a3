"""API keys with roles, as one app-wide FastAPI dependency.

officer: read, write, sign. staff: read, and acknowledge (a POST to a path ending in
``/ack`` or ``/acknowledge``), but no personal data (403 ``personal-data``). inspector:
read-only, only the sites named on its key, and every request it makes goes into
``access_log`` (allowed or refused). A missing or unknown key is 401; a known key doing what
its role may not is 403. worker: reads only its own file (``/api/v1/workers/{its employee
number}``), every request logged like an inspector's. ``/healthz``, the notice board and the
API docs are public.

Every request for personal data (``api.personal``: the registries, worker files, the access
log, the readings of a worn point) is logged too, whoever makes it, before the route runs:
no personal data is served without its row in ``access_log``.

Keys are compared by SHA-256: the config holds digests (or env var names), never keys. A
personal key (``ingest.workers.keys``, prefix ``occw_``) is issued by an officer through the
API and looked up in the store on every request, so its revocation or expiry takes effect
at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import APIKeyHeader

from api import personal
from api.errors import error
from ingest.workers import keys as worker_keys
from occmon.config.schema import SiteConfig

log = logging.getLogger("occmon.api.auth")

PUBLIC_PATHS = ("/healthz", "/metrics", "/board", "/board.json", "/docs", "/docs/oauth2-redirect",
                "/redoc", "/openapi.json")
ACK_SUFFIXES = ("/ack", "/acknowledge")
READ_METHODS = ("GET", "HEAD", "OPTIONS")
LOGGED_ROLES = ("inspector", "worker")  # every request of theirs goes to the access log


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    sites: tuple[str, ...] | None  # None: every site of this API
    employee: str | None = None  # a worker key: the one worker file it may read

    def may_see(self, site: str) -> bool:
        return self.sites is None or site in self.sites


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def keyring(config: SiteConfig) -> dict[str, Principal]:
    """digest -> principal; an ``env`` key whose variable is unset is disabled (logged)."""
    ring: dict[str, Principal] = {}
    for key in config.auth.keys if config.auth else []:
        if key.sha256 is not None:
            hexdigest = key.sha256
        else:
            value = os.environ.get(key.env or "")
            if not value:
                log.warning("API key %r disabled: environment variable %s is not set",
                            key.name, key.env)
                continue
            hexdigest = digest(value)
        ring[hexdigest] = Principal(key.name, key.role,
                                    tuple(key.sites) if key.sites is not None else None,
                                    key.employee)
    return ring


def _log_access(store_path: Path, who: Principal, request: Request, decision: str) -> None:
    client = request.client.host if request.client else ""
    conn = sqlite3.connect(store_path, timeout=10.0)
    try:
        with conn:
            conn.execute(
                "INSERT INTO access_log (time, key, role, method, path, query, client, "
                "decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), who.name, who.role, request.method, request.url.path,
                 request.url.query, client, decision),
            )
    finally:
        conn.close()


def _match(ring: dict[str, Principal], presented: str) -> Principal | None:
    wanted = digest(presented)
    for hexdigest, principal in ring.items():
        if hmac.compare_digest(hexdigest, wanted):
            return principal
    return None


def _personal_key(store_path: Path, presented: str, site: str,
                  header: str) -> tuple[Principal, str | None]:
    """The worker principal of a personal key, and its problem (revoked, expired) if any;
    401 for a key the store does not know."""
    conn = sqlite3.connect(store_path, timeout=10.0)
    try:
        found = worker_keys.lookup(conn, presented, time.time())
    finally:
        conn.close()
    if found is None:
        raise refusal(401, "unknown-api-key", "unknown API key", header)
    return Principal(found.name, "worker", (site,), found.employee), found.problem


def _logged(who: Principal, request: Request) -> bool:
    path = request.url.path
    return who.role in LOGGED_ROLES or personal.registry_path(path) or \
        personal.worn_point_path(request.app.state.config, request.app.state.store_path, path)


def _own_file_only(who: Principal, method: str, path: str) -> tuple[str, str] | None:
    """A worker key reads its own worker file and nothing else (no board data, no ledger)."""
    own = f"/api/v1/workers/{who.employee}"
    if method in READ_METHODS and (path == own or path.startswith(own + "/")):
        return None
    return "own-file-only", f"key {who.name!r} (worker) may read only {own}"


def refusal(status: int, code: str, message: str, header: str | None = None) -> HTTPException:
    """A 401 (with the header to send the key in) or 403, in the API's error shape."""
    return error(status, code, message,
                 headers=None if header is None else {"WWW-Authenticate": header})


def install(app: FastAPI, config: SiteConfig) -> None:
    """Guard every route added after this call (call it before ``include_router``)."""
    header = config.auth.header if config.auth else "X-API-Key"
    scheme = APIKeyHeader(name=header, auto_error=False, description="occmon API key")
    app.state.keyring = keyring(config)

    def authenticate(request: Request) -> Principal | None:
        key = request.headers.get(header)
        path = request.url.path
        if path in PUBLIC_PATHS:
            return None
        if not key:
            raise refusal(401, "missing-api-key",
                          f"missing API key: send it in the {header} header", header)
        site = request.app.state.config.site.id
        store_path: Path = request.app.state.store_path
        if key.startswith(worker_keys.PREFIX):
            who, dead = _personal_key(store_path, key, site, header)
            if dead is not None:  # revoked or expired: refused now, and the attempt logged
                _log_access(store_path, who, request, "refused")
                raise refusal(401, dead, f"key {who.name!r} is "
                              f"{'revoked' if dead == 'revoked-key' else 'expired'}", header)
        else:
            found = _match(request.app.state.keyring, key)
            if found is None:
                raise refusal(401, "unknown-api-key", "unknown API key", header)
            who = found
        problem: tuple[str, str] | None = None
        if not who.may_see(site):
            problem = "site-not-allowed", f"key {who.name!r} may not see site {site!r}"
        elif who.role == "worker":
            problem = _own_file_only(who, request.method, path)
        elif who.role == "staff" and personal.registry_path(path):
            problem = ("personal-data", f"key {who.name!r} (staff) may not read personal "
                       "data: officers, inspectors and the worker concerned only")
        elif request.method not in READ_METHODS:
            if who.role == "inspector":
                problem = "read-only", f"key {who.name!r} is an inspector's: read-only"
            elif who.role == "staff" and not path.rstrip("/").endswith(ACK_SUFFIXES):
                problem = ("acknowledge-only",
                           f"key {who.name!r} (staff) may read and acknowledge only")
        if _logged(who, request):
            _log_access(store_path, who, request, "refused" if problem else "allowed")
        if problem is not None:
            raise refusal(403, *problem)
        request.state.principal = who
        return who

    # the scheme only documents the header in OpenAPI; ``authenticate`` reads and judges it
    app.router.dependencies.extend([Depends(scheme), Depends(authenticate)])


def principal(request: Request) -> Principal:
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:
        raise refusal(401, "missing-api-key", "missing API key")
    return who


def officer(request: Request) -> Principal:
    who = principal(request)
    if who.role != "officer":
        raise refusal(403, "officer-only",
                      f"key {who.name!r} ({who.role}) may not do this: officer only")
    return who


Who = Annotated[Principal, Depends(principal)]
Officer = Annotated[Principal, Depends(officer)]
