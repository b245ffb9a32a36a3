"""Personal keys of a worker, and who read a worker's file (docs/workers.md, "Access").

An officer issues a worker a key (shown once; the store keeps its SHA-256), lists the
worker's keys and revokes one; a revoked or expired key is refused at its next request
(``api.auth`` looks it up every time). The access log of one worker's file is readable by
officers, inspectors and that worker: a worker may see who read their file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Officer, Who
from api.deps import Config
from api.errors import error
from api.routes.records import local_times
from ingest.schema import connect
from ingest.workers import access, keys, registry
from ingest.workers.schema import migrate as migrate_registries
from occmon.config.schema import SiteConfig

router = APIRouter(prefix="/api/v1", tags=["workers"])
MAX_DAYS = 3650  # a key outliving ten years is a key nobody remembers issuing


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    days: int = Field(default=365, ge=1, le=MAX_DAYS, description="valid for this many days")
    label: str = Field(default="", max_length=100,
                       description="what it is for, e.g. 'phone' (shown in the key list)")


def store(request: Request) -> Iterator[sqlite3.Connection]:
    """The site store with the registries and the key table migrated (once per app)."""
    path: Path = request.app.state.store_path
    conn = connect(path)
    try:
        if not getattr(request.app.state, "worker_keys_schema", False):
            migrate_registries(conn)
            keys.migrate(conn)
            request.app.state.worker_keys_schema = True
        yield conn
    finally:
        conn.close()


Db = Annotated[sqlite3.Connection, Depends(store)]
KeyId = Annotated[int, FastPath(ge=1, le=2**62)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Before = Annotated[int | None, Query(ge=1, le=2**62, description="rows with an id below "
                                     "this (the previous page's next_before)")]


def _key_out(row: dict[str, Any], config: SiteConfig, now: float) -> dict[str, Any]:
    state = ("revoked" if row["revoked"] is not None
             else "expired" if now >= row["expires"] else "valid")
    return {**local_times(row, config, "issued", "expires", "revoked"), "state": state}


def _known(db: sqlite3.Connection, employee: str) -> None:
    if registry.worker(db, employee) is None:
        raise error(404, "unknown-worker", f"no worker {employee!r}")


@router.post("/workers/{employee}/keys", status_code=201, response_model=None)
def issue_key(employee: str, db: Db, who: Officer, config: Config,
              body: KeyIn | None = None) -> dict[str, Any]:
    """A personal key for the worker: it reads and exports their own file only. ``key`` is
    in this answer once and never again (the store keeps its SHA-256): hand it over now."""
    _known(db, employee)
    wanted = body or KeyIn()
    now = time.time()
    row, token = keys.issue(db, employee, by=who.name, now=now, days=wanted.days,
                            label=wanted.label)
    header = config.auth.header if config.auth else "X-API-Key"
    return {**_key_out(row, config, now), "key": token, "header": header}


@router.get("/workers/{employee}/keys", response_model=None)
def list_keys(employee: str, db: Db, _who: Officer, config: Config) -> dict[str, Any]:
    """Every key issued to the worker, revoked and expired ones too (never the key)."""
    _known(db, employee)
    now = time.time()
    items = [_key_out(r, config, now) for r in keys.of_worker(db, employee)]
    return {"total": len(items), "items": items}


@router.delete("/workers/{employee}/keys/{ident}", response_model=None)
def revoke_key(employee: str, ident: KeyId, db: Db, who: Officer,
               config: Config) -> dict[str, Any]:
    """Revoke the key: its next request is refused (401 ``revoked-key``)."""
    now = time.time()
    try:
        row = keys.revoke(db, employee, ident, by=who.name, now=now)
    except keys.UnknownKey as exc:
        raise error(404, "unknown-key", str(exc)) from None
    return _key_out(row, config, now)


def _log_page(db: sqlite3.Connection, config: SiteConfig, limit: int, before: int | None,
              **filters: Any) -> dict[str, Any]:
    rows = access.page(db, limit=limit, before=before, **filters)
    return {"count": len(rows), "entries": [local_times(r, config, "time") for r in rows],
            "next_before": rows[-1]["id"] if len(rows) == limit else None}


@router.get("/workers/{employee}/access-log", response_model=None)
def worker_access_log(employee: str, db: Db, who: Who, config: Config, limit: Limit = 100,
                      before: Before = None) -> dict[str, Any]:
    """Who read this worker's file, newest first: officers, inspectors and the worker."""
    if who.role not in ("officer", "inspector", "worker") or (
            who.role == "worker" and who.employee != employee):
        raise error(403, "own-file-only", f"key {who.name!r} may not read this access log")
    return _log_page(db, config, limit, before, worker=employee)
