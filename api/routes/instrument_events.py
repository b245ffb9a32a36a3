"""Instrument events (state changes, bump tests, calibrations), officers' notes on who
performed a test and how it ended, and each device's calibration record.

Thin shell over ``ingest.instrument_events``. Every role that reads may list (an inspector's
requests go to the access log like any other); only an officer adds a note, which is a
ledger entry. Times leave as ISO 8601 with the site's offset, like the exceedances.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.auth import Officer
from api.deps import Config
from api.errors import error
from api.records_deps import CSV_TOO, Format, Lang, Records, RecordsWriter, csv_response
from api.routes.exceedances import at_offset
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
from ingest import instrument_events as ie
from ingest.daily import export
from ingest.daily.windows import zone
from occmon.config.schema import SiteConfig

router = APIRouter(prefix="/api/v1", tags=["instrument events"])
EventName = Literal["state-changed", "bump-test", "calibration"]
_ISO_FIELDS = ("time", "start", "end", "since")


def _tz(config: SiteConfig) -> ZoneInfo:
    return zone(config.site.timezone)


def _iso(value: Any, config: SiteConfig) -> Any:
    """An epoch or RFC 3339 time as ISO 8601 with the site's offset; anything else as is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return at_offset(float(value), config)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return at_offset(moment.timestamp(), config)
    return value


def outward(item: dict[str, Any], config: SiteConfig) -> dict[str, Any]:
    out = {**item, **{k: _iso(item[k], config) for k in _ISO_FIELDS if k in item}}
    out["notes"] = [{**n, "time": _iso(n["time"], config)} for n in item.get("notes", [])]
    return out


def _g(name: str) -> Any:
    return lambda row: ", ".join(map(str, row[name])) if isinstance(row.get(name), list) \
        else row.get(name)


COLUMNS = (
    ("id", "事件编号", "event id", _g("id")),
    ("time", "时间", "time", _g("time")),
    ("event", "事件", "event", _g("event")),
    ("device", "设备", "device", _g("device")),
    ("sensors", "传感器", "sensors", _g("sensors")),
    ("points", "监测点", "points", _g("points")),
    ("state", "状态", "state", _g("state")),
    ("previous", "原状态", "previous state", _g("previous")),
    ("start", "开始", "start", _g("start")),
    ("end", "结束", "end", _g("end")),
    ("duration_s", "时长(秒)", "duration (s)", _g("duration_s")),
    ("result", "结果", "result", _g("result")),
    ("result_source", "结果来源", "result from", _g("result_source")),
    ("who", "执行人", "performed by", _g("who")),
    ("who_source", "执行人来源", "performed by from", _g("who_source")),
)


@router.get("/instrument-events", response_model=None, responses=CSV_TOO)
def list_instrument_events(
    config: Config, store: Records,
    device: str | None = None, point: str | None = None, sensor: str | None = None,
    event: EventName | None = None,
    start: StartQuery = None, end: EndQuery = None,
    limit: PageLimit = 100, offset: PageOffset = 0,
    format: Format = "json", lang: Lang = "zh",
) -> dict[str, Any] | Response:
    """Instrument events newest first, filtered; ``next_offset`` pages on (null on the last
    page). ``who`` / ``result`` are the instrument's own, else an officer's latest note
    (``who_source`` / ``result_source``: ``instrument`` or ``officer``)."""
    t0 = parse_iso("start", start) if start is not None else None
    t1 = parse_iso("end", end) if end is not None else None
    if t0 is not None and t1 is not None:
        check_range(t0, t1, str(start), str(end))
    f = ie.Filters(device=device, point=point, sensor=sensor, event=event, start=t0, end=t1)
    total, items = ie.list_events(store.conn, f, _tz(config), limit=limit,
                                   offset=offset)
    shown = [outward(i, config) for i in items]
    if format == "csv":
        return csv_response(export.to_csv(shown, COLUMNS, lang), "instrument-events.csv")
    more = offset + len(items) < total
    return JSONResponse({"site": config.site.id, "total": total, "limit": limit,
                         "offset": offset, "next_offset": offset + len(items) if more else None,
                         "items": shown})


@router.get("/instrument-events/{event_id}", response_model=None)
def get_instrument_event(event_id: str, config: Config, store: Records) -> dict[str, Any]:
    """One instrument event with its officers' notes."""
    found = ie.find(store.conn, event_id, _tz(config))
    if found is None:
        raise error(404, "unknown-instrument-event",
                    f"instrument event {event_id!r} is not recorded")
    return outward(found, config)


class NoteIn(BaseModel):
    who: str | None = Field(default=None, min_length=1, max_length=100,
                            description="who performed the test")
    result: Literal["passed", "failed"] | None = Field(
        default=None, description="how it ended, where the instrument does not say")
    note: str = Field(default="", max_length=2000)
    when: dt.datetime | None = Field(default=None, description="when it was performed "
                                     "(ISO 8601 with offset), if not the event's own time")


@router.post("/instrument-events/{event_id}/notes", status_code=201, response_model=None)
def add_note(event_id: str, body: NoteIn, config: Config, store: RecordsWriter,
             who: Officer) -> dict[str, Any]:
    """Record who performed a bump test or calibration and its result (officer only):
    an append-only ledger entry (kind ``instrument-note``); a later note supersedes."""
    if body.who is None and body.result is None and not body.note:
        raise unprocessable("a note needs at least one of who, result or note", "who")
    when = None
    if body.when is not None:
        if body.when.tzinfo is None:
            raise unprocessable("when needs a UTC offset, e.g. 2026-05-12T10:00:00+08:00",
                                "when")
        when = body.when.isoformat()
        check_time("when", when, body.when.timestamp())
    try:
        with store.transaction() as conn:
            entry = ie.annotate(conn, event_id, who=body.who, result=body.result,
                                note=body.note, when=when, key=who.name,
                                site=config.site.id, tz=_tz(config), now=time.time())
    except ie.NotFound:
        raise error(404, "unknown-instrument-event",
                    f"instrument event {event_id!r} is not recorded") from None
    except ie.NotATest as exc:
        raise error(409, "not-a-test", str(exc)) from None
    except ie.Contradicts as exc:
        raise error(409, "result-from-instrument", str(exc)) from None
    return {"event": event_id, "seq": entry.seq, "entry_sha256": entry.entry_sha256}


@router.get("/devices/{device}/calibration", response_model=None)
def calibration_record(device: str, config: Config, store: Records) -> dict[str, Any]:
    """The device's calibration record: per sensor its calibrations and bump tests (with
    notes), the last calibration (``calibration_source``: ``event`` or ``site-file``) and
    the next due date (last calibration + ``calibration_interval_days``)."""
    if device not in {d.id for d in config.devices}:
        raise error(404, "unknown-device", f"device {device!r} is not in the site file")
    sensors = ie.calibration_record(store.conn, config, device, time.time())
    for s in sensors:
        s["calibrations"] = [outward(t, config) for t in s["calibrations"]]
        s["bump_tests"] = [outward(t, config) for t in s["bump_tests"]]
    return {"site": config.site.id, "device": device, "sensors": sensors}
