"""Dose alerts (docs/workers.md, "Dose alerts"): the alerts raised on workers' dose files,
as stored (``ingest.workers.dose_alerts``) with their push state, and the file's current
view (every worker's alerts touching a year, and the open investigations).

Personal data: officers and inspectors only (``api.routes.workers.registries``: staff keys
403 ``personal-data``, worker keys 403 ``own-file-only``); ``api.personal`` lists the path,
so every request, whoever makes it, is in the access log before the route runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from api.deps import Config
from api.records_deps import CSV_TOO, Format, csv_response
from api.routes.worker_history import cell
from api.routes.workers import Db, Limit, Offset, registries
from ingest.daily.windows import zone
from ingest.workers import dose_alerts, dose_view
from occmon.config.schema import SiteConfig

router = APIRouter(prefix="/api/v1", tags=["workers"], dependencies=[Depends(registries)])
COLUMNS = ("id", "employee", "level", "scope", "quantity", "first", "last", "threshold",
           "dose_msv", "limit_msv", "source", "period", "investigation_open", "trigger",
           "entered", "entered_by", "push", "pushed")
Level = Literal["approaching", "exceeded", "investigate"]


def _today(config: SiteConfig) -> dt.date:
    return dt.datetime.now(zone(config.site.timezone)).date()


def _csv(items: list[dict[str, Any]], cols: tuple[str, ...], name: str) -> Response:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: cell(v) for k, v in i.items()} for i in items)
    return csv_response(buf.getvalue(), name)


@router.get("/dose-alerts", response_model=None, responses=CSV_TOO)
def raised_alerts(db: Db, config: Config,
                  employee: Annotated[str | None, Query(max_length=64)] = None,
                  year: Annotated[int | None, Query(ge=1950, le=2199, description=(
                      "alerts whose window touches this calendar year"))] = None,
                  level: Level | None = None,
                  limit: Limit = 100, offset: Offset = 0,
                  format: Format = "json") -> Response:
    """Every dose alert raised (newest first): a dose at a fraction of its limit
    (``approaching``), over it (``exceeded``), a period above its investigation level
    (``investigate``, with ``investigation_open``); each raised once, with what raised it
    (``trigger``), and its push state (``push``: pending, claimed, sent, gave-up)."""
    total, items = dose_alerts.listed(db, employee=employee, year=year, level=level,
                                      limit=limit, offset=offset, tz=config.site.timezone)
    if format == "csv":
        return _csv(items, COLUMNS, "dose-alerts.csv")
    return JSONResponse({"site": config.site.id, "total": total, "limit": limit,
                         "offset": offset, "items": items})


def _touches(alert: dict[str, Any], year: int) -> bool:
    first, last = alert["first"][:4], alert["last"][:4]
    return int(first) <= year <= int(last) or (alert["scope"] == "pregnancy" and
                                               int(last) >= year)


@router.get("/dose-alerts/current", response_model=None, responses=CSV_TOO)
def current_alerts(db: Db, config: Config,
                   year: Annotated[int | None, Query(ge=1970, le=2199, description=(
                       "calendar year (default: this year)"))] = None,
                   format: Format = "json") -> Response:
    """The dose files as read now: every worker's alerts touching ``year`` (at or above
    ``personal_dose.alert_fraction`` of a limit, or over it) and every open investigation,
    whatever its year."""
    when = year or _today(config).year
    items: list[dict[str, Any]] = []
    for employee in dose_view.workers_with_results(db):
        f = dose_view.dose_file(db, config, employee, time.time())
        items += [{"employee": employee, "kind": "alert", **a}
                  for a in f["alerts"] if _touches(a, when)]
        items += [{"employee": employee, "kind": "investigation-open", "scope": "period",
                   "quantity": "hp10", "first": i["start"], "last": i["end"],
                   "dose_msv": i["hp10_msv"], "limit_msv": i["level_msv"],
                   "level": "investigate", "period": i["period"]}
                  for i in f["investigations"] if i["open"]]
    if format == "csv":
        return _csv(items, ("employee", "kind", "scope", "quantity", "first", "last",
                            "dose_msv", "limit_msv", "level", "period", "source"),
                    f"dose-alerts-{when}.csv")
    return JSONResponse({"site": config.site.id, "year": when, "total": len(items),
                         "items": items})
