"""Days and shifts in the site's time zone, as epoch-second windows (time is an argument)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from occmon.config.records import RecordsConfig, Shift

# Without configured shifts a fixed point runs continuously: three 8-h shifts from 00:00.
CONTINUOUS = (
    Shift(name="0-8", start="00:00", hours=8),
    Shift(name="8-16", start="08:00", hours=8),
    Shift(name="16-24", start="16:00", hours=8),
)


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) epoch seconds; ``working`` the hours worked in it when a shift declares
    breaks (None: the whole window is worked)."""

    name: str
    start: float
    end: float
    working: float | None = None

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3600.0

    @property
    def working_hours(self) -> float:
        """Hours worked: the span less the shift's breaks. The long-shift reduction factor
        (GBZ 2.1-2019 A.7.3) counts these, not the span."""
        return self.hours if self.working is None else self.working


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_window(day: dt.date, tz: ZoneInfo) -> Window:
    """[local midnight, next local midnight): 23 or 25 h on a DST change, else 24 h."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).timestamp()
    return Window(day.isoformat(), start, end)


def shift_windows(day: dt.date, tz: ZoneInfo, records: RecordsConfig | None) -> list[Window]:
    """The shifts that start on ``day`` (a night shift belongs to the day it starts)."""
    shifts = records.shifts if records is not None and records.shifts else CONTINUOUS
    out = []
    for shift in shifts:
        start = dt.datetime.combine(day, shift.start_time(), tzinfo=tz).timestamp()
        working = shift.working_hours if shift.breaks else None
        out.append(Window(shift.name, start, start + shift.hours * 3600.0, working))
    return out


def local_day(at: float, tz: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(at, tz).date()


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"day {text!r} is not a date YYYY-MM-DD") from None


def iso_local(at: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(at, tz).isoformat(timespec="seconds")
