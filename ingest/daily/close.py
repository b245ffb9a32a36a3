"""Close a day: load each point's readings, analyze, and write what changed to the ledger.

``compute_day`` reads and computes only (the API answers an open day with it);
``close_day`` writes through ``RecordsStore.apply_day``, which appends nothing when the
content has not changed, so closing twice, or closing again after late data, is safe: the
first writes records, the second writes nothing or corrections. ``close_day`` and
``close_into`` (the API's) refuse a day still open by the closing rule
(``closing.require_ended``). Job records, one per job and agent, come from ``jobs``.
The day-close is sealed with the site's ledger key (``security.ledger_key``) when there is
one; without it the close is written unsigned and ``records verify`` names it.

Compute: each point's quantities are built into step series once for the day and its shifts
(``analyze.Readings``), and glibc is told to keep freed memory (``memory``); see
docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time as clock
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest import instrument_events
from ingest.daily import jobs, mixtures
from ingest.daily.analyze import Outcome, Readings, Series, analyze, verdict_fields
from ingest.daily.closing import require_ended
from ingest.daily.spec import PointSpec, instruments_on, specs
from ingest.daily.store import DayResult, Draft, RecordsStore
from ingest.daily.windows import Window, day_window, iso_local, shift_windows, zone
from ingest.validate import canonical_unit
from occmon.config.schema import SiteConfig
from occmon.keys import ledger_signing_key
from occmon.quantities import QUANTITIES

MAX_ALARMS = 200


@dataclass(frozen=True, slots=True)
class Day:
    """What a day computes to: record drafts and exceedance events."""

    day: str
    drafts: list[Draft]
    events: list[dict[str, Any]]


def load_series(conn: sqlite3.Connection, point: str, quantity: str, start: float,
                end: float) -> Series:
    """Readings of [start, end) as arrays; a reading without a usable value is NaN (a gap)."""
    rows = conn.execute(
        "SELECT time, CASE WHEN quality = 'bad' THEN NULL ELSE value END FROM readings "
        "WHERE point = ? AND quantity = ? AND time >= ? AND time < ? ORDER BY time",
        (point, quantity, start, end),
    ).fetchall()
    if not rows:
        return np.empty(0), np.empty(0)
    arr = np.array(rows, dtype=np.float64)  # None -> nan
    return arr[:, 0].copy(), arr[:, 1].copy()


def load_alarms(conn: sqlite3.Connection, point: str, start: float, end: float,
                units: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The day's alarm events of the point (``alarm_events``) and the interlock
    actions of the ventilation units bound to it (``ventilation_log``), oldest first."""
    out: list[dict[str, Any]] = []
    queries = [("alarm", "SELECT time, event, level, state, user FROM alarm_events WHERE "
                "point = ? AND time >= ? AND time < ? ORDER BY time LIMIT ?",
                (point, start, end, MAX_ALARMS))]
    for unit in units:
        queries.append(("interlock", "SELECT time, event, unit, state, priority FROM "
                        "ventilation_log WHERE unit = ? AND time >= ? AND time < ? "
                        "ORDER BY time LIMIT ?", (unit, start, end, MAX_ALARMS)))
    for kind, sql, args in queries:
        try:
            rows = conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # a store from before the alarm tables
            continue
        for at, event, a, b, c in rows:
            extra = ({"level": a, "state": b, "user": c} if kind == "alarm"
                     else {"unit": a, "state": b, "priority": c})
            out.append({"kind": kind, "time": at, "event": event, **extra})
    out.sort(key=lambda r: (r["time"], r["kind"]))
    return out[:MAX_ALARMS]


def _units_of(config: SiteConfig, point: str, area: str) -> list[str]:
    ventilation = getattr(config, "ventilation", None)
    if ventilation is None:
        return []
    return [u.id for u in ventilation.units if point in u.points or area in u.areas]


def _base(config: SiteConfig, spec: PointSpec, day: str, win: Window, shift: str | None,
          tz_name: str) -> dict[str, Any]:
    tz = zone(tz_name)
    area = next((a for a in config.areas if a.id == spec.point.area), None)
    # The agent's own unit for a concentration (oxygen %vol, methane %LEL), not mg/m3.
    unit = canonical_unit(spec.agent, spec.primary) if spec.primary in QUANTITIES else ""
    return {
        "site": config.site.id, "site_name": config.site.name.model_dump(),
        "area": spec.point.area, "area_name": area.name.model_dump() if area else None,
        "point": spec.point.id, "point_name": spec.point.name.model_dump(),
        "day": day, "shift": shift, "timezone": tz_name,
        "start": iso_local(win.start, tz), "end": iso_local(win.end, tz),
        "agent": {"id": spec.agent.id, "zh": spec.agent.zh, "en": spec.agent.en,
                  "kind": spec.kind, "fraction": spec.point.fraction},
        "quantity": spec.primary, "unit": unit,
        "limits": spec.limits_content(),
    }


def _event_content(config: SiteConfig, spec: PointSpec, day: str, ev: dict[str, Any],
                   tz_name: str) -> dict[str, Any]:
    tz = zone(tz_name)
    local = dt.datetime.fromtimestamp(ev["start"], tz)
    ev_id = f"{day}.{spec.point.id}.{ev['type']}.{local.strftime('%H%M%S')}"
    return {
        "id": ev_id, "site": config.site.id, "area": spec.point.area, "point": spec.point.id,
        "point_name": spec.point.name.model_dump(), "day": day,
        "agent": {"id": spec.agent.id, "zh": spec.agent.zh, "en": spec.agent.en},
        "start_local": iso_local(ev["start"], tz), "end_local": iso_local(ev["end"], tz),
        "sources": list(spec.limits_content()["sources"]), **ev,
    }


def _point_day(config: SiteConfig, spec: PointSpec, day: dt.date, series: Mapping[str, Series],
               alarms: list[dict[str, Any]], min_cov: float,
               calibrations: Mapping[str, tuple[dt.date, str]] | None = None,
               ) -> tuple[list[Draft], list[dict[str, Any]], Outcome]:
    tz_name = config.site.timezone
    tz = zone(tz_name)
    dwin = day_window(day, tz)
    shifts = shift_windows(day, tz, config.records)
    iso = day.isoformat()
    # each quantity's series is built once over the day and its shifts; windows slice it
    readings = Readings(spec, series, min(dwin.start, *(w.start for w in shifts)),
                        max(dwin.end, *(w.end for w in shifts)))
    out = analyze(spec, readings, dwin, shifts, min_cov)
    events = [_event_content(config, spec, iso, ev, tz_name) for ev in out.events]
    instruments = instruments_on(spec, day, calibrations)
    content = {**_base(config, spec, iso, dwin, None, tz_name), **out.fields,
               **verdict_fields(out), "instruments": instruments, "alarms": alarms,
               "exceedances": sorted(e["id"] for e in events),
               "shifts": [w.name for w in shifts]}
    key = f"{spec.point.id}|{iso}|"
    drafts = [Draft(key, "daily-record", spec.point.area, spec.point.id, spec.agent.id, "",
                    content)]
    if config.records is not None and config.records.shifts:
        for w in shifts:
            sout = analyze(spec, readings, w, [w], min_cov)
            scontent = {**_base(config, spec, iso, w, w.name, tz_name), **sout.fields,
                        **verdict_fields(sout), "instruments": instruments,
                        "alarms": [a for a in alarms if w.start <= a["time"] < w.end]}
            drafts.append(Draft(f"{spec.point.id}|{iso}|{w.name}", "daily-record",
                                spec.point.area, spec.point.id, spec.agent.id, w.name,
                                scontent))
    return drafts, events, out


def compute_day(conn: sqlite3.Connection, config: SiteConfig, day: dt.date,
                point_specs: Sequence[PointSpec] | None = None) -> Day:
    """Every point's records and exceedances for ``day`` (reads only).

    A batch process closing many days should call ``memory.keep_freed_memory()`` first
    (``occmon records close`` does): page faults on the numpy temporaries are otherwise half
    the compute. It is process-wide, so the closer inside ``occmon run`` leaves it off.
    """
    tz = zone(config.site.timezone)
    dwin = day_window(day, tz)
    shifts = shift_windows(day, tz, config.records)
    start = min(dwin.start, *(w.start for w in shifts))
    end = max(dwin.end, *(w.end for w in shifts))
    min_cov = config.records.min_coverage if config.records else 0.75
    drafts: list[Draft] = []
    events: list[dict[str, Any]] = []
    by_point: dict[str, tuple[PointSpec, Outcome]] = {}
    # calibrations the instruments reported, up to the day's end (docs/records.md)
    calibrations = instrument_events.latest_calibrations(conn, dwin.end, tz)
    for spec in point_specs if point_specs is not None else specs(config):
        quantities = {i["quantity"] for i in spec.instruments} | {spec.primary}
        series = {q: load_series(conn, spec.point.id, q, start, end) for q in quantities}
        alarms = load_alarms(conn, spec.point.id, dwin.start, dwin.end,
                             _units_of(config, spec.point.id, spec.point.area))
        d, e, outcome = _point_day(config, spec, day, series, alarms, min_cov, calibrations)
        drafts += d
        events += e
        by_point[spec.point.id] = (spec, outcome)
    mixtures.add_to_records(config, by_point, shifts, drafts)
    plans = jobs.plan(config, {p: spec for p, (spec, _) in by_point.items()})
    drafts += jobs.job_drafts(config, day, plans, {p: o for p, (_, o) in by_point.items()},
                              shifts)
    return Day(day.isoformat(), drafts, events)


def close_into(store: RecordsStore, config: SiteConfig, day: dt.date,
               now: float) -> DayResult:
    """The close every caller goes through: refuse an open day (``closing.require_ended``:
    nothing is read or written), else compute it and write what changed (idempotent). A day
    closed before it had ended (by an older occmon) is closed again, with a new day-close."""
    window = require_ended(config, day, now)
    computed = compute_day(store.conn, config, day)
    return store.apply_day(config.site.id, computed.day, computed.drafts, computed.events,
                           now, reclose_before=window.closable_from,
                           seal=ledger_signing_key(config))


def close_day(store_path: Path, config: SiteConfig, day: dt.date,
              now: float | None = None) -> DayResult:
    """Compute ``day`` and write what changed; ``now`` stamps the entries and is the time
    the closing rule judges. Raises ``closing.DayOpen`` before the store is even opened."""
    at = clock.time() if now is None else now
    require_ended(config, day, at)
    with RecordsStore(store_path) as store:
        return close_into(store, config, day, at)
