"""When an instrument was last calibrated and when it falls due again: one rule for all.

The gateway's "calibration overdue" warning (``gateway.calibrations``) and the records'
calibration lines (``ingest.instrument_events``, ``ingest.daily.spec``) must never disagree
about what counts as a calibration, or the board would clear a warning the daily record
still calls overdue. The rule, in one place:

* an instrument event counts when it is a ``calibration`` whose result is not ``failed``
  (an unknown result counts: the instrument went through its calibration sequence; a bump
  test never counts, it checks the response but adjusts nothing);
* it is dated by the site-local day its calibration ended;
* it replaces the date typed into the site file only when it is later than that date;
* the next calibration falls due that day + the instrument's ``calibration_interval_days``,
  at the site's local midnight.

Pure: dates and mappings in, dates and timestamps out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

CALIBRATION = "calibration"
FAILED = "failed"


def counts(event: Mapping[str, Any]) -> bool:
    """True for a calibration that did not fail (the result as known: the instrument's own,
    or an officer's note where the caller merged one in)."""
    return event.get("event") == CALIBRATION and event.get("result") != FAILED


def ended(event: Mapping[str, Any], fallback: float) -> float:
    """When a test ended (epoch seconds): its ``end`` (ISO 8601) if parseable, else
    ``fallback`` (e.g. the time the event was stored)."""
    text = event.get("end")
    if isinstance(text, str):
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return fallback


def local_day(epoch: float, tz: ZoneInfo) -> dt.date:
    """The site-local date of an instant: what a calibration is dated by."""
    return dt.datetime.fromtimestamp(epoch, tz).date()


def later(typed: dt.date | None, reported: dt.date | None) -> dt.date | None:
    """The calibration date that stands: the reported one only when later than the typed."""
    if reported is not None and (typed is None or reported > typed):
        return reported
    return typed


def due_date(calibrated: dt.date, interval_days: int) -> dt.date:
    """The date the next calibration falls due."""
    return calibrated + dt.timedelta(days=interval_days)


def due_at(calibrated: dt.date, interval_days: int, tz: ZoneInfo) -> float:
    """The instant the next calibration falls due: the due date's local midnight."""
    midnight = dt.datetime.combine(due_date(calibrated, interval_days), dt.time(), tzinfo=tz)
    return midnight.timestamp()
