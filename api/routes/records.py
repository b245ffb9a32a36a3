"""Daily monitoring records: list/export, the printable day report, close and sign a day."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
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
    parse_day,
    today,
)
from api.routes.exceedances import agent_id, at_offset
from api.timeparams import DAY, DayPath, unprocessable
from ingest.daily import export, quarter, query
from ingest.daily.close import close_into, compute_day
from ingest.daily.closing import DayOpen, DayOutOfRange, is_open, require_ended, window_of
from ingest.daily.push import push_day
from ingest.daily.store import Conflict, RecordsStore
from ingest.daily.windows import iso_local, zone
from occmon import ledger
from occmon.config.schema import SiteConfig
from occmon.keys import ledger_signing_key

router = APIRouter(prefix="/api/v1", tags=["daily records"])
MAX_DAYS = 366
ON_DEMAND_DAYS = 7  # open days computed on request (older unclosed days wait for the close)


def _open_rows(store: RecordsStore, config: SiteConfig, day: dt.date) -> list[dict[str, Any]]:
    computed = compute_day(store.conn, config, day)
    return [{"key": d.key, "kind": d.kind, "seq": None, "closed": False, "provisional": True,
             **d.content} for d in computed.drafts]


def _match(row: dict[str, Any], f: query.Filters) -> bool:
    agent = row.get("agent", {}).get("id")
    return all(want is None or want == got for want, got in (
        (f.area, row.get("area")), (f.point, row.get("point")), (f.agent, agent)))


def records_between(store: RecordsStore, config: SiteConfig, f: query.Filters,
                    first: dt.date, last: dt.date, now: float) -> list[dict[str, Any]]:
    """Stored records of closed days, and open days computed on demand (``provisional``).

    A day still open by the closing rule is always computed on demand, even if an occmon
    without the rule closed it early: its stored records froze it mid-day."""
    closed = query.closed_days(store.conn, first.isoformat(), last.isoformat())
    horizon = today(config, now)
    on_demand: list[dt.date] = []
    day = max(first, horizon - dt.timedelta(days=ON_DEMAND_DAYS))
    while day <= min(last, horizon):
        if day.isoformat() not in closed or is_open(config, day, now):
            on_demand.append(day)
        day += dt.timedelta(days=1)
    skip = {d.isoformat() for d in on_demand}
    rows = [{**r, "provisional": is_open(config, dt.date.fromisoformat(r["day"]), now)}
            for r in query.daily_records(store.conn, f) if r["day"] not in skip]
    for day in on_demand:
        rows += [r for r in _open_rows(store, config, day) if _match(r, f)]
    rows.sort(key=lambda r: (r["day"], r.get("point", ""), r.get("shift") or ""))
    return rows


def local_times(row: dict[str, Any], config: SiteConfig, *names: str) -> dict[str, Any]:
    """``row`` with its top-level ``names`` (epoch seconds, or None) as ISO 8601 with the
    site's offset, like the exceedances and ``closable_from`` (a copy)."""
    return {k: (at_offset(float(v), config)
                if k in names and isinstance(v, int | float) and not isinstance(v, bool)
                else v) for k, v in row.items()}


def _record_out(row: dict[str, Any], config: SiteConfig) -> dict[str, Any]:
    """A record as the JSON answer carries it: the times of its alarms as ISO 8601 with the
    site's offset (the ledgered content and the CSV keep epoch seconds)."""
    alarms = row.get("alarms")
    if not isinstance(alarms, list):
        return row
    return {**row, "alarms": [local_times(a, config, "time") if isinstance(a, dict) else a
                              for a in alarms]}


@router.get("/daily-records", response_model=None, responses=CSV_TOO)
def daily_records(
    config: Config, store: Records,
    start: str = Query(description="first day, YYYY-MM-DD (site local)", json_schema_extra=DAY),
    end: str | None = Query(default=None, description="last day, inclusive; default start",
                            json_schema_extra=DAY),
    site: str | None = None, area: str | None = None, point: str | None = None,
    agent: str | None = Query(default=None, description="catalogue id, CAS number, or "
                              "Chinese or English name, e.g. h2s, 7783-06-4, 硫化氢; an "
                              "unknown agent is a 422"),
    format: Format = "json",
    lang: Lang = "zh",
) -> dict[str, Any] | Response:
    """Records per point per day (and shift, and job); open days are computed on request."""
    first = parse_day("start", start)
    last = parse_day("end", end) if end is not None else first
    if last < first:
        raise unprocessable(f"start {start!r} is after end {end!r}", "end")
    if (last - first).days >= MAX_DAYS:
        raise unprocessable(f"start {start!r} .. end {end!r} spans {(last - first).days + 1} "
                            f"days: at most {MAX_DAYS} per request", "end")
    f = query.Filters(area=area, point=point, agent=agent_id(agent), day_from=first.isoformat(),
                      day_to=last.isoformat())
    rows = (records_between(store, config, f, first, last, time.time())
            if check_site(config, site) else [])
    if format == "csv":
        return csv_response(export.to_csv(rows, export.RECORD_COLUMNS, lang),
                            f"daily-records-{first}-{last}.csv")
    return {"site": config.site.id, "start": first.isoformat(), "end": last.isoformat(),
            "count": len(rows), "records": [_record_out(r, config) for r in rows],
            "provisional_days": sorted({r["day"] for r in rows if r["provisional"]})}


@router.get("/days/{day}", response_model=None)
def day_status(day: DayPath, config: Config, store: Records) -> dict[str, Any]:
    """Whether a day is closed and signed, with its day-close hash and push deliveries;
    ``open`` while the closing rule refuses it (its records are provisional until closed).
    Times (``closable_from``, ``closure.closed_at``/``signed_at``, each delivery's ``time``)
    are ISO 8601 with the site's offset."""
    parsed = parse_day("day", day)
    d = parsed.isoformat()
    closure = query.closure(store.conn, d)
    try:
        window = window_of(config, parsed)
    except DayOutOfRange as exc:
        raise unprocessable(str(exc), "day") from None
    now = time.time()
    tz = zone(config.site.timezone)
    return {"day": d, "site": config.site.id, "closed": closure is not None,
            "open": window.is_open(now), "provisional": window.is_open(now) or closure is None,
            "closable_from": iso_local(window.closable_from, tz),
            "closure": (local_times(closure, config, "closed_at", "signed_at")
                        if closure else None),
            "deliveries": [local_times(row, config, "time")
                           for row in query.deliveries(store.conn, d)]}


def _report_parts(store: RecordsStore, config: SiteConfig, d: dt.date, now: float
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    f = query.Filters(day_from=d.isoformat(), day_to=d.isoformat())
    rows = [r for r in records_between(store, config, f, d, d, now)
            if r["kind"] in ("daily-record", "job-record")]
    closure = query.closure(store.conn, d.isoformat())
    if is_open(config, d, now):
        closure = None  # an early close (before the rule) does not stand for an open day
    if closure is not None:
        _, events = query.exceedances(store.conn, query.Filters(), limit=10_000)
        events = [e for e in events if e["day"] == d.isoformat()]
    else:
        events = [e for e in compute_day(store.conn, config, d).events]
    return rows, events, closure


@router.get("/daily-records/report", response_model=None, response_class=HTMLResponse,
            responses={200: {"content": {"application/pdf": {}},
                             "description": "HTML, or PDF with format=pdf"}})
def report(config: Config, store: Records, day: str = Query(description="YYYY-MM-DD",
                                                                 json_schema_extra=DAY),
           format: Literal["html", "pdf"] = "html", lang: Lang = "zh") -> Response:
    """The printable day report (HTML, or PDF through reportlab)."""
    d = parse_day("day", day)
    try:
        rows, events, closure = _report_parts(store, config, d, time.time())
    except DayOutOfRange as exc:
        raise unprocessable(str(exc), "day") from None
    site = config.site.name.model_dump()
    provisional = closure is None or any(r.get("provisional") for r in rows)
    if format == "pdf":
        pdf = export.report_pdf(site, d.isoformat(), rows, events, closure, lang,
                                provisional=provisional, ledger_head=ledger.head(store.conn))
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="day-{d}.pdf"'})
    return HTMLResponse(export.report_html(site, d.isoformat(), rows, events, closure, lang,
                                           provisional=provisional,
                                           ledger_head=ledger.head(store.conn)))


def _quarter_bounds(config: SiteConfig, text: str) -> tuple[dt.date, bool]:
    """(last day, still running?) of a quarter; 422 for a bad or out-of-range one."""
    try:
        _first, last = quarter.parse_quarter(text)
        return last, is_open(config, last, time.time())
    except (quarter.BadQuarter, DayOutOfRange) as exc:
        raise unprocessable(str(exc), "quarter") from None


@router.get("/daily-records/quarters/{quarter_id}", response_model=None,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                         "application/pdf": {}},
                             "description": "CSV, or PDF with format=pdf"}})
def quarter_summary(quarter_id: str, config: Config, store: Records,
                    format: Literal["csv", "pdf"] = "csv", lang: Lang = "zh") -> Response:
    """The quarterly summary of daily monitoring (Table 4-3) from the quarter's closed days;
    it names its ledger entry when one was recorded over these very figures."""
    _last, running = _quarter_bounds(config, quarter_id)
    summary = quarter.summarise(store.conn, config.site.name.model_dump(), config.site.id,
                                quarter_id)
    sign = quarter.signature_of(store.conn, summary)
    if format == "pdf":
        pdf = quarter.to_pdf(summary, sign, lang, provisional=running)
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="quarter-{summary.quarter}.pdf"'})
    return csv_response(quarter.to_csv(summary, sign, lang), f"quarter-{summary.quarter}.csv")


class QuarterSignIn(BaseModel):
    prepared_by: str = Field(min_length=1, max_length=100, description="编制人")
    reviewed_by: str = Field(min_length=1, max_length=100,
                             description="审核人 (one of records.signers when set)")


@router.post("/daily-records/quarters/{quarter_id}/sign", response_model=None)
def quarter_sign(quarter_id: str, body: QuarterSignIn, config: Config, store: RecordsWriter,
                 who: Officer) -> dict[str, Any]:
    """Record the quarter's form in the ledger (a sealed ``quarter-summary`` entry over its
    figures); 409 while the quarter runs; idempotent for the same figures and people."""
    _last, running = _quarter_bounds(config, quarter_id)
    signers = config.records.signers if config.records else []
    if signers and body.reviewed_by not in signers:
        raise error(403, "not-a-signer", f"{body.reviewed_by!r} is not one of the configured "
                    "signers", "reviewed_by")
    if running:
        raise error(409, "quarter-open", f"{quarter_id} has not ended: it can be printed, "
                    "not recorded")
    with store.transaction() as conn:
        summary = quarter.summarise(conn, config.site.name.model_dump(), config.site.id,
                                    quarter_id)
        sign, written = quarter.record(conn, summary, body.prepared_by, body.reviewed_by,
                                       time.time(), ledger_signing_key(config))
    return {"quarter": summary.quarter, "seq": sign["seq"], "entry_sha256": sign["sha256"],
            "written": written, "figures_sha256": sign["figures_sha256"],
            "closed_days": len(summary.closed_days), "key": who.name}


@router.post("/daily-records/{day}/close", response_model=None)
def close(day: DayPath, config: Config, store: RecordsWriter, who: Officer) -> dict[str, Any]:
    """Close (or re-close) a day that has ended (plus ``records.close_grace_min``): 409
    ``day-open`` otherwise, nothing written; idempotent, corrections if data changed."""
    d = parse_day("day", day)
    try:
        result = close_into(store, config, d, time.time())
    except DayOpen as exc:
        raise error(409, "day-open", str(exc)) from None
    except DayOutOfRange as exc:
        raise unprocessable(str(exc), "day") from None
    return {"day": result.day, "new": result.new, "corrected": result.corrected,
            "unchanged": result.unchanged, "withdrawn": result.withdrawn,
            "close_seq": result.close_seq, "entries": result.entries, "by": who.name}


class SignIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="the safety officer signing")


@router.post("/daily-records/{day}/sign", response_model=None)
def sign(day: DayPath, body: SignIn, config: Config, store: RecordsWriter,
         who: Officer) -> dict[str, Any]:
    """The safety officer signs a closed day (a ledger entry); then it is pushed."""
    parsed = parse_day("day", day)
    d = parsed.isoformat()
    signers = config.records.signers if config.records else []
    if signers and body.name not in signers:
        raise error(403, "not-a-signer", f"{body.name!r} is not one of the configured signers",
                    "name")
    now = time.time()
    try:
        window = require_ended(config, parsed, now)
    except DayOpen as exc:
        raise error(409, "day-open", str(exc)) from None
    except DayOutOfRange as exc:
        raise unprocessable(str(exc), "day") from None
    try:
        entry = store.sign(d, body.name, now, window.closable_from,
                           seal=ledger_signing_key(config))
    except Conflict as exc:
        raise error(409, "conflict", str(exc)) from None
    push = config.records.push if config.records else None
    if push is not None:
        path = store.path

        def deliver() -> None:
            with RecordsStore(path) as writer:
                push_day(writer, d, push)

        threading.Thread(target=deliver, name=f"push-{d}", daemon=True).start()
    return {"day": d, "signer": body.name, "seq": entry.seq, "entry_sha256": entry.entry_sha256,
            "key": who.name, "push": push is not None}
