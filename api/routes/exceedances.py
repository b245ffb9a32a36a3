"""Exceedance history for inspectors, and the employer's rectification loop."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.auth import Officer
from api.deps import Config
from api.errors import error
from api.records_deps import (
    CSV_TOO,
    Format,
    Lang,
    Records,
    RecordsWriter,
    check_site,
    csv_response,
)
from api.timeparams import TIME, check_range, check_time, parse_iso, unprocessable
from ingest.daily import export, query, rectify
from ingest.daily.store import Conflict, NotFound

router = APIRouter(prefix="/api/v1/exceedances", tags=["exceedances"])
Type = Literal["twa", "stel", "mac", "peak", "noise", "dose"]
Status = Literal["open", "actioned", "rechecked", "closed", "withdrawn"]
MAX_PAGE = 1000


@router.get("", response_model=None, responses=CSV_TOO)
def list_exceedances(
    config: Config, store: Records,
    site: str | None = None, area: str | None = None, point: str | None = None,
    agent: str | None = None, type: Type | None = None, status: Status | None = None,
    start: str | None = Query(default=None, description="ISO 8601 with offset, inclusive",
                              json_schema_extra=TIME),
    end: str | None = Query(default=None, description="ISO 8601 with offset, exclusive",
                            json_schema_extra=TIME),
    limit: int = Query(default=100, ge=1, le=MAX_PAGE),
    offset: int = Query(default=0, ge=0, le=10_000_000),
    format: Format = "json", lang: Lang = "zh",
) -> dict[str, Any] | Response:
    """Exceedances newest first, filtered; ``next_offset`` pages on (null on the last page)."""
    t0 = parse_iso("start", start) if start is not None else None
    t1 = parse_iso("end", end) if end is not None else None
    if t0 is not None and t1 is not None:
        check_range(t0, t1, str(start), str(end))
    f = query.Filters(area=area, point=point, agent=agent, type=type, status=status,
                      start=t0, end=t1)
    total, items = (query.exceedances(store.conn, f, limit=limit, offset=offset)
                    if check_site(config, site) else (0, []))
    if format == "csv":
        return csv_response(export.to_csv(items, export.EXCEEDANCE_COLUMNS, lang),
                            "exceedances.csv")
    more = offset + len(items) < total
    # plain JSON: the items are already JSON-shaped, FastAPI's encoder would walk each again
    return JSONResponse({"site": config.site.id, "total": total, "limit": limit,
                         "offset": offset, "next_offset": offset + len(items) if more else None,
                         "items": items})


@router.get("/{exceedance_id}", response_model=None)
def get_exceedance(exceedance_id: str, store: Records) -> dict[str, Any]:
    """One exceedance with its rectification history (ledger entries)."""
    found = query.exceedance(store.conn, exceedance_id)
    if found is None:
        raise unknown(exceedance_id)
    return found


class ActionIn(BaseModel):
    who: str = Field(min_length=1, max_length=100, description="who acted")
    what: str = Field(min_length=1, max_length=2000, description="what was done")
    when: dt.datetime | None = Field(default=None, description="when (ISO 8601); default now")


class CheckIn(BaseModel):
    who: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=2000)


def unknown(exceedance_id: str) -> HTTPException:
    return error(404, "unknown-exceedance", f"exceedance {exceedance_id!r} is not recorded")


def _step(store: Any, exceedance_id: str, step: str, content: dict[str, Any]) -> dict[str, Any]:
    try:
        entry, status = store.step(exceedance_id, step, content, time.time())
    except NotFound:
        raise unknown(exceedance_id) from None
    except rectify.IllegalStep as exc:
        raise error(409, "illegal-step", str(exc)) from None
    except Conflict as exc:
        raise error(409, "conflict", str(exc)) from None
    return {"id": exceedance_id, "status": status, "seq": entry.seq,
            "entry_sha256": entry.entry_sha256}


@router.post("/{exceedance_id}/actions", response_model=None)
def record_action(exceedance_id: str, body: ActionIn, store: RecordsWriter,
                  who: Officer) -> dict[str, Any]:
    """Record a corrective action (who, what, when): open -> actioned."""
    when = body.when.isoformat() if body.when else None
    if body.when is not None:
        if body.when.tzinfo is None:
            raise unprocessable("when needs a UTC offset, e.g. 2026-05-12T10:00:00+08:00",
                                "when")
        check_time("when", str(when), body.when.timestamp())
    return _step(store, exceedance_id, "action",
                 {"who": body.who, "what": body.what, "when": when, "key": who.name})


@router.post("/{exceedance_id}/recheck", response_model=None)
def recheck(exceedance_id: str, body: CheckIn, store: RecordsWriter,
            who: Officer) -> dict[str, Any]:
    """Re-check: needs a later compliant daily record of the same point (else 409)."""
    return _step(store, exceedance_id, "recheck",
                 {"who": body.who, "note": body.note, "key": who.name})


@router.post("/{exceedance_id}/close", response_model=None)
def close(exceedance_id: str, body: CheckIn, store: RecordsWriter,
          who: Officer) -> dict[str, Any]:
    """Close the loop after a passed re-check."""
    return _step(store, exceedance_id, "close",
                 {"who": body.who, "note": body.note, "key": who.name})
