"""The tamper-evident ledger: verify it (chain, seals, projections); read its entries; its
signed anchors; the inspectors' access log."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query

from api.auth import Officer
from api.deps import Config
from api.errors import ErrorBody, error
from api.records_deps import Records
from ingest.daily import anchors, query
from occmon.keys import ledger_signing_key, ledger_verify_key

router = APIRouter(prefix="/api/v1", tags=["ledger"])


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
def entries(store: Records, after: int = Query(default=0, ge=0, le=2**62),
            limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
    """Entries after seq ``after``, with their hashes, so anyone can re-walk the chain."""
    page = query.ledger_page(store.conn, after, limit)
    return {"count": len(page), "entries": page,
            "next_after": page[-1]["seq"] if len(page) == limit else None}


@router.get("/access-log", response_model=None)
def access_log(store: Records, _who: Officer,
               limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
    """Every inspector request, newest first (officer only)."""
    rows = query.access_log(store.conn, limit)
    return {"count": len(rows), "entries": rows}
