"""Exceedance history for inspectors, and the employer's rectification loop.

The history is the ledger's exceedances and, in front of them, the open days' ones as they
happen (``provisional: true``, ``ingest.daily.live``): one merged order, newest first. Every
time leaves here as ISO 8601 with the site's offset (the ledger keeps epoch seconds).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

import thresholds
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
from api.timeparams import (
    EndQuery,
    PageLimit,
    PageOffset,
    StartQuery,
    check_range,
    check_time,
    parse_iso,
    unprocessable,
)
from ingest.daily import export, live, query, rectify
from ingest.daily.store import Conflict, NotFound, RecordsStore
from ingest.daily.windows import zone
from occmon.config.schema import SiteConfig

router = APIRouter(prefix="/api/v1/exceedances", tags=["exceedances"])
Type = Literal["twa", "stel", "mac", "peak", "noise", "dose"]
Status = Literal["open", "actioned", "rechecked", "closed", "withdrawn"]


def at_offset(epoch: float, config: SiteConfig) -> str:
    """An epoch time as ISO 8601 with the site's offset, to the millisecond."""
    return dt.datetime.fromtimestamp(epoch, zone(config.site.timezone)).isoformat(
        timespec="milliseconds")


def outward(item: dict[str, Any], config: SiteConfig) -> dict[str, Any]:
    """An exceedance as the API answers it: ``start``/``end`` and each history step's
    ``time`` as ISO 8601 with the site's offset (stored and ledgered as epoch seconds)."""
    out = {**item}
    for name in ("start", "end"):
        if isinstance(out.get(name), int | float):
            out[name] = at_offset(float(out[name]), config)
    if isinstance(out.get("history"), list):
        out["history"] = [{**h, "time": at_offset(float(h["time"]), config)}
                          if isinstance(h.get("time"), int | float) else h
                          for h in out["history"]]
    return out


def agent_id(name: str | None, parameter: str = "agent") -> str | None:
    """The catalogue id of an agent named by id, CAS, Chinese or English name; else 422."""
    if name is None:
        return None
    try:
        return thresholds.lookup(name).id
    except thresholds.UnknownAgent as exc:
        shown = name if len(name) <= 64 else name[:64] + "..."  # never echo a huge value
        hint = f"; did you mean: {', '.join(exc.suggestions)}" if exc.suggestions else ""
        raise unprocessable(f"{parameter}={shown!r} names no agent of the catalogue{hint}: "
                            "give its catalogue id, CAS number, or Chinese or English name "
                            "(e.g. h2s, 7783-06-4, 硫化氢, hydrogen sulfide)", parameter) from None


@router.get("", response_model=None, responses=CSV_TOO)
def list_exceedances(
    config: Config, store: Records,
    site: str | None = None, area: str | None = None, point: str | None = None,
    agent: str | None = Query(default=None, description="catalogue id, CAS number, or "
                              "Chinese or English name, e.g. h2s, 7783-06-4, 硫化氢"),
    type: Type | None = None, status: Status | None = None,
    provisional: bool | None = Query(
        default=None, description="true: only the open days' exceedances (not in the ledger "
        "until their day closes); false: only the ledgered ones; default both"),
    start: StartQuery = None, end: EndQuery = None,
    limit: PageLimit = 100, offset: PageOffset = 0,
    format: Format = "json", lang: Lang = "zh",
) -> dict[str, Any] | Response:
    """Exceedances newest first, filtered; ``next_offset`` pages on (null on the last page).

    The open days' exceedances come first as they happen, ``provisional: true`` and status
    ``open``, computed from the stored readings within seconds; the day close ledgers them
    under the same id (or they disappear: see docs/records.md, "Exceedances as they happen").
    """
    t0 = parse_iso("start", start) if start is not None else None
    t1 = parse_iso("end", end) if end is not None else None
    if t0 is not None and t1 is not None:
        check_range(t0, t1, str(start), str(end))
    f = query.Filters(area=area, point=point, agent=agent_id(agent), type=type, status=status,
                      start=t0, end=t1)
    total, items = (live.exceedances(store.conn, store.path, config, f,
                                     time.time(), limit=limit, offset=offset,
                                     provisional=provisional)
                    if check_site(config, site) else (0, []))
    if format == "csv":
        return csv_response(export.to_csv(items, export.EXCEEDANCE_COLUMNS, lang),
                            "exceedances.csv")
    more = offset + len(items) < total
    # plain JSON: the items are already JSON-shaped, FastAPI's encoder would walk each again
    return JSONResponse({"site": config.site.id, "total": total, "limit": limit,
                         "offset": offset, "next_offset": offset + len(items) if more else None,
                         "items": [outward(i, config) for i in items]})


@router.get("/{exceedance_id}", response_model=None)
def get_exceedance(exceedance_id: str, config: Config, store: Records) -> dict[str, Any]:
    """One exceedance with its rectification history (ledger entries); an open day's
    provisional one with an empty history."""
    found = query.exceedance(store.conn, exceedance_id)
    if found is not None:
        return outward({**found, "provisional": False}, config)
    pending = live.find(store.conn, store.path, config, exceedance_id,
                        time.time())
    if pending is None:
        raise withdrawn(store, exceedance_id) or unknown(exceedance_id)
    return outward({**pending, "history": []}, config)


def withdrawn(store: RecordsStore, exceedance_id: str) -> HTTPException | None:
    """A provisional exceedance the day close did not confirm: its day is closed and the
    record has no such id (ids are the close's own: ``{day}.{point}.{type}.{hhmmss}``)."""
    day = exceedance_id.split(".", 1)[0]
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return None
    if query.closure(store.conn, day) is None:
        return None
    return error(404, "withdrawn",
                 f"exceedance {exceedance_id!r} is not in the record of {day}, which is "
                 "closed: if it was listed as provisional before the close, the close did "
                 "not confirm it, because data that arrived before the close changed it "
                 "(excursions merged by late readings, or a later maximum); the day's "
                 "record holds what the data shows")


class ActionIn(BaseModel):
    who: str = Field(min_length=1, max_length=100, description="who acted")
    what: str = Field(min_length=1, max_length=2000, description="what was done")
    when: dt.datetime | None = Field(default=None, description="when (ISO 8601); default now")


class CheckIn(BaseModel):
    who: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=2000)


def unknown(exceedance_id: str) -> HTTPException:
    return error(404, "unknown-exceedance", f"exceedance {exceedance_id!r} is not recorded")


def _step(store: RecordsStore, config: SiteConfig, exceedance_id: str, step: str,
          content: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    try:
        entry, status = store.step(exceedance_id, step, content, now)
    except NotFound:
        if live.find(store.conn, store.path, config, exceedance_id, now) is not None:
            raise error(409, "provisional-exceedance",
                        f"exceedance {exceedance_id!r} is provisional: its day is still open "
                        "and it enters the ledger at the day close; act on it then") from None
        raise unknown(exceedance_id) from None
    except rectify.IllegalStep as exc:
        raise error(409, "illegal-step", str(exc)) from None
    except Conflict as exc:
        raise error(409, "conflict", str(exc)) from None
    return {"id": exceedance_id, "status": status, "seq": entry.seq,
            "entry_sha256": entry.entry_sha256}


@router.post("/{exceedance_id}/actions", response_model=None)
def record_action(exceedance_id: str, body: ActionIn, config: Config, store: RecordsWriter,
                  who: Officer) -> dict[str, Any]:
    """Record a corrective action (who, what, when): open -> actioned."""
    when = body.when.isoformat() if body.when else None
    if body.when is not None:
        if body.when.tzinfo is None:
            raise unprocessable("when needs a UTC offset, e.g. 2026-05-12T10:00:00+08:00",
                                "when")
        check_time("when", str(when), body.when.timestamp())
    return _step(store, config, exceedance_id, "action",
                 {"who": body.who, "what": body.what, "when": when, "key": who.name})


@router.post("/{exceedance_id}/recheck", response_model=None)
def recheck(exceedance_id: str, body: CheckIn, config: Config, store: RecordsWriter,
            who: Officer) -> dict[str, Any]:
    """Re-check: needs a later compliant daily record of the same point (else 409)."""
    return _step(store, config, exceedance_id, "recheck",
                 {"who": body.who, "note": body.note, "key": who.name})


@router.post("/{exceedance_id}/close", response_model=None)
def close(exceedance_id: str, body: CheckIn, config: Config, store: RecordsWriter,
          who: Officer) -> dict[str, Any]:
    """Close the loop after a passed re-check."""
    return _step(store, config, exceedance_id, "close",
                 {"who": body.who, "note": body.note, "key": who.name})
