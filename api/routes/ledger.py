"""The tamper-evident ledger: verify the chain; read its entries; the inspectors' access log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.auth import Officer
from api.records_deps import Records
from ingest.daily import query

router = APIRouter(prefix="/api/v1", tags=["ledger"])


@router.get("/ledger/verify", response_model=None)
def verify(store: Records) -> dict[str, Any]:
    """Walk the hash chain and the projections; name the first broken entry."""
    result = store.verify()
    broken = result.broken
    return {
        "ok": result.ok, "entries": result.entries, "head_sha256": result.head_sha256,
        "broken": None if broken is None else {
            "seq": broken.seq, "kind": broken.kind, "point": broken.point, "day": broken.day,
            "problem": broken.problem, "message": broken.message()},
    }


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
