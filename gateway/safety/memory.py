"""The safety path's memory across a gateway restart: each unit's demand state, and each
alarm an operator shelved or took out of service, on disk.

Without it a restarted gateway started every unit idle: a hold under way was forgotten
(the fan ran on until someone stopped it by hand, shown only as "found running"), a latch
waiting for an operator's reset was lost (the reset was then refused, "not awaiting a
reset"), and a manual on was no longer an override the operator could hand back. And every
shelve and out-of-service ended: a detector taken out for repair raised its fault again and
pushed it to the staff, as if nobody had acted.

One small SQLite file beside the queue (``{queue_path}-interlock``), one row a unit and one
an alarm shelved or out of service, written only when what must be remembered changes (a
unit's state change, a hold's end, an override; a shelve, unshelve, out-of-service or return
to service): a few writes an hour, each committed with ``synchronous=FULL`` so a power
cut right after a change keeps it. A file that cannot be read or written never stops the
interlock: the problem is logged and counted, and the units start idle and the alarms in
service as they did before; a file that is not a database (torn, or another file put
there) is kept aside as ``.unreadable`` and a new one started, so the next restart
remembers again.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gateway.interlock import UnitMemory
from gateway.interlock.states import DemandState

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    unit TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    hold_until REAL,
    override_by TEXT,
    saved REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressions (
    alarm_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    reason TEXT NOT NULL,
    until REAL,
    since REAL NOT NULL,
    saved REAL NOT NULL
)
"""
KINDS = ("shelved", "out-of-service")
# Columns a table gained after files were first written with it: (table, column) -> (type,
# what the rows already there get). A file from before keeps its rows and is brought up to
# the schema at open, instead of failing every read and write of that table.
_ADDED = {("suppressions", "since"): ("REAL", "saved")}  # when saved: right after the act


@dataclass(frozen=True, slots=True)
class Suppression:
    """An operator's shelve (until a time) or out-of-service of one alarm: what a restarted
    alarm engine must take up again, or the alarm would annunciate as if nobody had acted."""

    alarm_id: str
    kind: str  # one of KINDS
    user: str
    reason: str
    until: float | None  # a shelve's end; None out of service
    since: float  # when the operator did it (a restart takes it up, it does not renew it)


class UnitMemoryFile:
    """Load at start, save on change; every failure is a counted log line, never a raise."""

    def __init__(self, path: Path, counters: Counter[str]) -> None:
        self.path = path
        self.counters = counters
        self._db: sqlite3.Connection | None = None
        self._saved: dict[str, UnitMemory] = {}
        # alarm id -> (suppression, when) to keep, or None to forget, not written yet
        self._pending: dict[str, tuple[Suppression, float] | None] = {}
        self._failing = False  # one log line a run of failures, not one a try
        # why the units' state cannot be kept now (the gateway's health says it); None: kept
        self.problem: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _open(path)
        except (sqlite3.OperationalError, OSError) as exc:  # cannot open or create it
            self._failed("open", exc)
        except sqlite3.DatabaseError as exc:  # not a database (a torn or foreign file)
            self._failed("open", exc)
            self._set_aside()

    def load(self) -> dict[str, tuple[UnitMemory, float]]:
        """Each unit's saved memory and when it was saved; a row that does not read as one
        (an unknown state, a wrong type) is skipped, logged and counted."""
        if self._db is None:
            return {}
        try:
            rows = self._db.execute(
                "SELECT unit, state, hold_until, override_by, saved FROM units").fetchall()
        except sqlite3.Error as exc:
            self._failed("read", exc)
            return {}
        out: dict[str, tuple[UnitMemory, float]] = {}
        for unit, state, hold_until, override_by, saved in rows:
            try:
                memory = UnitMemory(DemandState(state),
                                    None if hold_until is None else float(hold_until),
                                    None if override_by is None else str(override_by))
                out[str(unit)] = (memory, float(saved))
            except (ValueError, TypeError) as exc:
                self.counters["interlock.memory-bad-row"] += 1
                log.warning("interlock memory %s: unit %r not restored: %s", self.path, unit,
                            exc)
                continue
            self._saved[str(unit)] = memory
        return out

    def save(self, memories: dict[str, UnitMemory], now: float) -> None:
        """Write the units whose memory changed since the last save (or load)."""
        self.flush_suppressions()
        changed = {u: m for u, m in memories.items() if self._saved.get(u) != m}
        if not changed or self._db is None:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO units (unit, state, hold_until, override_by, saved) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(u, str(m.state), m.hold_until, m.override_by, now)
                     for u, m in changed.items()])
        except sqlite3.Error as exc:
            self._failed("write", exc)  # not marked saved: tried again at the next call
            return
        self._saved.update(changed)
        self._failing, self.problem = False, None
        self.counters["interlock.memory-saved"] += len(changed)

    def load_suppressions(self) -> list[Suppression]:
        """The alarms shelved or out of service when the gateway stopped; a row that does
        not read as one is skipped, logged and counted."""
        if self._db is None:
            return []
        try:
            rows = self._db.execute(
                "SELECT alarm_id, kind, user, reason, until, since FROM suppressions"
            ).fetchall()
        except sqlite3.Error as exc:
            self._failed("read", exc)
            return []
        out: list[Suppression] = []
        for alarm_id, kind, user, reason, until, since in rows:
            try:
                if kind not in KINDS or (kind == "shelved") != (until is not None):
                    raise ValueError(f"kind {kind!r}, until {until!r}")
                out.append(Suppression(str(alarm_id), kind, str(user), str(reason),
                                       None if until is None else float(until), float(since)))
            except (ValueError, TypeError) as exc:  # as load(): skipped, never a failed start
                self.counters["interlock.memory-bad-row"] += 1
                log.warning("interlock memory %s: alarm %r not restored: %s", self.path,
                            alarm_id, exc)
        return out

    def keep_suppression(self, suppression: Suppression, now: float) -> None:
        self._pending[suppression.alarm_id] = (suppression, now)
        self.flush_suppressions()

    def forget_suppression(self, alarm_id: str) -> None:
        self._pending[alarm_id] = None
        self.flush_suppressions()

    def flush_suppressions(self) -> None:
        """Write the shelves kept and forgotten since the last write that worked (a failed
        one is tried again here, at the next change or the next unit save)."""
        if not self._pending or self._db is None:
            return
        keep = [(s.alarm_id, s.kind, s.user, s.reason, s.until, s.since, now)
                for s, now in filter(None, self._pending.values())]
        forget = [(a,) for a, change in self._pending.items() if change is None]
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("DELETE FROM suppressions WHERE alarm_id = ?", forget)
                self._db.executemany(
                    "INSERT OR REPLACE INTO suppressions (alarm_id, kind, user, reason, until, "
                    "since, saved) VALUES (?, ?, ?, ?, ?, ?, ?)", keep)
        except sqlite3.Error as exc:
            self._failed("write", exc)
            return
        self.counters["interlock.memory-saved"] += len(self._pending)
        self._pending.clear()
        self._failing, self.problem = False, None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _set_aside(self) -> None:
        """Keep the unreadable file for a look (``.unreadable``) and start an empty one, so
        this run's changes are remembered for the next restart."""
        aside = self.path.with_name(self.path.name + ".unreadable")
        try:
            self.path.replace(aside)
            self._db = _open(self.path)
        except (sqlite3.Error, OSError) as exc:
            self._failed("open", exc)
            return
        self._failing, self.problem = False, None
        log.error("interlock memory: the unreadable file is kept as %s; a new one is started",
                  aside)

    def _failed(self, what: str, exc: Exception) -> None:
        self.counters[f"interlock.memory-{what}-failed"] += 1
        self.problem = (f"the interlock cannot {what} its memory {self.path} ({exc}): a "
                        f"restart would start every ventilation unit idle and bring back "
                        f"every shelved or out-of-service alarm")
        if self._failing:
            return
        self._failing = True
        log.error("interlock memory %s: cannot %s (%s); units start idle after a restart",
                  self.path, what, exc)


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    try:
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        _upgrade(db, path)
    except sqlite3.Error:
        db.close()
        raise
    return db


def _upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Add the columns ``_ADDED`` names to a file written before them, filling its rows."""
    for (table, column), (kind, fill) in _ADDED.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column in have:
            continue
        with db:
            db.execute("BEGIN")
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            db.execute(f"UPDATE {table} SET {column} = {fill}")
        log.warning("interlock memory %s: %s.%s added to a file from before it (its rows "
                    "take %s)", path, table, column, fill)
