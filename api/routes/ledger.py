"""The tamper-evident ledger: verify it (chain, seals, projections); read its entries; its
signed anchors; the inspectors' access log."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Query

from api.auth import Officer
from api.deps import Config
from api.errors import ErrorBody, error
from api.isotimes import TIME_KEYS
from api.records_deps import Records
from api.routes.exceedances import at_offset
from api.routes.records import local_times
from ingest.daily import anchors, query
from ingest.workers import access
from occmon.config.auth import Role
from occmon.config.schema import SiteConfig
from occmon.keys import ledger_signing_key, ledger_verify_key

router = APIRouter(prefix="/api/v1", tags=["ledger"])
# the times ledgered content carries: record windows, exceedances, closes, signatures, steps
CONTENT_TIME_KEYS = TIME_KEYS | {"start", "end", "signed_at", "closed_at", "at"}


def content_times(content: Any, config: SiteConfig, where: str = "") -> dict[str, str]:
    """Each epoch time under a ``CONTENT_TIME_KEYS`` key of ``content``, by its path, as
    ISO 8601 with the site's offset (``{"start": "2026-05-12T10:00:00.000+08:00",
    "alarms[0].time": ...}``)."""
    out: dict[str, str] = {}
    if isinstance(content, dict):
        for k, v in content.items():
            path = f"{where}.{k}" if where else str(k)
            if k in CONTENT_TIME_KEYS and isinstance(v, int | float) \
                    and not isinstance(v, bool) and math.isfinite(v) \
                    and 0 <= v < 253_402_300_800:  # before year 10000, like api.isotimes
                out[path] = at_offset(float(v), config)
            else:
                out.update(content_times(v, config, path))
    elif isinstance(content, list):
        for i, v in enumerate(content):
            out.update(content_times(v, config, f"{where}[{i}]"))
    return out


@router.get("/ledger/verify", response_model=None)
def verify(store: Records, config: Config,
           require_signed: bool = Query(default=False, description="an unsigned close is "
                                        "an error, not a warning")) -> dict[str, Any]:
    """The chain, the seals of day closes and signatures, and every projection row against
    the ledger (``occmon records verify``): each problem named by table, key and what
    differs; ``ok`` is false when any is an error."""
    report = store.verify(ledger_verify_key(config), require_signed=require_signed)
    return report.as_dict()


@router.get("/ledger/anchors", response_model=None, responses={
    409: {"model": ErrorBody, "description": "no-ledger-key: the site has no ledger key yet"}})
def ledger_anchors(store: Records, config: Config) -> dict[str, Any]:
    """Every closed day's anchor and the head, signed now with the site's ledger key: keep
    the answer, and ``occmon records verify --anchor FILE`` catches a later truncation."""
    key = ledger_signing_key(config)
    if key is None:  # the state of the site, not an API fault: 409 like other refusals
        raise error(409, "no-ledger-key", f"no ledger key at {config.security.ledger_key}: "
                                          "run occmon keys init CONFIG")
    return anchors.export(store.conn, key, config.site.id, time.time())


@router.get("/ledger", response_model=None)
def entries(store: Records, config: Config, after: int = Query(default=0, ge=0, le=2**62),
            limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
    """Entries after seq ``after``, with their hashes, so anyone can re-walk the chain.

    ``time`` and ``content`` are as hashed into the chain, so they stay as written: ``time``
    in epoch seconds, and the times inside ``content`` (an exceedance's ``start``/``end``, a
    signature's ``signed_at``) too. Beside them, ``time_iso`` is ``time`` as ISO 8601 with the
    site's offset and ``content_times`` maps each time of ``content`` (by its path, e.g.
    ``signed_at`` or ``alarms[0].time``) to the same; neither is hashed."""
    page = [{**e, "time_iso": at_offset(float(e["time"]), config),
             "content_times": content_times(e["content"], config)}
            for e in query.ledger_page(store.conn, after, limit)]
    return {"count": len(page), "entries": page,
            "next_after": page[-1]["seq"] if len(page) == limit else None}


@router.get("/access-log", response_model=None)
def access_log(store: Records, config: Config, _who: Officer,
               limit: int = Query(default=100, ge=1, le=1000),
               before: int | None = Query(default=None, ge=1, le=2**62, description="rows "
                                          "with an id below this: the last page's "
                                          "next_before"),
               key: str | None = Query(default=None, max_length=200,
                                       description="the key's name (a personal key: "
                                       "EMPLOYEE/key-N)"),
               role: Role | None = None,
               worker: str | None = Query(default=None, max_length=64, description="requests "
                                          "for this worker's file")) -> dict[str, Any]:
    """Every request of an inspector or a worker and every request for personal data (by
    anyone), newest first, in pages of ``limit`` (officer only): who (key, role), what
    (method, path, query), when (``time`` ISO 8601 with the site's offset), from where
    (client) and whether it was allowed."""
    rows = access.page(store.conn, limit=limit, before=before, key=key, role=role,
                       worker=worker)
    return {"count": len(rows), "entries": [local_times(r, config, "time") for r in rows],
            "next_before": rows[-1]["id"] if len(rows) == limit else None}
