"""When a day may be closed: the one rule ``occmon records close``, the API close and sign
routes and the ``DayCloser`` worker all obey.

A day closes into the ledger for good (a close is an append-only entry, signed later), so it
must not be closed before it is over: a day may be closed once it has ended in the site's
time zone **and** ``records.close_grace_min`` has passed since, so readings that arrive a
little late (store-and-forward queues, a gateway that reconnects) are in the first close.
Before that the day is *open*: its records are computed on demand and marked provisional
(临时), never stored, never signed. Data that arrives after the close still becomes a
correction entry at the next close (``RecordsStore.apply_day``).

Pure: the day, ``now`` and the zone in, a verdict or :class:`DayOpen` out; no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ingest.daily.windows import day_window, iso_local, local_day, zone
from occmon.config.records import DEFAULT_CLOSE_GRACE_MIN
from occmon.config.schema import SiteConfig

CODE = "day-open"
# Readings are epoch seconds: no day before 1970 has any; a day after 9999-12-30 has no end
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9999, 12, 30)


class DayOutOfRange(ValueError):
    """A day no reading can have (bad input: CLI exit 2, HTTP 422), not an open day."""


class DayOpen(ValueError):
    """The day has not ended (plus the grace for late data): it may not be closed or signed."""

    code = CODE

    def __init__(self, window: ClosingWindow, now: float) -> None:
        self.window = window
        self.now = now
        super().__init__(window.refusal(now))


@dataclass(frozen=True, slots=True)
class ClosingWindow:
    """When ``day`` ends in ``timezone`` and from when it may be closed (epoch seconds)."""

    day: dt.date
    timezone: str
    ends_at: float
    grace_s: float

    @property
    def closable_from(self) -> float:
        return self.ends_at + self.grace_s

    def is_open(self, now: float) -> bool:
        return now < self.closable_from

    def refusal(self, now: float) -> str:
        tz = zone(self.timezone)
        return (f"{CODE}: day {self.day} has not ended in {self.timezone} (now "
                f"{iso_local(now, tz)}): it ends {iso_local(self.ends_at, tz)} and may be "
                f"closed or signed from {iso_local(self.closable_from, tz)}, after "
                f"records.close_grace_min = {self.grace_s / 60:g} min for late data; until "
                "then its records are provisional (computed on demand, not in the ledger)")


def closing_window(day: dt.date, timezone: str, grace_s: float) -> ClosingWindow:
    """The day's end is the next local midnight (a 23 or 25 h day on a DST change)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise DayOutOfRange(f"day {day} is out of range: use a day from {FIRST_DAY} to "
                            f"{LAST_DAY}")
    return ClosingWindow(day, timezone, day_window(day, zone(timezone)).end, grace_s)


def grace_s(config: SiteConfig) -> float:
    minutes = (config.records.close_grace_min if config.records is not None
               else DEFAULT_CLOSE_GRACE_MIN)
    return float(minutes) * 60.0


def window_of(config: SiteConfig, day: dt.date) -> ClosingWindow:
    return closing_window(day, config.site.timezone, grace_s(config))


def require_ended(config: SiteConfig, day: dt.date, now: float) -> ClosingWindow:
    """THE rule: return the day's window if it may be closed at ``now``, else raise
    :class:`DayOpen` with a message that says when it may be."""
    window = window_of(config, day)
    if window.is_open(now):
        raise DayOpen(window, now)
    return window


def is_open(config: SiteConfig, day: dt.date, now: float) -> bool:
    """True while ``day``'s records are provisional (the rule refuses to close it)."""
    return window_of(config, day).is_open(now)


def last_closable(config: SiteConfig, now: float) -> dt.date:
    """The latest day the rule lets close at ``now`` (yesterday, or the day before during the
    grace after midnight)."""
    day = local_day(now, zone(config.site.timezone))
    while is_open(config, day, now):
        day -= dt.timedelta(days=1)
    return day
