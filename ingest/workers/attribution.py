"""A worker's readings, computed at read time from the assignments: never a rewrite.

A worn instrument is a device of the site file; its readings are stored under the points its
sensors feed (with ``device`` on each row). For each assignment of the worker that overlaps
the window, the readings of that device within [from, to] are the worker's: both ends are
included, so the reading at a handover closes one wearer's interval and opens the next one's,
and a cumulative dosimeter's rise is counted once, for whoever wore it over that step.
Time the worker wore nothing is listed as ``unassigned``.

Personal dose: ``thresholds.radiation.cumulative_dose`` over each piece (the sum of rises
between consecutive readings; a fall is a counter reset). A day's dose is the rule applied
from the last reading before the day (within the piece) to the day's last reading, so the
days add up to the piece. A step that straddles a handover with no reading at the handover
belongs to nobody: the figure is then a lower bound, as the rule says of resets.

Personal noise: LEX,8h of the worker's day = 10 lg(E / 8 h), E the A-weighted energy held
over their worn intervals that day (GBZ 2.2-2007 cl. 11, unworn time counted as quiet, which
is the ``zero`` convention of ``thresholds.noise.shift_noise``); the worn hours are given.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ingest.workers import registry
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading
from occmon.quantities import QUANTITIES
from thresholds.radiation import cumulative_dose
from thresholds.series import held_and_integral

DOSE_QUANTITY = "hp10"
NOISE_QUANTITY = "laeq"
NOISE_HOLD_S = 60.0  # a level holds at most this long after its reading (ingest.daily.spec)
_COLS = ("point, quantity, time, value, unit, quality, reason, agent, sensor, device, "
         "raw_value, raw_unit")


@dataclass(frozen=True, slots=True)
class Worn:
    """One assignment clipped to the window, with the readings of its instrument."""

    assignment: int
    instrument: str
    device: str | None
    position: str
    start: float
    end: float
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class PersonalReadings:
    worker: str
    start: float
    end: float
    worn: tuple[Worn, ...]
    unassigned: tuple[tuple[float, float], ...]


def device_points(config: SiteConfig, device: str) -> list[str]:
    return sorted({s.point for s in config.sensors if s.device == device})


_QUANTITY_MARKS = ", ".join("?" * len(QUANTITIES))


def _device_readings(conn: sqlite3.Connection, config: SiteConfig, device: str,
                     start: float, end: float) -> list[Reading]:
    out: list[Reading] = []
    for point in device_points(config, device):
        # The key is (point, quantity, time): naming every quantity ingest accepts lets
        # SQLite seek each one's time range instead of walking the point's whole history.
        rows = conn.execute(f"SELECT {_COLS} FROM readings WHERE point = ? AND quantity IN "
                            f"({_QUANTITY_MARKS}) AND time >= ? AND time <= ? AND device = ? "
                            "ORDER BY quantity, time",
                            (point, *QUANTITIES, start, end, device)).fetchall()
        out += [Reading(point=p, quantity=q, time=t, value=v, unit=u, quality=Quality(ql),
                        reason=r, agent=ag, sensor=s, device=d, raw_value=rv, raw_unit=ru)
                for p, q, t, v, u, ql, r, ag, s, d, rv, ru in rows]
    return out


def _gaps(start: float, end: float, spans: Sequence[tuple[float, float]]
          ) -> tuple[tuple[float, float], ...]:
    gaps, at = [], start
    for a, b in sorted(spans):
        if a > at:
            gaps.append((at, a))
        at = max(at, b)
    if at < end:
        gaps.append((at, end))
    return tuple(gaps)


def personal_readings(conn: sqlite3.Connection, config: SiteConfig, worker: str,
                      start: float, end: float) -> PersonalReadings:
    """The readings of the instruments ``worker`` wore within [start, end], per assignment."""
    worn = []
    for a in registry.assignments(conn, worker=worker, start=start, end=end):
        lo, hi = max(start, a["start"]), min(end, a["end"] if a["end"] is not None else end)
        inst = registry.instrument(conn, a["instrument"])
        device = inst["device"] if inst else None
        got = _device_readings(conn, config, device, lo, hi) if device else []
        worn.append(Worn(a["id"], a["instrument"], device, a["position"], lo, hi, tuple(got)))
    return PersonalReadings(worker, start, end, tuple(worn),
                            _gaps(start, end, [(w.start, w.end) for w in worn]))


def _series(w: Worn, quantity: str) -> tuple[np.ndarray, np.ndarray]:
    picked = sorted((r.time, r.value) for r in w.readings
                    if r.quantity == quantity and r.quality == Quality.GOOD
                    and r.value is not None)
    return (np.array([t for t, _ in picked], dtype=np.float64),
            np.array([v for _, v in picked], dtype=np.float64))


@dataclass
class DayExposure:
    day: str
    dose_usv: float | None = None
    dose_instruments: list[str] = field(default_factory=list)
    noise_energy_s: float = 0.0  # integral of 10^(0.1 L) dt over worn time, seconds
    noise_worn_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        lex = (float(10.0 * np.log10(self.noise_energy_s / 28_800.0))
               if self.noise_energy_s > 0 else None)
        return {"day": self.day, "dose_usv": self.dose_usv,
                "dose_instruments": sorted(set(self.dose_instruments)),
                "noise_lex_8h": None if lex is None else round(lex, 2),
                "noise_worn_hours": round(self.noise_worn_s / 3600.0, 3)}


def day_bounds(start: float, end: float, tz: ZoneInfo) -> list[tuple[str, float, float]]:
    """The local days touching [start, end): ``day_window``'s bounds, each midnight computed
    once (a day ends where the next begins). The days of a working life are computed once
    per process (``_days``), as the loop below would."""
    first = dt.datetime.fromtimestamp(start, tz).date()
    last = dt.datetime.fromtimestamp(end, tz).date()
    out = list(_days(tz, first, last)) if first <= last else []
    while out and out[-1][1] >= end:
        out.pop()
    return out


@functools.lru_cache(maxsize=16)  # ~1.6 MB for 30 years of days
def _days(tz: ZoneInfo, day: dt.date, last: dt.date) -> tuple[tuple[str, float, float], ...]:
    """The days from ``day`` to ``last`` (both included) with their bounds."""
    at = dt.datetime.combine(day, dt.time(0), tzinfo=tz).timestamp()
    out: list[tuple[str, float, float]] = []
    while day <= last:
        after = day + dt.timedelta(days=1)
        to = dt.datetime.combine(after, dt.time(0), tzinfo=tz).timestamp()
        out.append((day.isoformat(), at, to))
        day, at = after, to
    return tuple(out)


def day_doses(t: np.ndarray, v: np.ndarray, starts: np.ndarray, ends: np.ndarray
              ) -> list[tuple[int, float]]:
    """(day index, dose) for each day [starts[i], ends[i]) holding a reading of one piece's
    cumulative series ``(t, v)`` (sorted by time): ``cumulative_dose`` from the last reading
    before the day to the day's last reading. The same figures as the rule applied to each
    day's slice, found by bisection instead of a scan of every day."""
    out: list[tuple[int, float]] = []
    if t.size == 0:
        return out
    # only the days from the one holding the first reading to the one holding the last
    lo = int(np.searchsorted(ends, t[0], "right"))
    hi = int(np.searchsorted(starts, t[-1], "right"))
    a = np.searchsorted(t, starts[lo:hi], "left")
    b = np.searchsorted(t, ends[lo:hi], "left")
    finite = bool(np.isfinite(v).all())
    rises = np.clip(np.diff(v), 0.0, None) if finite else v
    for k in np.flatnonzero(b > a).tolist():
        i, first, last = lo + k, max(int(a[k]) - 1, 0), int(b[k])
        if finite:  # the rule's own arithmetic on the day's slice of rises
            dose = float(rises[first:last - 1].sum()) if last - first >= 2 else None
        else:
            dose = cumulative_dose(v[first:last])
        if dose is not None:
            out.append((i, dose))
    return out


def daily_exposure(personal: PersonalReadings, tz: ZoneInfo) -> list[DayExposure]:
    """Dose and noise per local day of the window, from the worker's worn pieces."""
    bounds = day_bounds(personal.start, personal.end, tz)
    days = {name: DayExposure(name) for name, _, _ in bounds}
    starts = np.array([lo for _n, lo, _h in bounds], dtype=np.float64)
    ends = np.array([hi for _n, _l, hi in bounds], dtype=np.float64)
    for w in personal.worn:
        t, v = _series(w, DOSE_QUANTITY)
        for i, dose in day_doses(t, v, starts, ends):
            d = days[bounds[i][0]]
            d.dose_usv = (d.dose_usv or 0.0) + dose
            d.dose_instruments.append(w.instrument)
        t, v = _series(w, NOISE_QUANTITY)
        if t.size:
            energy = np.power(10.0, 0.1 * v)
            for name, lo, hi in bounds:
                a, b = max(lo, w.start), min(hi, w.end)
                if b > a:
                    held, integral = held_and_integral(t, energy, max_gap=NOISE_HOLD_S,
                                                       start=a, end=b)
                    days[name].noise_energy_s += integral
                    days[name].noise_worn_s += held
    return list(days.values())


def piece_doses(personal: PersonalReadings) -> dict[int, float | None]:
    """Assignment id -> the dose its piece shows (``cumulative_dose``; None: < 2 readings)."""
    out: dict[int, float | None] = defaultdict(lambda: None)
    for w in personal.worn:
        _t, v = _series(w, DOSE_QUANTITY)
        out[w.assignment] = cumulative_dose(v)
    return dict(out)
