"""Points: their latest values (never a stale one shown as live) and their history."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request

from api.deps import Config, Store
from api.errors import error
from api.models import PointOut, ReadingsPage
from api.records_deps import Records
from api.timeparams import (
    MAX_LIMIT,
    TIME,
    check_limit,
    check_range,
    decode_cursor,
    encode_cursor,
    parse_iso,
    unprocessable,
)
from api.today import todays, verdict_out
from api.views import point_out, reading_out
from occmon.config.schema import Point, SiteConfig
from occmon.model import iso_utc
from occmon.quantities import QUANTITIES

router = APIRouter(prefix="/api/v1/points", tags=["points"])


def find_point(config: SiteConfig, point_id: str) -> Point:
    try:
        return config.point(point_id)
    except KeyError:
        raise error(404, "unknown-point",
                    f"point {point_id!r} is not in the site configuration") from None


def _points(request: Request, config: SiteConfig, store: Store, records: Records,
            chosen: list[Point]) -> list[PointOut]:
    now = time.time()
    day = todays(request, config, records, now)
    return [point_out(config, point, store, now,
                      verdict_out(day.records[point.id], day.provisional)
                      if point.id in day.records else None) for point in chosen]


@router.get("", response_model=list[PointOut])
def list_points(request: Request, config: Config, store: Store,
                records: Records) -> list[PointOut]:
    """Every configured point: per quantity the latest value against its limits (PC-TWA,
    PC-STEL, MAC with their source) and the alarm set-points, its level (normal, pre-alarm,
    alarm, high, fault, offline: a stale value is never live), the gateway's alarm level,
    the devices feeding it, and the day's verdict so far (provisional while the day is open).
    """
    return _points(request, config, store, records, list(config.points))


@router.get("/{point_id}", response_model=PointOut)
def get_point(request: Request, point_id: str, config: Config, store: Store,
              records: Records) -> PointOut:
    """One point, as in the list."""
    (out,) = _points(request, config, store, records, [find_point(config, point_id)])
    return out


@router.get("/{point_id}/readings", response_model=ReadingsPage)
def get_readings(
    point_id: str,
    config: Config,
    store: Store,
    start: str = Query(description="ISO 8601 with offset, inclusive", json_schema_extra=TIME),
    end: str = Query(description="ISO 8601 with offset, exclusive", json_schema_extra=TIME),
    quantity: str | None = Query(default=None, description="e.g. concentration, laeq; "
                                 "another value is a 422 naming it",
                                 json_schema_extra={"enum": list(QUANTITIES)}),
    limit: int = Query(default=1000, description=f"rows per page, 1..{MAX_LIMIT}"),
    cursor: str | None = Query(default=None, description="the 'next' of the previous page"),
) -> ReadingsPage:
    """Readings with start <= time < end, ordered by quantity then time, page by page."""
    point = find_point(config, point_id)
    t0, t1 = parse_iso("start", start), parse_iso("end", end)
    check_range(t0, t1, start, end)
    check_limit(limit)
    if quantity is not None and quantity not in QUANTITIES:
        raise unprocessable(f"quantity {quantity!r} is not one of {sorted(QUANTITIES)}",
                            "quantity")
    after = decode_cursor(cursor) if cursor is not None else None
    page, more = store.readings(point.id, t0, t1, quantity=quantity, limit=limit, after=after)
    return ReadingsPage(
        point=point.id,
        start=iso_utc(t0),
        end=iso_utc(t1),
        quantity=quantity,
        count=len(page),
        readings=[reading_out(r) for r in page],
        next=encode_cursor(*more) if more else None,
    )
