"""A worker's noise by shift, exposure history and yearly notice of results (docs/workers.md).

Same access as the worker file (``api.routes.workers.registries``): officers and inspectors
(logged), the worker concerned only for their own, staff never; every request is in the
access log. Nothing here reaches the public board.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.deps import Config
from api.errors import error
from api.records_deps import csv_response
from api.routes.workers import DayQuery, Db, LastDayQuery, _worker_out, registries
from api.timeparams import parse_day
from ingest.daily.windows import iso_local, zone
from ingest.workers import history, noise, printout, registry
from occmon.config.schema import SiteConfig

MAX_NOISE_DAYS = 92
router = APIRouter(prefix="/api/v1", tags=["workers"], dependencies=[Depends(registries)])
PRINTABLE: dict[int | str, dict[str, Any]] = {200: {"content": {
    "text/csv": {}, "application/pdf": {}, "text/html": {}},
    "description": "JSON, or CSV / PDF / HTML with format"}}


def _worker(db: Any, employee: str) -> dict[str, Any]:
    found = registry.worker(db, employee)
    if found is None:
        raise error(404, "unknown-worker", f"no worker {employee!r}")
    return found


def _site(config: SiteConfig) -> dict[str, Any]:
    return config.site.name.model_dump()


def cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: typed text (a job, a name) that starts like a
    formula (= + - @, tab, CR) gets a leading apostrophe, so opening the export never runs
    it; numbers stay numbers; a list is joined with |."""
    if isinstance(value, list):
        value = "|".join(map(str, value))
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(rows: list[dict[str, Any]], columns: list[str], filename: str) -> Response:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: cell(v) for k, v in r.items()} for r in rows)
    return csv_response(buf.getvalue(), filename)


MAX_HISTORY_DAYS = 100 * 366  # a working life, with room: more is a mistake or an attack


def _days(start: str | None, end: str | None, default: tuple[dt.date, dt.date],
          most: int | None) -> tuple[dt.date, dt.date]:
    first = parse_day("start", start) if start else default[0]
    last = parse_day("end", end) if end else (first if start and most else default[1])
    if last < first:
        raise error(422, "invalid-parameter", f"end {last} is before start {first}", "end")
    if most is not None and (last - first).days >= most:
        raise error(422, "invalid-parameter", f"at most {most} days here", "end")
    return first, last


NOISE_COLUMNS = ["day", "shift", "source", "start", "end", "instruments", "worn_hours",
                 "coverage", "laeq_worn", "lex_8h", "dose_pct", "verdict", "lcpeak_max",
                 "impulses", "impulse_limit", "impulses_over", "impulse_verdict", "job",
                 "limit"]


@router.get("/workers/{employee}/noise", response_model=None, responses=PRINTABLE)
def worker_noise(employee: str, db: Db, config: Config, start: DayQuery = None,
                 end: LastDayQuery = None, format: Literal["json", "csv"] = "json"
                 ) -> Response:
    """Personal noise per shift (LEX,8h, dose %, LCpeak, impulses), LEX,W per week, and the
    job-based LEX,8h of the days without a worn dosimeter; at most 92 days."""
    worker = _worker(db, employee)
    today = dt.datetime.now(zone(config.site.timezone)).date()
    first, last = _days(start, end, (today, today), MAX_NOISE_DAYS)
    nf = noise.noise_file(db, config, worker, first, last)
    tz = zone(config.site.timezone)
    shifts = [{**{k: v for k, v in s.items() if k != "energy_s"},
               "start": iso_local(s["start"], tz), "end": iso_local(s["end"], tz)}
              for s in nf.shifts]
    if format == "csv":
        return _csv([*shifts, *nf.job], NOISE_COLUMNS, f"worker-{employee}-noise.csv")
    return JSONResponse({"site": config.site.id, "employee": employee, "basis": nf.basis,
                         "start": first.isoformat(), "end": last.isoformat(),
                         "limit_db": 85.0, "shifts": shifts, "weeks": nf.weeks,
                         "job_based": nf.job})


@router.get("/workers/{employee}/history", response_model=None, responses=PRINTABLE)
def worker_history(employee: str, db: Db, config: Config,
                   start: DayQuery = None, end: LastDayQuery = None,
                   format: Literal["json", "csv", "pdf", "html"] = "json",
                   lang: Literal["zh", "en"] = "zh") -> Response:
    """职业史和职业病危害接触史: job periods and, per period, year and agent, the exposure
    level with its source (personal / job). Default window: joined to left (or today)."""
    worker = _worker(db, employee)
    today = dt.datetime.now(zone(config.site.timezone)).date()
    employed = history.employment(db, config, worker, today)
    first, last = _days(start, end, employed, None)
    # nothing is exposed after the worker left (or after today), nor before a known joining
    # day; a window of centuries would walk every shift of it
    if worker.get("joined"):
        first = max(first, employed[0])
    last = max(first, min(last, employed[1]))
    if (last - first).days >= MAX_HISTORY_DAYS:
        raise error(422, "invalid-parameter", f"at most {MAX_HISTORY_DAYS} days here", "start")
    hist = history.exposure_history(db, config, worker, first, last, time.time())
    if format == "csv":
        cols = history.CSV_COLUMNS
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(["employee", *[(zh if lang == "zh" else en) for _, zh, en in cols]])
        for e in hist["entries"]:
            writer.writerow([employee, *[cell(e.get(k, "")) for k, _, _ in cols]])
        return csv_response("\ufeff" + buf.getvalue(), f"worker-{employee}-history.csv")
    if format in ("pdf", "html"):
        sheet = printout.history_sheet(_site(config), worker, hist)
        return _printed(sheet, format, f"worker-{employee}-history")
    return JSONResponse({**hist, "worker": _worker_out(worker, config)})


def _printed(sheet: printout.Sheet, format: str, name: str) -> Response:
    if format == "pdf":
        return Response(printout.to_pdf(sheet), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})
    return HTMLResponse(printout.to_html(sheet))


@router.get("/workers/{employee}/notice/{year}", response_model=None, responses=PRINTABLE)
def worker_notice(employee: str, year: Annotated[int, FastPath(ge=1970, le=2199)], db: Db,
                  config: Config, format: Literal["json", "pdf", "html"] = "html") -> Response:
    """告知: the worker's monitoring results of ``year`` (personal and job-based) with the
    limits, for the worker to read and sign."""
    worker = _worker(db, employee)
    today = dt.datetime.now(zone(config.site.timezone)).date()
    joined, left = history.employment(db, config, worker, today)
    first, last = max(joined, dt.date(year, 1, 1)), min(left, dt.date(year, 12, 31))
    if first > last:
        raise error(404, "not-employed", f"worker {employee!r} was not employed in {year} "
                    f"({joined} ~ {left})")
    hist = history.exposure_history(db, config, worker, first, last, time.time())
    if format == "json":
        return JSONResponse({**hist, "year": year, "worker": _worker_out(worker, config)})
    return _printed(printout.notice_sheet(_site(config), worker, year, hist), format,
                    f"worker-{employee}-notice-{year}")

