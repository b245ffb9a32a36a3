"""Today's records so far, computed on demand and kept for a minute.

The board and ``/api/v1/points`` both show the day's verdict per point; computing a day
reads every reading of it, so one computation serves every request of the next minute.
While the day is open its records and exceedances are provisional (they may still change,
and they are not in the ledger).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from api.models import DayVerdict
from api.records_deps import today
from ingest.daily.close import compute_day
from ingest.daily.closing import is_open
from ingest.daily.store import RecordsStore
from occmon.config.schema import SiteConfig

TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class Today:
    day: dt.date
    provisional: bool
    records: dict[str, dict[str, Any]]  # point -> the whole-day record (no shift)
    exceedances: list[dict[str, Any]]  # the day's exceedances so far


def todays(request: Request, config: SiteConfig, store: RecordsStore, now: float) -> Today:
    """The day's whole-day records and exceedances, from the minute's cache if fresh."""
    day = today(config, now)
    cache: Today | None = getattr(request.app.state, "today_cache", None)
    stamp: float = getattr(request.app.state, "today_cache_time", 0.0)
    if cache is not None and cache.day == day and now - stamp < TTL_S:
        return cache
    computed = compute_day(store.conn, config, day)
    records = {d.content["point"]: d.content for d in computed.drafts
               if d.kind == "daily-record" and d.shift == ""}
    result = Today(day, is_open(config, day, now), records, list(computed.events))
    request.app.state.today_cache = result
    request.app.state.today_cache_time = now
    return result


def verdict_out(record: dict[str, Any], provisional: bool) -> DayVerdict:
    return DayVerdict(day=str(record["day"]), verdict=str(record["verdict"]),
                      verdict_en=str(record["verdict_en"]), provisional=provisional,
                      coverage_pct=record.get("coverage_pct"), max=record.get("max"),
                      c_twa=record.get("c_twa"), failed=list(record.get("failed") or []),
                      exceedances=list(record.get("exceedances") or []))
