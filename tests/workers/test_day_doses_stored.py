"""Stored day doses (``ingest.workers.dose_days``) against the reading-by-reading rule: the
day doses of every worn piece, first when the closed days are stored, then read back, then
after late, replayed and corrected readings and after assignment corrections (counter
resets, days with no reading, handovers inside a day with and without a reading at the
handover, bad readings; NaN at the array level: the store keeps none)."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.schema import connect
from ingest.store import SqliteStore
from ingest.workers import attribution, dose_days, dose_view, epd_days, registry
from ingest.workers.dose_days_schema import QUANTITY, TRIGGERS
from ingest.workers.schema import migrate
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading
from tests.workers.site import TZ, A, B, config
from tests.workers.test_epd_months_fast import _reading, _slow_day_doses, _slow_months, _stamp

FIRST, LAST = dt.date(2026, 1, 5), dt.date(2026, 3, 10)
NOW = _stamp(LAST, 12.5)  # the last day is open: its morning is read live

Days = list[tuple[int, float]]


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return config(tmp_path)


@pytest.fixture
def conn(site: SiteConfig) -> sqlite3.Connection:
    c = connect(Path(site.store.path))
    migrate(c)
    for employee in (A, B):
        registry.put_worker(c, registry.WorkerIn.model_validate({
            "employee": employee, "name": employee, "sex": "F", "birth_date": "1990-03-04",
            "job": "探伤工", "category": "A", "joined": "2025-01-01"}),
            site="demo-plant", by="officer", now=1.0)
    registry.put_instrument(c, registry.InstrumentIn(
        serial="EPD-1", type="EPD", device="raddos-1", quantities=["hp10"]),
        site="demo-plant", by="officer", now=1.0, devices=[d.id for d in site.devices])
    return c


def _write(site: SiteConfig, readings: list[Reading]) -> None:
    """Through the store's writer, as ingest stores a batch (an upsert per reading)."""
    store = SqliteStore(Path(site.store.path))
    try:
        store.write_readings(readings)
    finally:
        store.close()


def _random_readings(rng: random.Random) -> list[Reading]:
    out, value, day = [], 0.0, FIRST
    while day <= LAST:
        if rng.random() < 0.15:  # a day (or the start of a week) with no reading
            day += dt.timedelta(days=rng.choice([1, 1, 7]))
            continue
        for hour in sorted(rng.sample(range(24), rng.randint(1, 24))):
            if rng.random() < 0.03:
                value = 0.0  # the counter reset
            value += rng.choice([0.0, 0.01, 0.25, rng.random() * 3])
            out.append(_reading(_stamp(day, hour + rng.random() * 0.9), round(value, 3)))
            if rng.random() < 0.05:  # a bad reading is not the dose
                out.append(_reading(_stamp(day, hour + 0.95), 9999.0, Quality.BAD))
        day += dt.timedelta(days=1)
    return out


def _assign(conn: sqlite3.Connection, who: str, a: float, b: float | None,
            corrects: int | None = None) -> int:
    row = registry.put_assignment(conn, registry.AssignmentIn(
        instrument="EPD-1", worker=who, start=dt.datetime.fromtimestamp(a, TZ),
        end=None if b is None else dt.datetime.fromtimestamp(b, TZ),
        reason="handed over at another time" if corrects else ""),
        site="demo-plant", by="officer", now=1.0, corrects=corrects)
    return int(row["id"])


def _handovers(conn: sqlite3.Connection, rng: random.Random, readings: list[Reading]) -> None:
    """A and B take turns; a handover at a reading's own time, inside a day between two
    readings, or after a spell nobody wore it; the last wearing is open."""
    times = sorted(r.time for r in readings if r.quality == Quality.GOOD)
    at, who, k = _stamp(FIRST, 7), A, 0
    while True:
        step = at + rng.uniform(0.3, 6.0) * 86_400.0
        if step >= NOW - 86_400.0:
            _assign(conn, who, at, None)
            return
        if k % 3 == 0:  # at a reading's time: the reading closes one piece and opens the next
            step = times[int(np.searchsorted(times, step))]
        _assign(conn, who, at, step)
        at = step + (rng.uniform(0.5, 3.0) * 86_400.0 if k % 4 == 3 else 0.0)
        who, k = (B if who == A else A), k + 1


def _slow(conn: sqlite3.Connection, site: SiteConfig, employee: str,
          days: list[tuple[str, float, float]]) -> list[Days]:
    """Each piece's day doses from every attributed Reading, every day scanned."""
    lo, hi = days[0][1], NOW
    out = []
    for w in attribution.personal_readings(conn, site, employee, lo, hi).worn:
        picked = sorted((r.time, r.value) for r in w.readings if r.quantity == QUANTITY
                        and r.quality == Quality.GOOD and r.value is not None)
        out.append(_slow_day_doses(np.array([p[0] for p in picked]),
                                   np.array([p[1] for p in picked]), days))
    return out


def _fast(conn: sqlite3.Connection, site: SiteConfig, employee: str,
          days: list[tuple[str, float, float]]) -> list[Days]:
    ids = {a["id"] for a in registry.assignments(conn, worker=employee)}
    worn = epd_days.pieces(conn, employee, days[0][1], NOW, ids)
    return epd_days.piece_day_doses(conn, site, worn, days, NOW)


def _same_as_the_rule(conn: sqlite3.Connection, site: SiteConfig) -> None:
    days = attribution.day_bounds(_stamp(FIRST, 0), NOW, TZ)
    for employee in (A, B):
        slow = _slow(conn, site, employee, days)
        assert sum(len(d) for d in slow) > 10
        assert _fast(conn, site, employee, days) == slow  # equal to the last bit
        months = _slow_months(conn, site, employee, NOW)
        fast = dose_view.epd_periods(conn, site, employee, NOW)
        assert [m["period"] for _p, m in fast] == [f"EPD:{k}" for k in sorted(months)]
        for p, m in fast:
            assert p.hp10_msv == months[m["period"][4:]][3] / 1000.0


def _stored(conn: sqlite3.Connection) -> dict[str, tuple[float | None, ...]]:
    return {r[0]: tuple(r[1:]) for r in conn.execute(
        "SELECT day, dose, first_at, last_at, prior_at, prior_value FROM day_doses "
        "WHERE device = 'raddos-1'")}


def _closed_days() -> int:
    return (LAST - FIRST).days  # 01-05 .. 03-09: the last day is open at NOW


def test_stored_days_equal_the_rule_then_serve_without_reading_them(
        site: SiteConfig, conn: sqlite3.Connection) -> None:
    rng = random.Random(14)
    readings = _random_readings(rng)
    _write(site, readings)
    _handovers(conn, rng, readings)
    assert not _stored(conn)
    _same_as_the_rule(conn, site)  # computes and stores the closed days
    stored = _stored(conn)
    assert len(stored) == _closed_days() and LAST.isoformat() not in stored
    assert any(v[1] is None for v in stored.values())  # days with no reading are known too
    writes = conn.total_changes
    _same_as_the_rule(conn, site)  # from the stored days: nothing is written again
    assert conn.total_changes == writes and _stored(conn) == stored
    conn.execute("BEGIN")  # a caller's open transaction: computed, not stored
    conn.execute("DELETE FROM day_doses WHERE day >= '2026-02-01'")
    _same_as_the_rule(conn, site)
    conn.execute("ROLLBACK")


def test_a_late_reading_drops_its_day_and_the_later_ones(
        site: SiteConfig, conn: sqlite3.Connection) -> None:
    rng = random.Random(15)
    readings = _random_readings(rng)
    _write(site, readings)
    _handovers(conn, rng, readings)
    _same_as_the_rule(conn, site)
    before = _stored(conn)
    # a reading held back by the gateway arrives for 02-03, 23:59 (with a rise of 50 uSv)
    late = _reading(_stamp(dt.date(2026, 2, 3), 23.99), 500.0)
    _write(site, [late])
    after = _stored(conn)
    assert after == {d: v for d, v in before.items() if d < "2026-02-03"}
    _same_as_the_rule(conn, site)  # the dropped days are computed again, with the reading
    again = _stored(conn)
    assert len(again) == _closed_days() and again["2026-02-03"][2] == late.time
    assert again != before
    # the same reading replayed with another value (the store's upsert: an UPDATE)
    _write(site, [replace(late, value=5.0)])
    assert max(_stored(conn)) < "2026-02-03"
    _same_as_the_rule(conn, site)
    # a good reading of 01-20 restated as bad (another upsert): no longer the dose
    first_good = next(r for r in readings if r.time > _stamp(dt.date(2026, 1, 20), 0)
                      and r.quality == Quality.GOOD)
    _write(site, [replace(first_good, quality=Quality.BAD, reason="range")])
    assert max(_stored(conn)) < "2026-01-20"
    _same_as_the_rule(conn, site)
    # another device's reading, or another quantity of this one, drops nothing
    held = _stored(conn)
    _write(site, [replace(late, device="raddos-2", time=late.time + 1),
                  replace(late, quantity="dose_rate", unit="uSv/h")])
    assert _stored(conn) == held
    # a reading deleted from the store drops its day and the later ones too
    conn.execute("DELETE FROM readings WHERE point = ? AND quantity = ? AND time = ?",
                 (late.point, QUANTITY, late.time))
    assert max(_stored(conn)) < "2026-02-03"
    _same_as_the_rule(conn, site)


def test_assignment_corrections_are_read_over_the_stored_days(
        site: SiteConfig, conn: sqlite3.Connection) -> None:
    rng = random.Random(16)
    readings = _random_readings(rng)
    midnight = _stamp(dt.date(2026, 2, 10), 0)  # a reading at the handover, at midnight
    _write(site, [*readings, _reading(midnight, 40.0), _reading(midnight + 1800.0, 41.0)])
    a = _assign(conn, A, _stamp(FIRST, 7), midnight)
    b = _assign(conn, B, midnight, None)
    _same_as_the_rule(conn, site)
    stored = _stored(conn)
    # the handover was at 15:20 on 02-12, not at midnight on 02-10: B's first, then A's
    _assign(conn, B, _stamp(dt.date(2026, 2, 12), 15.34), None, corrects=b)
    _assign(conn, A, _stamp(FIRST, 7), _stamp(dt.date(2026, 2, 12), 15.34), corrects=a)
    _same_as_the_rule(conn, site)
    assert _stored(conn) == stored  # the days are the device's, whoever wore it


def test_without_its_triggers_the_store_is_not_trusted(
        site: SiteConfig, conn: sqlite3.Connection) -> None:
    rng = random.Random(17)
    readings = _random_readings(rng)
    _write(site, readings)
    _handovers(conn, rng, readings)
    _same_as_the_rule(conn, site)
    conn.execute(f"DROP TRIGGER {TRIGGERS[0]}")  # as a rebuilt readings table would lose it
    assert not dose_days.usable(conn)
    _write(site, [_reading(_stamp(dt.date(2026, 2, 3), 23.99), 500.0)])
    assert "2026-02-04" in _stored(conn)  # stale now: not used, computed from the readings
    _same_as_the_rule(conn, site)


def test_another_source_drops_the_device_days(site: SiteConfig,
                                               conn: sqlite3.Connection) -> None:
    _write(site, _random_readings(random.Random(18)))
    days = attribution.day_bounds(_stamp(FIRST, 0), _stamp(FIRST, 0) + 5 * 86_400.0, TZ)
    src = dose_days.source(["ndt-worker-dose"], "Asia/Shanghai")
    assert dose_days.fill(conn, "raddos-1", ["ndt-worker-dose"], src, days)
    assert len(dose_days.load(conn, "raddos-1", src, 0.0, 1e12)) == 5
    other = dose_days.source(["ndt-worker-dose", "spare"], "Asia/Shanghai")
    assert len(dose_days.load(conn, "raddos-1", other, 0.0, 1e12)) == 0
    assert dose_days.fill(conn, "raddos-1", ["ndt-worker-dose"], other, days[:2])
    assert len(dose_days.load(conn, "raddos-1", other, 0.0, 1e12)) == 2


def test_stored_days_fit_each_piece_as_its_own_slice_with_nan() -> None:
    """The stored form of a whole series (resets, gaps, NaN), used for a piece only where
    it ``fits``, is the piece's own ``day_doses``."""
    rng = np.random.default_rng(14)
    days = [(f"d{i}", 86_400.0 * i, 86_400.0 * (i + 1)) for i in range(30)]
    starts = np.array([d[1] for d in days])
    ends = np.array([d[2] for d in days])
    used = 0
    for trial in range(80):
        n = int(rng.integers(2, 500))
        t = np.sort(rng.uniform(0, 86_400.0 * 30, n))
        t[t > 86_400.0 * 20] += 86_400.0 * 2 * (trial % 2)  # days with no reading
        v = np.cumsum(rng.exponential(1.0, n))
        v[rng.random(n) < 0.03] = 0.0  # resets
        if trial % 3 == 0:
            v[rng.integers(0, n)] = np.nan
        stored = dose_days.compute(t, v, starts, ends)
        cols = {k: np.array([np.nan if getattr(s, k) is None else getattr(s, k)
                             for s in stored]) for k in ("first_at", "last_at", "prior_at")}
        for _piece in range(10):
            lo, hi = sorted(rng.uniform(0, 86_400.0 * 31, 2))
            if trial % 5 == 0:  # a handover at a reading's own time
                lo = float(t[rng.integers(0, n)])
            inside = (t >= lo) & (t <= hi)
            own = dict(attribution.day_doses(t[inside], v[inside], starts, ends))
            ok = dose_days.fits(cols["first_at"], cols["last_at"], cols["prior_at"], lo, hi)
            for i in np.flatnonzero(ok).tolist():
                if stored[i].first_at is None or stored[i].first_at > hi \
                        or (stored[i].last_at or 0.0) < lo:
                    assert i not in own
                    continue
                assert own.get(i) == stored[i].dose, (trial, i)
                used += own.get(i) is not None
    assert used > 500


def test_the_triggers_watch_the_quantity_the_file_reads() -> None:
    assert QUANTITY == attribution.DOSE_QUANTITY
