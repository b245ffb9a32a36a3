"""What ``occmon run`` says on its terminal: one line per alarm, fan action and exceedance.

A newcomer watching ``make run`` should see the leak alarm rise and the accident fan start
because of it, without opening the API. The console reads what the run has *recorded*
(the store ingest writes: ``alarm_events``, ``ventilation_log``, ``exceedances``) on its
own read-only connection, a few times a second, from a thread. It touches neither the
gateway nor the broker: it cannot slow or break the interlock, and a line on the terminal
means the event reached the record, which is what an operator will later be shown.

Lines carry the site's local time of the event::

    08:02:41 ALARM  raised         desulf-h2s-w1: 24.0119 mg/m3 reached high_alarm set-p...
    08:02:41 FAN    started        desulf-exhaust: desulf-h2s-w1 at high_alarm
    08:02:43 FAN    confirmed      desulf-exhaust: fan-1 reports running
    14:03:49 EXCEED mac            desulf-h2s-1 2026-12-02: 10.3 > 10 (1x)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from ingest.alarm_log import AlarmQueries
from occmon.config.schema import SiteConfig

log = logging.getLogger(__name__)

POLL_S = 0.2

# Alarm events worth a line: the condition changing (not acknowledgements or shelving).
ALARM_EVENTS = {"raised", "fault-raised", "escalated", "deescalated", "cleared",
                "fault-cleared"}
# Ventilation log events worth a line: what the fans were told and what they did.
FAN_EVENTS = {"started", "confirmed", "standby-started", "stopped", "ventilation-failure",
              "feedback-lost", "coil-write-failed", "inhibited", "override", "hold-started",
              "awaiting-reset", "uncommanded-run", "restored"}


def _num(value: Any) -> str:  # 3 significant figures: what a glance needs
    return f"{value:.3g}" if isinstance(value, int | float) else "-"


def alarm_line(body: dict[str, Any], tz: ZoneInfo) -> str:
    """One alarm event as a terminal line: the engine's cause says point, value, level and
    set-point ("desulf-h2s-1: 11.2 mg/m3 rose to alarm (set-point 10 mg/m3, ...)")."""
    event = str(body.get("event", ""))
    cause = str(body.get("cause", ""))
    source = str(body.get("point") or body.get("alarm_id") or "")
    if source and not cause.startswith(source):
        cause = f"{body.get('alarm_id', source)}: {cause}"
    return f"{_clock(body.get('time'), tz)} ALARM  {event:<14} {cause}".rstrip()


def fan_line(body: dict[str, Any], tz: ZoneInfo) -> str:
    """One ventilation log event as a terminal line (failures in capitals)."""
    event = str(body.get("event", ""))
    if event == "ventilation-failure" and body.get("active") is False:
        event = "failure-ended"  # the same record ends the failure (the fan runs again)
    shown = event.upper() if body.get("priority") == "high" else event
    return (f"{_clock(body.get('time'), tz)} FAN    {shown:<14} {body.get('unit', '')}: "
            f"{body.get('cause', '')}").rstrip()


def exceedance_line(row: tuple[Any, ...], tz: ZoneInfo) -> str:
    """One exceedance of a closed day: point, day, kind, peak against the limit."""
    point, day, kind, start, peak, limit, ratio = row
    ratio_text = f" ({ratio:.2g}x)" if isinstance(ratio, int | float) else ""
    return (f"{_clock(start, tz)} EXCEED {kind:<14} {point} {day}: {_num(peak)} > "
            f"{_num(limit)}{ratio_text}")


def _clock(epoch: Any, tz: ZoneInfo) -> str:
    if not isinstance(epoch, int | float):
        return "--:--:--"
    return dt.datetime.fromtimestamp(epoch, tz).strftime("%H:%M:%S")


class Console:
    """Prints new alarm, ventilation and exceedance records of one run. Create it once the
    store exists and before the gateway starts (it takes the current rows as already
    seen); ``start()`` after the banner; ``stop()`` prints what is left, then ends."""

    def __init__(self, config: SiteConfig, out: TextIO, poll: float = POLL_S) -> None:
        self.path = Path(config.store.path)
        self.tz = ZoneInfo(config.site.timezone)
        self.out = out
        self.poll = poll
        self.lines = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._alarm_id = self._vent_id = self._exceed_id = 0
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = self._connect()
            self._alarm_id, self._vent_id, self._exceed_id = self._watermarks()
        except sqlite3.Error as exc:  # the run goes on; only its terminal lines are lost
            log.warning("console: cannot read the store %s (%s); no event lines", self.path,
                        exc)
            self._conn = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                               timeout=1.0)
        conn.execute("PRAGMA query_only = ON")
        return conn

    def _max(self, table: str, column: str = "id") -> int:
        assert self._conn is not None
        try:
            row = self._conn.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")
            return int(row.fetchone()[0])
        except sqlite3.OperationalError:  # a table a migration has not made yet
            return 0

    def _watermarks(self) -> tuple[int, int, int]:
        return (self._max("alarm_events"), self._max("ventilation_log"),
                self._max("exceedances", "rowid"))

    def start(self) -> None:
        if self._conn is None:
            return
        self._thread = threading.Thread(target=self._run, name="occmon-console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.drain()
            except sqlite3.Error as exc:  # a busy or moved store: say so once, keep going
                log.debug("console: store not readable now: %s", exc)
        with contextlib.suppress(sqlite3.Error):
            self.drain()

    def drain(self) -> int:
        """Print every record written since the last call, oldest first; the line count."""
        if self._conn is None:
            return 0
        lines: list[tuple[float, str]] = []
        for record in AlarmQueries(self._conn).after(self._alarm_id):
            self._alarm_id = record.id
            if record.event in ALARM_EVENTS:
                lines.append((record.time, alarm_line(record.body, self.tz)))
        for row_id, at, body in self._rows(
                "SELECT id, time, body FROM ventilation_log WHERE id > ? ORDER BY id",
                self._vent_id):
            self._vent_id = row_id
            data = json.loads(body)
            if data.get("event") in FAN_EVENTS:
                lines.append((at, fan_line(data, self.tz)))
        for row in self._rows(
                "SELECT rowid, point, day, type, start, peak, limit_value, ratio "
                "FROM exceedances WHERE rowid > ? ORDER BY rowid", self._exceed_id):
            self._exceed_id = row[0]
            lines.append((row[4], exceedance_line(row[1:], self.tz)))
        for _at, line in sorted(lines, key=lambda item: item[0]):
            print(line, file=self.out, flush=True)
        self.lines += len(lines)
        return len(lines)

    def _rows(self, sql: str, after: int) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        try:
            return self._conn.execute(sql, (after,)).fetchall()
        except sqlite3.OperationalError:
            return []
