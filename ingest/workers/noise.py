"""A worker's noise file: per shift LEX,8h, dose %, LCpeak and impulses from the dosimeters
they wore, the week's LEX,W, and the job-based (time-activity) figures where they wore none.

Shifts are the site's (``records.shifts``; a shift belongs to the day it starts) when the
site file declares them; otherwise the calendar day, whose reference length is 8 h (the
measured span, first reading to the end of the last, if longer). ``basis`` in every answer
says which.

Personal figures (``source: personal``) come from ``attribution.personal_readings``: the
``laeq`` readings of the worn device, each held 60 s at most, over the worn part of the shift
(unworn time adds no energy); the ``lcpeak`` readings of the same device over the same time
give the shift's impulses (``thresholds.impulse``: an impulse is a reading above 120 dB(C),
the limit is picked by the count, GBZ 2.2-2007 Table 10). The arithmetic is
``thresholds.personal_noise``; nothing here is stored: a corrected assignment changes the
figures the next time they are read.

Job-based figures (``source: job``) are the closed days' job records of the worker's job
(``records.jobs``, matched on the registry's 工种 by id or name): LEX,8h = 10 lg((1/8 h)
sum t_i 10^(0.1 LAeq_i)) over the profile's noise points (GBZ 2.2-2007 cl. 11, GBZ/T 189.8
time-activity method), a C_TWA = sum(C_j T_j) / 8 h for a chemical or dust
(``ingest.daily.jobs``). They describe the job's places, not the person: they are never mixed
with a personal figure of the same agent on the same day.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ingest.daily import query
from ingest.daily.windows import day_window, shift_windows, zone
from ingest.workers import attribution
from occmon.config.records import Job
from occmon.config.schema import SiteConfig
from thresholds.impulse import impulse_shift
from thresholds.personal_noise import (
    REFERENCE_S,
    day_lex_8h,
    shift_exposure,
    week_exposure,
)
from thresholds.series import held_and_integral
from thresholds.twa import DEFAULT_MIN_COVERAGE

PEAK_QUANTITY = "lcpeak"
Basis = Literal["site-shifts", "calendar-day"]


@dataclass(frozen=True, slots=True)
class ShiftSlot:
    """A shift (or calendar day) of the site: name, the day it starts on, [start, end)."""

    day: str
    name: str
    start: float
    end: float


def basis(config: SiteConfig) -> Basis:
    return "site-shifts" if config.records is not None and config.records.shifts else \
        "calendar-day"


def slots(config: SiteConfig, first: dt.date, last: dt.date) -> list[ShiftSlot]:
    """The site's shifts starting on each day of [first, last], or the calendar days."""
    tz = zone(config.site.timezone)
    site_shifts = basis(config) == "site-shifts"
    out: list[ShiftSlot] = []
    day = first
    while day <= last:
        if site_shifts:
            out += [ShiftSlot(day.isoformat(), w.name, w.start, w.end)
                    for w in shift_windows(day, tz, config.records)]
        else:
            w = day_window(day, tz)
            out.append(ShiftSlot(day.isoformat(), "day", w.start, w.end))
        day += dt.timedelta(days=1)
    return sorted(out, key=lambda s: s.start)


def _min_coverage(config: SiteConfig) -> float:
    return config.records.min_coverage if config.records is not None else DEFAULT_MIN_COVERAGE


@dataclass(frozen=True, slots=True)
class _WornSeries:
    """One worn piece's noise series, built once for all the shifts it spans."""

    instrument: str
    start: float
    end: float
    t: np.ndarray  # laeq reading times
    energy: np.ndarray  # 10^(0.1 LAeq) of each
    pt: np.ndarray  # lcpeak reading times
    pv: np.ndarray  # lcpeak dB(C)


def _worn_series(personal: attribution.PersonalReadings) -> list[_WornSeries]:
    out = []
    for w in personal.worn:
        t, v = attribution._series(w, attribution.NOISE_QUANTITY)  # one rule for what counts
        pt, pv = attribution._series(w, PEAK_QUANTITY)
        out.append(_WornSeries(w.instrument, w.start, w.end, t, np.power(10.0, 0.1 * v), pt,
                               pv))
    return out


def _shift_row(slot: ShiftSlot, worn_series: Sequence[_WornSeries], b: Basis,
               min_coverage: float) -> dict[str, Any] | None:
    energy = worn = 0.0
    span_lo, span_hi = math.inf, -math.inf
    peaks: dict[float, float] = {}
    instruments: list[str] = []
    for w in worn_series:
        lo, hi = max(slot.start, w.start), min(slot.end, w.end)
        if hi <= lo:
            continue
        held = 0.0
        if w.t.size:
            held, integral = held_and_integral(w.t, w.energy, max_gap=attribution.NOISE_HOLD_S,
                                               start=lo, end=hi)
            energy += integral
            worn += held
        i, j = np.searchsorted(w.pt, lo, "left"), np.searchsorted(w.pt, hi, "left")
        peaks.update(zip(w.pt[i:j].tolist(), w.pv[i:j].tolist(), strict=True))
        if held > 0 or j > i:
            instruments.append(w.instrument)
            # the measured span (first reading to the end of the last one's hold): a
            # calendar day's reference length when it is longer than 8 h
            k, m = np.searchsorted(w.t, lo, "left"), np.searchsorted(w.t, hi, "left")
            times = [*w.t[k:m].tolist(), *w.pt[i:j].tolist()] or [lo]
            span_lo = min(span_lo, min(times))
            span_hi = max(span_hi, min(hi, max(times) + attribution.NOISE_HOLD_S))
    if not instruments:
        return None
    shift_s = slot.end - slot.start if b == "site-shifts" else max(REFERENCE_S, span_hi - span_lo)
    figures = shift_exposure(energy, worn, shift_s, min_coverage)
    row: dict[str, Any] = {
        "day": slot.day, "shift": slot.name, "start": slot.start, "end": slot.end,
        "source": "personal", "instruments": sorted(set(instruments)),
        "worn_hours": round(worn / 3600.0, 3), "coverage": round(figures.coverage, 4),
        "laeq_worn": _r(figures.laeq_worn), "lex_8h": _r(figures.lex_8h),
        "dose_pct": _r(figures.dose_percent, 1), "verdict": figures.verdict,
        "energy_s": energy, "lcpeak_max": None, "impulses": 0, "impulse_limit": None,
        "impulses_over": 0, "impulse_verdict": None}
    if peaks:
        times = sorted(peaks)
        lo, hi = (slot.start, slot.end) if b == "site-shifts" else (span_lo, span_hi)
        imp = impulse_shift(times, [peaks[x] for x in times], start=lo, end=hi,
                            max_gap=attribution.NOISE_HOLD_S, min_coverage=min_coverage)
        row.update(lcpeak_max=_r(imp.max_peak_db), impulses=imp.count,
                   impulse_limit=imp.limit_db, impulses_over=imp.over,
                   impulse_verdict=imp.verdict)
    return row


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)


def _weeks(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """LEX,W per ISO week (Monday to Sunday) of the days the worker wore a noise dosimeter."""
    by_day: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        by_day[r["day"]].append(r["energy_s"])
    weeks: dict[str, dict[str, float]] = defaultdict(dict)
    for day, energies in sorted(by_day.items()):
        lex = day_lex_8h(energies)
        if lex is not None:
            y, w, _ = dt.date.fromisoformat(day).isocalendar()
            weeks[f"{y}-W{w:02d}"][day] = lex
    out = []
    for week, days in sorted(weeks.items()):
        fig = week_exposure(list(days.values()))
        out.append({"week": week, "days": fig.days, "day_lex_8h": {d: _r(v) for d, v in
                                                                    days.items()},
                    "lex_w": _r(fig.lex_w), "lex_w_applies": fig.applies,
                    "verdict": fig.verdict})
    return out


def job_of(config: SiteConfig, job: str) -> Job | None:
    """The site file's job (岗位) for a registry 工种: by id, else by name."""
    jobs = config.records.jobs if config.records is not None else []
    return next((j for j in jobs if j.id == job), None) or \
        next((j for j in jobs if j.name == job), None)


def job_records(conn: sqlite3.Connection, config: SiteConfig, job: str, first: str,
                last: str) -> list[dict[str, Any]]:
    """The closed days' job records of the worker's job (days as YYYY-MM-DD, inclusive)."""
    found = job_of(config, job)
    if found is None:
        return []
    try:
        return query.daily_records(conn, query.Filters(point=f"job:{found.id}", day_from=first,
                                                       day_to=last), kind="job-record")
    except sqlite3.OperationalError:  # no day was ever closed: no daily_records table
        return []


def job_noise_rows(records: Sequence[dict[str, Any]], skip_days: set[str]
                   ) -> list[dict[str, Any]]:
    """Job-based noise per day and shift from job records, for the days without personal."""
    out = []
    for rec in records:
        if rec.get("metric") != "lex_8h" or rec.get("day") in skip_days:
            continue
        for shift, s in (rec.get("shifts") or {}).items():
            out.append({"day": rec["day"], "shift": shift, "source": "job",
                        "job": rec.get("job"), "job_name": rec.get("job_name"),
                        "profile": rec.get("profile"), "lex_8h": s.get("value"),
                        "dose_pct": s.get("dose_pct"), "limit": s.get("limit"),
                        "verdict": s.get("verdict"), "points": s.get("points")})
    return out


@dataclass(frozen=True, slots=True)
class NoiseFile:
    basis: Basis
    shifts: list[dict[str, Any]]
    weeks: list[dict[str, Any]]
    job: list[dict[str, Any]]


def noise_file(conn: sqlite3.Connection, config: SiteConfig, worker: dict[str, Any],
               first: dt.date, last: dt.date) -> NoiseFile:
    """The worker's personal noise per shift of [first, last], its weeks' LEX,W (over the
    whole ISO weeks the window touches: a week's LEX,W needs all its days), and the job-based
    noise of the days they wore no dosimeter."""
    wk_first = first - dt.timedelta(days=first.weekday())
    wk_last = last + dt.timedelta(days=6 - last.weekday())
    b = basis(config)
    all_slots = slots(config, wk_first, wk_last)
    personal = attribution.personal_readings(conn, config, worker["employee"],
                                             all_slots[0].start, all_slots[-1].end)
    series = _worn_series(personal)
    rows = [r for s in all_slots
            if (r := _shift_row(s, series, b, _min_coverage(config))) is not None]
    weeks = _weeks(rows)
    inside = [r for r in rows if first.isoformat() <= r["day"] <= last.isoformat()]
    records = job_records(conn, config, worker["job"], first.isoformat(), last.isoformat())
    job = job_noise_rows(records, {r["day"] for r in inside})
    return NoiseFile(b, inside, weeks, job)
