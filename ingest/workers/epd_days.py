"""A worker's electronic-dosimeter day doses per worn piece: the stored day doses
(``dose_days``) where a piece sees the whole day, the readings where it does not.

The figures are those of ``attribution.day_doses`` over each piece's good Hp(10) series
(``dose_days.series``): a stored day is used only where the piece holds the day's
baseline and its last reading (``_Device.piece``), which makes the piece's slice of the
day the device's; every other day the piece touches (the handover days, the open days, a
day a late reading dropped) is computed from its readings and the piece's last reading
before it, which is the same slice ``day_doses`` takes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.workers import attribution, dose_days, registry
from occmon.config.schema import SiteConfig

Days = Sequence[tuple[str, float, float]]  # attribution.day_bounds


@dataclass(frozen=True, slots=True)
class Piece:
    """One assignment clipped to [start, end]: its instrument's readings in it are the
    wearer's (both ends included, as ``attribution.personal_readings`` takes them)."""

    assignment: int
    instrument: str
    device: str | None
    start: float
    end: float


def pieces(conn: sqlite3.Connection, worker: str, start: float, end: float,
           assignments: set[int]) -> list[Piece]:
    """The worker's pieces within [start, end] of ``assignments``, in the registry's order."""
    out = []
    for a in registry.assignments(conn, worker=worker, start=start, end=end):
        if a["id"] in assignments:
            inst = registry.instrument(conn, a["instrument"])
            out.append(Piece(a["id"], a["instrument"], inst["device"] if inst else None,
                             max(start, a["start"]),
                             min(end, a["end"] if a["end"] is not None else end)))
    return out


def _runs(days: list[int], most: int) -> list[tuple[int, int]]:
    """Consecutive day indices as (first, last) runs of at most ``most`` days."""
    out: list[tuple[int, int]] = []
    for i in days:
        if out and out[-1][1] == i - 1 and i - out[-1][0] < most:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


class _Device:
    """One device's day bounds, stored days and readings for the pieces that wore it. The
    stored days are columns over the day bounds (NaN: not stored, or NULL)."""

    def __init__(self, conn: sqlite3.Connection, config: SiteConfig, device: str,
                 days: Days, starts: np.ndarray, ends: np.ndarray) -> None:
        self.conn, self.device, self.days = conn, device, days
        self.starts, self.ends = starts, ends
        self.points = attribution.device_points(config, device)
        self.src = dose_days.source(self.points, config.site.timezone)
        self.have = np.zeros(len(days), dtype=bool)
        self.cols = np.full((len(dose_days.COLUMNS), len(days)), np.nan)

    def span(self, start: float, end: float) -> range:
        """The indices of the days holding a time in [start, end]."""
        first = int(np.searchsorted(self.ends, start, "right"))
        last = min(int(np.searchsorted(self.starts, end, "right")), len(self.days))
        return range(first, last)

    def load(self, span: range) -> None:
        self.have[:] = False
        self.cols[:] = np.nan
        if not span:
            return
        rows = dose_days.load(self.conn, self.device, self.src, self.days[span[0]][1],
                              self.days[span[-1]][2])
        at = np.searchsorted(self.ends, rows[:, 0]).clip(0, len(self.days) - 1)
        keep = self.ends[at] == rows[:, 0]  # a day end of these bounds
        self.have[at[keep]] = True
        self.cols[:, at[keep]] = rows[keep].T

    def missing(self, span: range, now: float) -> list[int]:
        """The closed days of ``span`` not stored."""
        i = np.arange(span.start, span.stop)
        out: list[int] = i[~self.have[i] & (self.ends[i] <= now)].tolist()
        return out

    def fill(self, days: list[int]) -> None:
        for a, b in _runs(days, dose_days.CHUNK_DAYS):
            if not dose_days.fill(self.conn, self.device, self.points, self.src,
                                  self.days[a:b + 1]):
                return

    def piece(self, p: Piece) -> list[tuple[int, float]]:
        """(day index, dose) of the days of ``p`` that show one: the stored dose where it
        ``fits`` the piece, the readings elsewhere."""
        span = self.span(p.start, p.end)
        a, b = span.start, span.stop
        _end, dose, first, last, prior_at, _value = self.cols[:, a:b]
        fits = self.have[a:b] & dose_days.fits(first, last, prior_at, p.start, p.end)
        shown = np.flatnonzero(fits & ~np.isnan(first) & ~np.isnan(dose))
        out = list(zip((a + shown).tolist(), dose[shown].tolist(), strict=True))
        for x, y in _runs((a + np.flatnonzero(~fits)).tolist(), len(self.days)):
            out += self._live(p, x, y)
        return sorted(out)

    def _live(self, p: Piece, a: int, b: int) -> list[tuple[int, float]]:
        """Days a..b of ``p`` from the readings: the piece's last reading before day a, then
        its readings of the days."""
        start = self.days[a][1]
        base: tuple[float, float] | None = None
        if self.have[a]:
            _end, _dose, _first, _last, prior_at, value = self.cols[:, a].tolist()
            if prior_at == prior_at:  # not NaN: the device has a reading before the day
                base = (prior_at, value)
        elif p.start < start:
            base = dose_days.prior(self.conn, self.points, self.device, start, p.start)
        if base is not None and base[0] < p.start:
            base = None  # the device's baseline was worn by someone else
        t, v = dose_days.series(self.conn, self.points, self.device, max(p.start, start),
                                min(p.end, self.days[b][2]))
        t, v = dose_days.with_prior(base, t, v)
        got = attribution.day_doses(t, v, self.starts[a:b + 1], self.ends[a:b + 1])
        return [(a + k, dose) for k, dose in got]


def piece_day_doses(conn: sqlite3.Connection, config: SiteConfig, worn: Sequence[Piece],
                    days: Days, now: float) -> list[list[tuple[int, float]]]:
    """For each piece (in order): (index into ``days``, dose) of each day it shows a dose,
    as ``attribution.day_doses`` over its series gives them. Closed days not yet stored are
    stored first (unless the caller holds a transaction open: then they are computed)."""
    starts = np.array([d[1] for d in days], dtype=np.float64)
    ends = np.array([d[2] for d in days], dtype=np.float64)
    own = not conn.in_transaction  # reads in one snapshot, fills in their own transactions
    trusted = dose_days.usable(conn)
    out: list[list[tuple[int, float]]] = [[] for _ in worn]
    for name in sorted({p.device for p in worn if p.device}):
        device = _Device(conn, config, name, days, starts, ends)
        mine = [k for k, p in enumerate(worn) if p.device == name]
        span = device.span(min(worn[k].start for k in mine), max(worn[k].end for k in mine))
        if own:
            conn.execute("BEGIN")
        try:
            if trusted:
                device.load(span)
                if own and (missing := device.missing(span, now)):
                    conn.execute("COMMIT")
                    device.fill(missing)
                    conn.execute("BEGIN")
                    device.load(span)
            for k in mine:
                out[k] = device.piece(worn[k])
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")
    return out
