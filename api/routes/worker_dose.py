"""The personal dose file (docs/workers.md, "Personal dose file"): lab reports in, nominal
doses for lost dosimeters, investigation findings, pregnancy declarations, and the alerts an
officer works from.

Same access as the worker routes (``api.routes.workers.registries``): officers write,
inspectors read (logged by ``api.auth``), a worker key reads its own file only, staff keys
get 403 ``personal-data``; every request is in the access log.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Officer
from api.deps import Config
from api.errors import error
from api.records_deps import csv_response
from api.routes.worker_history import PRINTABLE, cell
from api.routes.workers import Db, registries
from ingest.daily.windows import iso_local, zone
from ingest.workers import dose_alerts, dose_printout, dose_view, doses, printout, registry
from occmon.config.schema import SiteConfig

router = APIRouter(prefix="/api/v1", tags=["workers"], dependencies=[Depends(registries)])
MAX_CSV_BYTES = 20_000_000
PERIOD_COLUMNS = ("period", "source", "dosimeter", "start", "end", "days", "hp10_msv",
                  "hp007_msv", "hp3_msv", "below_mdl", "mdl_msv", "counted",
                  "investigation_level_msv", "investigate", "investigation_open",
                  "recording_level_msv", "below_recording_level", "lab", "report", "method",
                  "reason", "entered_by")


def _today(config: SiteConfig) -> dt.date:
    return dt.datetime.now(zone(config.site.timezone)).date()


def _row(row: dict[str, Any], config: SiteConfig) -> dict[str, Any]:
    """A stored row as answered: its entry time as ISO 8601 at the site's offset."""
    return {**row, "entered": iso_local(row["entered"], zone(config.site.timezone))}


def _refused(exc: registry.RegistryError) -> HTTPException:
    return error(exc.status, exc.code, str(exc))


def _file(db: Db, config: SiteConfig, employee: str) -> dict[str, Any]:
    try:
        return dose_view.dose_file(db, config, employee, time.time())
    except registry.RegistryError as exc:
        raise _refused(exc) from None


@router.post("/workers/doses", status_code=201, response_model=None)
def import_doses(db: Db, who: Officer, config: Config,
                 text: Annotated[str, Body(media_type="text/csv", description=(
                     "the lab's CSV: " + ",".join(doses.LAB_COLUMNS)))]) -> dict[str, Any]:
    """A lab report, entered as a unit: every row, or none (422 ``dose-import-refused``
    with every bad row's line, column and code in ``rows``)."""
    if len(text) > MAX_CSV_BYTES:
        raise error(422, "too-large", f"a report is at most {MAX_CSV_BYTES} bytes; split it",
                    "body")
    try:
        rows = doses.import_lab_csv(db, text, site=config.site.id, by=who.name,
                                    now=time.time(), today=_today(config),
                                    factor=config.personal_dose.mdl_factor)
    except doses.ImportRefused as exc:
        raise HTTPException(422, detail={
            "code": "dose-import-refused", "message": str(exc),
            "rows": [e.as_dict() for e in exc.errors]}) from None
    employees = sorted({r["employee"] for r in rows})
    alerts = {e: _file(db, config, e)["alerts"] for e in employees}
    raised = _raise(db, config, employees, "lab-import", who.name)
    return {"entered": len(rows), "ids": [r["id"] for r in rows],
            "alerts": {e: a for e, a in alerts.items() if a}, "raised": raised}


def _raise(db: Db, config: SiteConfig, employees: list[str], trigger: str,
           by: str) -> dict[str, list[dict[str, Any]]]:
    """Dose alerts newly raised on these workers' files (stored, ledgered, queued for
    ingest to push: ``ingest.workers.dose_alerts``), as answered."""
    found = dose_alerts.evaluate_all(db, config, employees, now=time.time(),
                                     today=_today(config), trigger=trigger, by=by)
    return {e: [_row({k: v for k, v in r.items() if k != "seq"}, config) for r in rows]
            for e, rows in found.items()}


@router.get("/workers/{employee}/doses", response_model=None, responses=PRINTABLE)
def worker_doses(employee: str, db: Db, config: Config,
                 format: Literal["json", "csv", "pdf", "html"] = "json") -> Response:
    """The worker's whole dose file, and ``history``: every result row ever entered
    (corrected and voided ones too); ``format=csv``: one line per period; ``pdf`` / ``html``:
    the printed personal dose record (个人剂量档案, GBZ 128-2019), which the worker's own key
    may download (the worker may consult and copy their record)."""
    found = _file(db, config, employee)
    if format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=PERIOD_COLUMNS, extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: cell(v) for k, v in {**p, "below_mdl": "|".join(p["below_mdl"])
                                                  }.items()} for p in found["periods"])
        return csv_response(buf.getvalue(), f"worker-{employee}-doses.csv")
    history = [_row(r, config) for r in doses.result_history(db, employee)]
    if format in ("pdf", "html"):
        worker = registry.worker(db, employee)
        assert worker is not None  # _file found it
        sheet = dose_printout.dose_record_sheet(
            config.site.name.model_dump(), worker, found,
            {r["id"]: r["entered"] for r in history})
        name = f"worker-{employee}-dose-record"
        if format == "pdf":
            return Response(printout.to_pdf(sheet), media_type="application/pdf",
                            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
        return HTMLResponse(printout.to_html(sheet))
    return JSONResponse({"site": config.site.id, "employee": employee, **found,
                         "raised_alerts": dose_alerts.of_worker(db, employee,
                                                                config.site.timezone),
                         "history": history})


class NominalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dosimeter: str = Field(min_length=1, max_length=64, description="the lost dosimeter")
    start: dt.date
    end: dt.date
    method: Literal["previous-year", "pro-rata-limit", "given"]
    hp10_msv: float | None = Field(default=None, ge=0, le=1000,
                                   description="method 'given' only: the officer's figure")
    reason: str = Field(min_length=1, max_length=1000,
                        description="what was lost, when, and why this method")


@router.post("/workers/{employee}/doses/nominal", status_code=201, response_model=None)
def nominal_dose(employee: str, body: NominalIn, db: Db, who: Officer,
                 config: Config) -> dict[str, Any]:
    """A lost dosimeter's nominal Hp(10), entered with who and why."""
    if body.method != "given" and body.hp10_msv is not None:
        raise error(422, "invalid-parameter", f"'hp10_msv' is for method 'given' only, not "
                    f"{body.method!r} (whose figure occmon computes)", "hp10_msv")
    try:
        out = _row(dose_view.nominal(db, config, employee, dosimeter=body.dosimeter,
                                     start=body.start, end=body.end, method=body.method,
                                     hp10_msv=body.hp10_msv, reason=body.reason,
                                     by=who.name, now=time.time(), today=_today(config)),
                   config)
    except registry.RegistryError as exc:
        raise _refused(exc) from None
    return {**out, "raised": _raise(db, config, [employee], "nominal", who.name)}


class InvestigationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    findings: str = Field(min_length=1, max_length=5000,
                          description="what the investigation found and what was done")


@router.post("/workers/{employee}/doses/{period}/investigation", status_code=201,
             response_model=None)
def record_investigation(employee: str,
                         period: Annotated[str, FastPath(max_length=64)],
                         body: InvestigationIn, db: Db, who: Officer,
                         config: Config) -> dict[str, Any]:
    """An officer's findings on a period (its ``period`` key: a result id, or ``EPD:YYYY-MM``);
    the period's investigation is closed from then on."""
    known = [p["period"] for p in _file(db, config, employee)["periods"]]
    try:
        return _row(doses.put_investigation(db, employee, period, body.findings,
                                            site=config.site.id, by=who.name,
                                            now=time.time(), known=known), config)
    except registry.RegistryError as exc:
        raise _refused(exc) from None


class PregnancyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    declared: dt.date = Field(description="the day the worker declared the pregnancy")
    ended: dt.date | None = None
    corrects: int | None = Field(default=None, ge=1, description="a declaration's id")
    reason: str = Field(default="", max_length=1000)


@router.post("/workers/{employee}/pregnancy", status_code=201, response_model=None)
def declare_pregnancy(employee: str, body: PregnancyIn, db: Db, who: Officer,
                      config: Config) -> dict[str, Any]:
    """A declared pregnancy: from ``declared`` on, Hp(10) is held to the public level."""
    try:
        out = _row(doses.put_pregnancy(db, employee, body.declared, body.ended,
                                       reason=body.reason, corrects=body.corrects,
                                       site=config.site.id, by=who.name, now=time.time(),
                                       today=_today(config)), config)
    except registry.RegistryError as exc:
        raise _refused(exc) from None
    return {**out, "raised": _raise(db, config, [employee], "pregnancy", who.name)}
