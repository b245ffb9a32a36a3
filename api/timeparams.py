"""Query-parameter parsing with specific 422 messages: times, limits, cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math

from fastapi import HTTPException

from occmon.model import parse_time

MAX_LIMIT = 10_000


def unprocessable(message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=message)


def parse_iso(name: str, text: str) -> float:
    """An ISO 8601 time with a UTC offset (``Z`` or ``+08:00``) to epoch seconds."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise unprocessable(
            f"{name}={text!r} is not an ISO 8601 time with an offset "
            f"(e.g. 2026-05-28T08:00:00+08:00): {exc}"
        ) from None


def check_range(start: float, end: float, start_text: str, end_text: str) -> None:
    if start > end:
        raise unprocessable(f"start {start_text!r} is after end {end_text!r}")


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise unprocessable(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
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
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise unprocessable(f"cursor {text!r} is not one this API issued") from None
    return quantity, float(time)
