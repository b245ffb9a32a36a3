"""Exceedances as they happen: the open days' exceedances, provisional, beside the ledger's.

An exceedance enters the ledger only when its day closes (``close.close_into``), after
midnight plus the grace for late data. Until then an officer or an inspector would not see a
MAC breach of this morning. So the open days (today, and any recent day not closed yet, the
same days ``/api/v1/daily-records`` computes on demand) are computed here with the very
function the close runs (``close.compute_day``), and their events are listed with
``provisional: true`` (status ``open``) in front of the ledgered history. The ids are the
close's own (``{day}.{point}.{type}.{HHMMSS}``): when the day closes, the ledger row with the
same id takes the provisional one's place (the ledger wins whenever both exist).

Computing a day is not free (every point's readings of the day: about 0.5 s for four
points at 1 Hz through the morning), so the result is cached per store file, keyed by the
store's last write (the size and modification time of the SQLite file and its WAL):
repeated requests between writes cost a ``stat``. Ingest writes every second on a busy site,
so a request never waits for a recomputation it does not need: when the store has changed
and the result is older than ``REFRESH_S``, the cached result is answered and one background
thread recomputes (stale while revalidating); a reading is listed at most ``REFRESH_S`` plus
one computation after it is stored. Only the first request (or the first of a new day)
computes in line. One lock per store: concurrent requests never run two computations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sqlite3
import threading
import time as clock
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.daily import query
from ingest.daily.close import compute_day
from ingest.daily.closing import is_open
from ingest.daily.store import RecordsStore
from ingest.daily.windows import local_day, zone
from occmon.config.schema import SiteConfig

log = logging.getLogger(__name__)
LIVE_DAYS = 7  # open days computed on request (older unclosed days wait for the close)
REFRESH_S = 2.0  # a result younger than this is reused even if the store changed since
PROVISIONAL_STATUS = "open"  # nothing can be actioned before the close ledgers it
Signature = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Live:
    """The provisional exceedances of the open days, newest first."""

    days: tuple[str, ...]
    events: tuple[dict[str, Any], ...]
    computed_at: float


@dataclass(slots=True)
class _Entry:
    config: SiteConfig
    signature: Signature
    days: tuple[str, ...]
    live: Live
    refreshing: bool = False


_cache: dict[Path, _Entry] = {}
_locks: dict[Path, threading.Lock] = {}
_guard = threading.Lock()


def signature(path: Path) -> Signature:
    """The store's last write as the file system sees it: (size, mtime) of db and WAL."""
    out: list[int] = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = os.stat(p)
            out += [st.st_size, st.st_mtime_ns]
        except FileNotFoundError:
            out += [-1, -1]
    return out[0], out[1], out[2], out[3]


def open_days(conn: sqlite3.Connection, config: SiteConfig, now: float) -> list[dt.date]:
    """Days of the last ``LIVE_DAYS`` not closed yet, or still open by the closing rule (an
    old occmon may have closed one early): the days whose exceedances are provisional."""
    today = local_day(now, zone(config.site.timezone))
    first = today - dt.timedelta(days=LIVE_DAYS)
    try:
        closed = query.closed_days(conn, first.isoformat(), today.isoformat())
    except sqlite3.OperationalError:  # a store no close has created the tables of yet
        closed = set()
    days = []
    day = first
    while day <= today:
        if day.isoformat() not in closed or is_open(config, day, now):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def live(conn: sqlite3.Connection, path: Path, config: SiteConfig, now: float) -> Live:
    """The open days' exceedances, computed or cached (see the module docstring)."""
    key = Path(path).resolve()
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    days = open_days(conn, config, now)
    day_ids = tuple(d.isoformat() for d in days)
    with lock:
        entry = _cache.get(key)
        if entry is not None and entry.config is config and entry.days == day_ids:
            if entry.signature != signature(key) and not entry.refreshing \
                    and clock.monotonic() - entry.live.computed_at >= REFRESH_S:
                entry.refreshing = True
                threading.Thread(target=_refresh, args=(key, config, days), daemon=True,
                                 name="live-exceedances").start()
            return entry.live
        sig = signature(key)  # taken before reading: a write during the compute recomputes
        result = _compute(conn, config, days)
        _cache[key] = _Entry(config, sig, day_ids, result)
        return result


def _compute(conn: sqlite3.Connection, config: SiteConfig, days: list[dt.date]) -> Live:
    events: list[dict[str, Any]] = []
    for day in days:
        events += compute_day(conn, config, day).events
    events.sort(key=lambda e: (-e["start"], e["id"]))
    return Live(tuple(d.isoformat() for d in days),
                tuple({**e, "status": PROVISIONAL_STATUS, "provisional": True}
                      for e in events), clock.monotonic())


def _refresh(key: Path, config: SiteConfig, days: list[dt.date]) -> None:
    """Recompute in the background on a connection of its own; the cached result stands
    until it is done (and stays if the computation fails: the next request tries again)."""
    day_ids = tuple(d.isoformat() for d in days)
    sig = signature(key)
    try:
        store = RecordsStore(key, readonly=True)
        try:
            result = _compute(store.conn, config, days)
        finally:
            store.close()
    except Exception:  # a thread's edge: log it, keep the cached result, let a request retry
        log.exception("recomputing the open days' exceedances of %s failed", key)
        result = None
    with _locks[key]:
        entry = _cache.get(key)
        if result is not None:
            _cache[key] = _Entry(config, sig, day_ids, result)
        elif entry is not None:
            entry.refreshing = False


def matches(event: dict[str, Any], f: query.Filters) -> bool:
    """``event`` passes the filters the ledgered history is queried with."""
    start = float(event["start"])
    return (all(want is None or want == got for want, got in (
        (f.site, event.get("site")), (f.area, event.get("area")), (f.point, event.get("point")),
        (f.agent, event.get("agent", {}).get("id")), (f.type, event.get("type")),
        (f.status, event.get("status"))))
        and (f.start is None or start >= f.start) and (f.end is None or start < f.end))


def _ledgered(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "provisional": False} for r in rows]


def exceedances(conn: sqlite3.Connection, path: Path, config: SiteConfig, f: query.Filters,
                now: float, *, limit: int = 100, offset: int = 0,
                provisional: bool | None = None) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page newest first) of the ledgered exceedances and the open days'
    provisional ones; ``provisional`` True or False keeps one kind only.

    The page is one merged order, newest first: provisional events are merged with the
    ledgered rows from the oldest provisional start on (a few days at most), and the older
    ledgered rows follow at their index's offsets, so deep pages stay an index range scan.
    """
    pending = [e for e in live(conn, path, config, now).events if matches(e, f)] \
        if provisional is not False else []
    if pending:
        floor = min(float(e["start"]) for e in pending)
        held = query.ids_since(conn, floor)
        pending = [e for e in pending if e["id"] not in held]  # the ledger's stands
    if provisional is True:
        return len(pending), pending[offset:offset + limit]
    if not pending:
        total, rows = query.exceedances(conn, f, limit=limit, offset=offset)
        return total, _ledgered(rows)
    floor = min(float(e["start"]) for e in pending)
    since = dataclasses.replace(f, start=floor if f.start is None else max(f.start, floor))
    newer_total, newer = query.exceedances(conn, since, limit=query.MAX_ROWS, offset=0)
    ledgered_total = int(query.exceedances(conn, f, limit=1, offset=0)[0])
    head = sorted([*pending, *_ledgered(newer)], key=lambda e: -float(e["start"]))
    page = head[offset:offset + limit]
    if offset + limit > len(head):
        skip = newer_total + max(0, offset - len(head))
        want = offset + limit - max(offset, len(head))
        _, older = query.exceedances(conn, f, limit=want, offset=skip)
        page += _ledgered(older)
    return ledgered_total + len(pending), page


def find(conn: sqlite3.Connection, path: Path, config: SiteConfig, ex_id: str,
         now: float) -> dict[str, Any] | None:
    """One provisional exceedance by id (None: not among the open days' events)."""
    return next((e for e in live(conn, path, config, now).events if e["id"] == ex_id), None)


def open_exceedances(conn: sqlite3.Connection, path: Path, config: SiteConfig, now: float,
                     limit: int = 50) -> list[dict[str, Any]]:
    """What the notice board lists as open: the ledger's open, actioned and rechecked ones
    and the provisional ones, newest first (the API's ``/api/v1/exceedances`` reads the same
    ``live`` result, so the board and the API never disagree)."""
    pending = list(live(conn, path, config, now).events)
    if pending:
        held = query.ids_since(conn, min(float(e["start"]) for e in pending))
        pending = [e for e in pending if e["id"] not in held]
    rows = [*pending, *_ledgered(query.open_exceedances(conn, limit))]
    rows.sort(key=lambda e: -float(e["start"]))
    return rows[:limit]
