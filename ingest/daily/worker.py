"""Closes each day once the closing rule allows it (``closing.require_ended``: the day has
ended in the site's time zone plus ``records.close_grace_min``), and not before
``records.close_after`` local time the next day (the schedule of the automatic close).

A small thread beside ingest (``occmon run`` starts it). ``due(now)`` is the pure part over
the store's state: which days to close at ``now``; ``tick(now)`` closes them through
``close_day``, which applies the same rule again. Days are taken from the oldest reading
(at most ``MAX_BACKFILL_DAYS`` back): every day not yet closed, and every day closed before
it had ended (by an occmon without the rule), which is closed again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time as clock
from pathlib import Path

from ingest.daily.close import close_day
from ingest.daily.closing import last_closable, window_of
from ingest.daily.store import DayResult, RecordsStore
from ingest.daily.windows import local_day, zone
from occmon.config.schema import SiteConfig

log = logging.getLogger("occmon.records")
MAX_BACKFILL_DAYS = 31


def scheduled_last(now: float, tz_name: str, close_after: str) -> dt.date:
    """The last day the schedule closes at ``now``: yesterday once ``close_after`` is past."""
    hh, mm = (int(p) for p in close_after.split(":"))
    local_now = dt.datetime.fromtimestamp(now, zone(tz_name))
    return (local_now - dt.timedelta(hours=hh, minutes=mm)).date() - dt.timedelta(days=1)


class DayCloser:
    def __init__(self, config: SiteConfig, store_path: Path | None = None,
                 interval_s: float = 60.0) -> None:
        self.config = config
        self.path = Path(store_path or config.store.path)
        self.interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, now: float) -> list[dt.date]:
        tz = zone(self.config.site.timezone)
        with RecordsStore(self.path) as store:
            closures = {dt.date.fromisoformat(d): float(at) for d, at in store.conn.execute(
                "SELECT day, closed_at FROM day_closures")}
            row = store.conn.execute("SELECT MIN(time) FROM readings").fetchone()
        oldest = row[0] if row else None
        if not closures and oldest is None:
            return []
        first = local_day(float(oldest), tz) if oldest is not None else local_day(now, tz)
        first = max(first, local_day(now, tz) - dt.timedelta(days=MAX_BACKFILL_DAYS))
        close_after = self.config.records.close_after if self.config.records else "00:30"
        last = min(last_closable(self.config, now),
                   scheduled_last(now, self.config.site.timezone, close_after))
        out = []
        day = first
        while day <= last:
            closed_at = closures.get(day)
            if closed_at is None or closed_at < window_of(self.config, day).closable_from:
                out.append(day)
            day += dt.timedelta(days=1)
        return out

    def tick(self, now: float) -> list[DayResult]:
        out = []
        for day in self.due(now):
            result = close_day(self.path, self.config, day, now)
            log.info("closed %s: %d new, %d corrected", day, result.new, result.corrected)
            out.append(result)
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(clock.time())
            except Exception:  # a failed close is retried next tick; it never stops ingest
                log.exception("closing days failed; retrying in %.0f s", self.interval)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="day-closer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking; a close under way finishes in its daemon thread (it is idempotent,
        so a close cut short by the process exiting is simply done again next start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
