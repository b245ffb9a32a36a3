"""Closes each day once it has ended in the site's time zone (plus ``records.close_after``).

A small thread beside ingest (``occmon run`` starts it). ``due(now)`` is the pure part: which
days to close at ``now``; ``tick(now)`` closes them. The first day is the one of the oldest
reading, so a store that starts mid-history is closed day by day.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time as clock
from pathlib import Path

from ingest.daily import query
from ingest.daily.close import close_day
from ingest.daily.store import DayResult, RecordsStore
from ingest.daily.windows import closable_days, local_day, zone
from occmon.config.schema import SiteConfig

log = logging.getLogger("occmon.records")
MAX_BACKFILL_DAYS = 31


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
            last = query.last_closed(store.conn)
            row = store.conn.execute("SELECT MIN(time) FROM readings").fetchone()
        if last is None and (row is None or row[0] is None):
            return []
        first = local_day(float(row[0]), tz) if row and row[0] is not None else local_day(now, tz)
        first = max(first, local_day(now, tz) - dt.timedelta(days=MAX_BACKFILL_DAYS))
        close_after = self.config.records.close_after if self.config.records else "00:30"
        return closable_days(dt.date.fromisoformat(last) if last else None, now, tz,
                             close_after, first)

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
