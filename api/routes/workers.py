"""Workers, the instruments they wear, and who wore which when (docs/workers.md).

Officers create and correct; inspectors read; a worker key reads its own file only (the
check is in ``api.auth``; it is repeated here so no route can forget it); staff keys get 403:
this is personal data. Every request here goes to the access log, whoever makes it. Nothing
here reaches the public board.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import JSONResponse, Response

from api.auth import Officer, principal
from api.deps import Config
from api.errors import error
from api.records_deps import CSV_TOO, Format, csv_response
from api.timeparams import DAY, parse_day
from ingest.daily.windows import day_window, iso_local, zone
from ingest.schema import connect
from ingest.workers import attribution, dose_alerts, history, registry
from ingest.workers.dose_view import dose_file
from ingest.workers.schema import migrate
from occmon.config.schema import SiteConfig

MAX_PAGE = 1000
MAX_DAYS = 92  # a worker file covers at most one quarter (GBZ 128's longest period)
MAX_READING_DAYS = 7  # every reading, unpaged: a week of a 1 Hz noise dosimeter at most
PRIVATE = ("id_hash",)  # never leaves the store


def registries(request: Request) -> Iterator[sqlite3.Connection]:
    """A connection to the site store with the registries migrated (once per app), after
    the role check (``api.auth`` logs every request here, whoever makes it, and refuses
    staff keys; the checks are repeated so no route can forget them)."""
    who = principal(request)
    path: Path = request.app.state.store_path
    conn = connect(path)
    try:
        if not getattr(request.app.state, "workers_schema", False):
            migrate(conn)
            request.app.state.workers_schema = True
        if who.role == "staff":
            raise error(403, "personal-data", f"key {who.name!r} (staff) may not read "
                        "personal data: officers, inspectors and the worker concerned only")
        employee = request.path_params.get("employee")
        if who.role == "worker" and employee != who.employee:
            raise error(403, "own-file-only", f"key {who.name!r} may read only its own file")
        yield conn
    finally:
        conn.close()


Db = Annotated[sqlite3.Connection, Depends(registries)]
router = APIRouter(prefix="/api/v1", tags=["workers"], dependencies=[Depends(registries)])


def _refused(exc: registry.RegistryError) -> Exception:
    return error(exc.status, exc.code, str(exc))


def _iso(at: float | None, config: SiteConfig) -> str | None:
    return None if at is None else iso_local(at, zone(config.site.timezone))


def _worker_out(row: dict[str, Any], config: SiteConfig) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in PRIVATE}
    out["left"] = out.pop("left_on")
    out["national_id_on_file"] = row.get("id_hash") is not None
    return _entered(out, config)


def _entered(row: dict[str, Any], config: SiteConfig) -> dict[str, Any]:
    """A registry row with its entry time as ISO 8601 at the site's offset."""
    return {**row, "entered": _iso(row["entered"], config)} if "entered" in row else row


def _assignment_out(row: dict[str, Any], config: SiteConfig) -> dict[str, Any]:
    return {**row, "void": bool(row["void"]), "start": _iso(row["start"], config),
            "end": _iso(row["end"], config), "entered": _iso(row["entered"], config)}


def _page(items: list[dict[str, Any]], limit: int, offset: int, format: str,
          name: str) -> Response:
    """One page of ``items`` as JSON (with the total) or as CSV."""
    page = items[offset:offset + limit]
    if format == "csv":
        buf = io.StringIO()
        cols = list(page[0]) if page else []
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("|".join(v) if isinstance(v, list) else v) for k, v in r.items()}
                         for r in page)
        return csv_response(buf.getvalue(), f"{name}.csv")
    return JSONResponse({"total": len(items), "limit": limit, "offset": offset, "items": page})


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
DayQuery = Annotated[str | None, Query(description="first day, YYYY-MM-DD (site local; "
                                       "default today)", json_schema_extra=DAY)]
LastDayQuery = Annotated[str | None, Query(description="last day, included (default: start)",
                                           json_schema_extra=DAY)]
Offset = Annotated[int, Query(ge=0, le=2**31)]


# ----- workers -----

@router.get("/workers", response_model=None, responses=CSV_TOO)
def list_workers(db: Db, config: Config, job: str | None = None,
                 category: registry.Category | None = None,
                 active_on: str | None = Query(default=None, description="YYYY-MM-DD",
                                               json_schema_extra=DAY),
                 limit: Limit = 100, offset: Offset = 0, format: Format = "json") -> Response:
    """Current workers (latest row of each), by employee number."""
    day = parse_day("active_on", active_on) if active_on else None
    rows = registry.workers(db, job=job, category=category, active_on=day)
    return _page([_worker_out(r, config) for r in rows], limit, offset, format, "workers")


@router.post("/workers", status_code=201, response_model=None)
def create_worker(body: registry.WorkerIn, db: Db, who: Officer,
                  config: Config) -> dict[str, Any]:
    try:
        row = registry.put_worker(db, body, site=config.site.id, by=who.name, now=time.time())
    except registry.RegistryError as exc:
        raise _refused(exc) from None
    return _worker_out(row, config)


@router.post("/workers/{employee}/corrections", status_code=201, response_model=None)
def correct_worker(employee: str, body: registry.WorkerIn, db: Db, who: Officer,
                   config: Config) -> dict[str, Any]:
    """A new version of the worker (``reason`` required); the old one stays in history."""
    if body.employee != employee:
        raise error(422, "employee-mismatch", f"body employee {body.employee!r} is not "
                    f"{employee!r}: an employee number is not corrected, it is a new worker")
    try:
        row = registry.put_worker(db, body, site=config.site.id, by=who.name, now=time.time(),
                                  correct=True)
    except registry.RegistryError as exc:
        raise _refused(exc) from None
    return _worker_out(row, config)


def _window(config: SiteConfig, start: str | None, end: str | None,
            most: int = MAX_DAYS) -> tuple[float, float]:
    tz = zone(config.site.timezone)
    today = dt.datetime.now(tz).date()
    first = parse_day("start", start) if start else today
    last = parse_day("end", end) if end else first
    if last < first:
        raise error(422, "invalid-parameter", f"end {last} is before start {first}", "end")
    if (last - first).days >= most:
        raise error(422, "invalid-parameter", f"at most {most} days here", "end")
    return day_window(first, tz).start, day_window(last, tz).end


@router.get("/workers/{employee}", response_model=None, responses=CSV_TOO)
def worker_file(employee: str, db: Db, config: Config,
                start: DayQuery = None, end: LastDayQuery = None,
                format: Format = "json") -> Response:
    """The worker, the assignments in the window (and the time with none), and per day:
    personal dose (Hp(10), uSv) and noise LEX,8h from the instruments they wore."""
    found = registry.worker(db, employee)
    if found is None:
        raise error(404, "unknown-worker", f"no worker {employee!r}")
    lo, hi = _window(config, start, end)
    personal = attribution.personal_readings(db, config, employee, lo, hi)
    days = [d.as_dict() for d in attribution.daily_exposure(personal,
                                                             zone(config.site.timezone))]
    if format == "csv":
        return _page([{"employee": employee, **d} for d in days], MAX_DAYS, 0, "csv",
                     f"worker-{employee}")
    doses = attribution.piece_doses(personal)
    worn = [{"assignment": w.assignment, "instrument": w.instrument, "device": w.device,
             "position": w.position, "from": _iso(w.start, config), "to": _iso(w.end, config),
             "readings": len(w.readings), "dose_usv": doses.get(w.assignment)}
            for w in personal.worn]
    known = [d["dose_usv"] for d in days if d["dose_usv"] is not None]
    return JSONResponse({
        "site": config.site.id, "worker": _worker_out(found, config),
        "start": _iso(lo, config), "end": _iso(hi, config), "worn": worn,
        "unassigned": [{"from": _iso(a, config), "to": _iso(b, config)}
                       for a, b in personal.unassigned],
        "days": days, "dose_usv": sum(known) if known else None,
        "exposure": history.file_summary(db, config, found, lo, hi),
        "history": [_worker_out(r, config) for r in registry.worker_history(db, employee)],
        "dose": {**dose_file(db, config, employee, time.time()),
                 "raised_alerts": dose_alerts.of_worker(db, employee,
                                                        config.site.timezone)}})


@router.get("/workers/{employee}/readings", response_model=None, responses=CSV_TOO)
def worker_readings(employee: str, db: Db, config: Config, start: DayQuery = None,
                    end: LastDayQuery = None, format: Format = "json") -> Response:
    """Every reading attributed to the worker in the window, with the assignment it came
    through (a reading at a handover is listed for both wearers)."""
    if registry.worker(db, employee) is None:
        raise error(404, "unknown-worker", f"no worker {employee!r}")
    lo, hi = _window(config, start, end, MAX_READING_DAYS)
    personal = attribution.personal_readings(db, config, employee, lo, hi)
    rows = [{"assignment": w.assignment, "instrument": w.instrument, "point": r.point,
             "quantity": r.quantity, "time": _iso(r.time, config), "value": r.value,
             "unit": r.unit, "quality": r.quality.value}
            for w in personal.worn for r in w.readings]
    return _page(rows, len(rows) or 1, 0, format, f"worker-{employee}-readings")


# ----- instruments -----

@router.get("/instruments", response_model=None, responses=CSV_TOO)
def list_instruments(db: Db, config: Config, type: registry.InstrumentType | None = None,
                     device: str | None = None, limit: Limit = 100, offset: Offset = 0,
                     format: Format = "json") -> Response:
    return _page([_entered(r, config) for r in registry.instruments(db, type=type, device=device)],
                 limit, offset, format, "instruments")


@router.post("/instruments", status_code=201, response_model=None)
def create_instrument(body: registry.InstrumentIn, db: Db, who: Officer,
                      config: Config) -> dict[str, Any]:
    try:
        return _entered(registry.put_instrument(db, body, site=config.site.id, by=who.name,
                                                now=time.time(),
                                                devices=[d.id for d in config.devices]), config)
    except registry.RegistryError as exc:
        raise _refused(exc) from None


@router.post("/instruments/{serial}/corrections", status_code=201, response_model=None)
def correct_instrument(serial: str, body: registry.InstrumentIn, db: Db, who: Officer,
                       config: Config) -> dict[str, Any]:
    if body.serial != serial:
        raise error(422, "serial-mismatch", f"body serial {body.serial!r} is not {serial!r}")
    try:
        row = registry.put_instrument(db, body, site=config.site.id, by=who.name,
                                      now=time.time(), devices=[d.id for d in config.devices],
                                      correct=True)
        return _entered(row, config)
    except registry.RegistryError as exc:
        raise _refused(exc) from None


@router.get("/instruments/{serial}/assignments", response_model=None, responses=CSV_TOO)
def instrument_assignments(serial: str, db: Db, config: Config, limit: Limit = 100,
                           offset: Offset = 0, format: Format = "json") -> Response:
    """Who wore the instrument, from the first assignment on (voided ones included)."""
    if registry.instrument(db, serial) is None:
        raise error(404, "unknown-instrument", f"no instrument {serial!r}")
    rows = registry.assignments(db, instrument=serial, include_void=True)
    return _page([_assignment_out(r, config) for r in rows], limit, offset, format,
                 f"instrument-{serial}-assignments")


# ----- assignments -----

@router.get("/assignments", response_model=None, responses=CSV_TOO)
def list_assignments(db: Db, config: Config, worker: str | None = None,
                     instrument: str | None = None, limit: Limit = 100, offset: Offset = 0,
                     format: Format = "json") -> Response:
    rows = registry.assignments(db, worker=worker, instrument=instrument)
    return _page([_assignment_out(r, config) for r in rows], limit, offset, format,
                 "assignments")


@router.post("/assignments", status_code=201, response_model=None)
def create_assignment(body: registry.AssignmentIn, db: Db, who: Officer,
                      config: Config) -> dict[str, Any]:
    try:
        row = registry.put_assignment(db, body, site=config.site.id, by=who.name,
                                      now=time.time())
    except registry.RegistryError as exc:
        raise _refused(exc) from None
    return _assignment_out(row, config)


@router.post("/assignments/{ident}/corrections", status_code=201, response_model=None)
def correct_assignment(ident: Annotated[int, FastPath(ge=1, le=2**62)], body: registry.AssignmentIn,
                       db: Db, who: Officer, config: Config) -> dict[str, Any]:
    """Replace assignment ``ident`` (``void: true`` cancels it); ``reason`` required."""
    try:
        row = registry.put_assignment(db, body, site=config.site.id, by=who.name,
                                      now=time.time(), corrects=ident)
    except registry.RegistryError as exc:
        raise _refused(exc) from None
    return _assignment_out(row, config)
