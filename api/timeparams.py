"""Query-parameter parsing with specific 422 messages: days, times, limits, cursors.

Every day and time the API accepts passes through here, and here only it is held to the
window the API can do arithmetic on: from the epoch (the store has nothing earlier: its times
are epoch seconds) to a few days before ``datetime``'s last day, so a day's local window, its
shifts, the day after it and any UTC offset stay representable. Outside it is a 422 naming
the parameter, never an overflow deep in a query (a 500).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query

from api.errors import error
from occmon.model import parse_time

MAX_LIMIT = 10_000
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(9999, 12, 29)
EARLIEST = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
LATEST = dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(), dt.UTC)
WINDOW = f"{EARLIEST:%Y-%m-%dT%H:%M:%SZ} .. {LATEST:%Y-%m-%dT%H:%M:%SZ}"
# OpenAPI formats of the day and time strings: clients and schemathesis generate real dates;
# the checks (and their 422 messages) stay here, not in pydantic
DAY: dict[str, Any] = {"format": "date"}
TIME: dict[str, Any] = {"format": "date-time"}
DayPath = Annotated[str, Path(description="a day YYYY-MM-DD (site local)", json_schema_extra=DAY)]
# the time window and the page of a listing (exceedances, instrument events)
MAX_PAGE = 1000
StartQuery = Annotated[str | None, Query(description="ISO 8601 with offset, inclusive",
                                         json_schema_extra=TIME)]
EndQuery = Annotated[str | None, Query(description="ISO 8601 with offset, exclusive",
                                       json_schema_extra=TIME)]
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PageOffset = Annotated[int, Query(ge=0, le=10_000_000)]


def unprocessable(message: str, parameter: str | None = None) -> HTTPException:
    return error(422, "invalid-parameter", message, parameter)


def check_time(name: str, text: str, epoch: float) -> float:
    """``epoch`` when it lies inside the API's time window, else a 422 naming ``name``."""
    if not EARLIEST.timestamp() <= epoch <= LATEST.timestamp():
        raise unprocessable(f"{name}={text!r} is outside the times this API accepts "
                            f"({WINDOW})", name)
    return epoch


def parse_iso(name: str, text: str) -> float:
    """An ISO 8601 time with a UTC offset (``Z`` or ``+08:00``) to epoch seconds."""
    try:
        epoch = parse_time(text)
    except ValueError as exc:
        raise unprocessable(
            f"{name}={text!r} is not an ISO 8601 time with an offset "
            f"(e.g. 2026-05-28T08:00:00+08:00): {exc}", name
        ) from None
    return check_time(name, text, epoch)


def parse_day(name: str, text: str) -> dt.date:
    """A calendar day ``YYYY-MM-DD`` (site local) inside the API's day window."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise unprocessable(f"{name}={text!r} is not a date YYYY-MM-DD", name) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise unprocessable(f"{name}={text!r} is outside the days this API accepts "
                            f"({FIRST_DAY} .. {LAST_DAY})", name)
    return day


def check_range(start: float, end: float, start_text: str, end_text: str) -> None:
    if start > end:
        raise unprocessable(f"start {start_text!r} is after end {end_text!r}", "end")


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise unprocessable(f"limit must be between 1 and {MAX_LIMIT}, got {limit}", "limit")
    return limit


def encode_cursor(quantity: str, time: float) -> str:
    raw = json.dumps([quantity, time], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[str, float]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        quantity, time = json.loads(raw)
        if not isinstance(quantity, str) or not isinstance(time, int | float):
            raise ValueError("wrong shape")
        if isinstance(time, bool) or not math.isfinite(time):
            raise ValueError("wrong time")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError,
            RecursionError):
        raise unprocessable(f"cursor {text!r} is not one this API issued", "cursor") from None
    return quantity, float(time)
