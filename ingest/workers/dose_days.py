"""Stored day doses: one device's cumulative Hp(10) per closed local day, kept so a working
life's dose file does not read every reading of the working life on each request.

A row holds what ``attribution.day_doses`` gives that day over the device's whole series
(``cumulative_dose`` from the last good reading before the day, the baseline, to the day's
last good reading) and the facts that say when a wearer's piece may use it: the times of
the day's first and last good reading and of the baseline (with its value). A piece of an
assignment sees exactly that figure when it holds the baseline and the day's last reading
(``epd_days``); other days (handovers, open days) are computed from their readings.

Only closed days are stored (their end at or before ``now``), filled on first request in a
write transaction that reads the readings it stores, so the triggers of
``dose_days_schema`` order every later reading after it: a reading stored, replaced or
deleted for a day drops that day and the later ones of its device, and they are computed
again. A store whose ``readings`` lost the triggers (a table rebuilt) is not trusted: every
day is then computed from the readings. The rows are derived data, not a record: deleting
them is always safe. A change of the device's points or of the site's timezone (``source``)
drops the device's rows.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.workers import attribution
from ingest.workers.dose_days_schema import QUANTITY, TRIGGERS
from occmon.model import Quality

log = logging.getLogger(__name__)
CHUNK_DAYS = 366  # days filled per write transaction: ingest's writer waits at most that long


@dataclass(frozen=True, slots=True)
class StoredDay:
    """One stored day of one device (times are epoch seconds; None: no such reading)."""

    dose: float | None
    first_at: float | None
    last_at: float | None
    prior_at: float | None
    prior_value: float | None


def fits(first_at: np.ndarray, last_at: np.ndarray, prior_at: np.ndarray, start: float,
         end: float) -> np.ndarray:
    """Per stored day (NaN: no such reading): whether a piece worn over [start, end] sees
    the day's stored dose, that is holds the baseline (with none, the day's first reading)
    and the day's last reading, so that its slice of the day is the device's. A day with no
    reading gives no dose to any piece, so it fits every piece."""
    opening = np.where(np.isnan(prior_at), first_at, prior_at)
    with np.errstate(invalid="ignore"):
        out: np.ndarray = np.isnan(first_at) | ((opening >= start) & (last_at <= end))
    return out


def source(points: Sequence[str], timezone: str) -> str:
    """What the stored days of a device were computed from: its points and the day bounds."""
    return f"{timezone}|{','.join(points)}"


def usable(conn: sqlite3.Connection) -> bool:
    """The day table is there and every trigger that keeps it exact still is."""
    marks = ", ".join("?" * len(TRIGGERS))
    found = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
                         f"tbl_name = 'readings' AND name IN ({marks})", TRIGGERS).fetchone()
    return int(found[0]) == len(TRIGGERS)


def series(conn: sqlite3.Connection, points: Sequence[str], device: str, start: float,
           end: float) -> tuple[np.ndarray, np.ndarray]:
    """The device's good Hp(10) (time, value) in [start, end], ordered by time, then value
    (the order the reading-by-reading rule takes them in)."""
    marks = ", ".join("?" * len(points))
    rows = conn.execute(
        f"SELECT time, value FROM readings WHERE point IN ({marks}) AND quantity = ? "
        "AND time >= ? AND time <= ? AND device = ? AND quality = ? "
        "AND value IS NOT NULL ORDER BY time, value",
        (*points, QUANTITY, start, end, device, Quality.GOOD.value)).fetchall()
    flat = np.fromiter((x for row in rows for x in row), np.float64, 2 * len(rows))
    return flat[0::2].copy(), flat[1::2].copy()


def prior(conn: sqlite3.Connection, points: Sequence[str], device: str, before: float,
          since: float | None = None) -> tuple[float, float] | None:
    """The device's last good Hp(10) reading before ``before`` (at or after ``since``): the
    last in (time, value) order, one seek back per point."""
    found: list[tuple[float, float]] = []
    for point in points:
        row = conn.execute(
            "SELECT time, value FROM readings WHERE point = ? AND quantity = ? AND time < ? "
            "AND time >= ? AND device = ? AND quality = ? AND value IS NOT NULL "
            "ORDER BY time DESC LIMIT 1",
            (point, QUANTITY, before, -np.inf if since is None else since, device,
             Quality.GOOD.value)).fetchone()
        if row is not None:
            found.append((float(row[0]), float(row[1])))
    return max(found) if found else None


def with_prior(base: tuple[float, float] | None, t: np.ndarray, v: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    if base is None:
        return t, v
    return np.concatenate(([base[0]], t)), np.concatenate(([base[1]], v))


def compute(t: np.ndarray, v: np.ndarray, starts: np.ndarray, ends: np.ndarray
            ) -> list[StoredDay]:
    """The stored form of days [starts[k], ends[k]) from a series holding the baseline of
    the first day (if any) and every reading of the days."""
    doses = dict(attribution.day_doses(t, v, starts, ends))
    a = np.searchsorted(t, starts, "left").tolist()
    b = np.searchsorted(t, ends, "left").tolist()
    out = []
    for k, (i, j) in enumerate(zip(a, b, strict=True)):
        out.append(StoredDay(doses.get(k), float(t[i]) if j > i else None,
                             float(t[j - 1]) if j > i else None,
                             float(t[i - 1]) if i > 0 else None,
                             float(v[i - 1]) if i > 0 else None))
    return out


COLUMNS = ("day_end", "dose", "first_at", "last_at", "prior_at", "prior_value")


def load(conn: sqlite3.Connection, device: str, src: str, after: float, upto: float
         ) -> np.ndarray:
    """The stored days ending in (after, upto], one row of ``COLUMNS`` each (NaN: NULL);
    none if they were computed from another source."""
    row = conn.execute("SELECT source FROM day_dose_sources WHERE device = ? AND quantity = ?",
                       (device, QUANTITY)).fetchone()
    if row is None or row[0] != src:
        return np.empty((0, len(COLUMNS)), dtype=np.float64)
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM day_doses WHERE device = ? AND "
                        "quantity = ? AND day_end > ? AND day_end <= ?",
                        (device, QUANTITY, after, upto)).fetchall()
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(COLUMNS))


def fill(conn: sqlite3.Connection, device: str, points: Sequence[str], src: str,
         days: Sequence[tuple[str, float, float]]) -> bool:
    """Compute and store ``days`` (consecutive, closed) in one write transaction; False when
    the store could not take it (locked past its timeout, read-only): the caller computes
    those days from the readings instead."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        found = conn.execute("SELECT source FROM day_dose_sources WHERE device = ? AND "
                             "quantity = ?", (device, QUANTITY)).fetchone()
        if found is None or found[0] != src:
            conn.execute("DELETE FROM day_doses WHERE device = ? AND quantity = ?",
                         (device, QUANTITY))
            conn.execute("INSERT OR REPLACE INTO day_dose_sources (device, quantity, source) "
                         "VALUES (?, ?, ?)", (device, QUANTITY, src))
        starts = np.array([d[1] for d in days], dtype=np.float64)
        ends = np.array([d[2] for d in days], dtype=np.float64)
        t, v = series(conn, points, device, days[0][1], days[-1][2])
        t, v = with_prior(prior(conn, points, device, days[0][1]), t, v)
        conn.executemany(
            "INSERT OR REPLACE INTO day_doses (device, quantity, day_end, day, day_start, dose, "
            "first_at, last_at, prior_at, prior_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(device, QUANTITY, end, name, start, s.dose, s.first_at, s.last_at, s.prior_at,
              s.prior_value)
             for (name, start, end), s in zip(days, compute(t, v, starts, ends), strict=True)])
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        log.warning("day doses of %s not stored (%s): computed from the readings", device, exc)
        return False
    return True
