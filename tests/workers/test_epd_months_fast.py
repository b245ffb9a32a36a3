"""The electronic dosimeter months of the dose file, read as (time, value) series and bisected
into days, against the rule applied the slow way: every Reading attributed, every day of the
window scanned, ``cumulative_dose`` over each day's slice (counter resets, days and weeks
with no reading, handovers with and without a reading at the handover, bad readings)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.schema import connect
from ingest.schema import migrate as migrate_store
from ingest.store import SqliteStore
from ingest.workers import attribution, dose_view, registry
from ingest.workers.schema import migrate
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading, Reason
from tests.workers.site import TZ, A, B, config
from thresholds.radiation import cumulative_dose


def _slow_day_doses(t: np.ndarray, v: np.ndarray, days: list[tuple[str, float, float]]
                    ) -> list[tuple[int, float]]:
    """The rule as ``daily_exposure`` applied it before: a scan of every day."""
    out = []
    for i, (_name, lo, hi) in enumerate(days):
        inside = np.flatnonzero((t >= lo) & (t < hi))
        if inside.size == 0:
            continue
        first = max(int(inside[0]) - 1, 0)
        dose = cumulative_dose(v[first:int(inside[-1]) + 1])
        if dose is not None:
            out.append((i, dose))
    return out


def _slow_months(conn: Any, site: SiteConfig, employee: str, now: float
                 ) -> dict[str, tuple[dt.date, dt.date, set[str], float]]:
    """EPD months from every Reading object of the worker's EPD assignments."""
    epd = [a for a in registry.assignments(conn, worker=employee)
           if (inst := registry.instrument(conn, a["instrument"])) is not None
           and inst["type"] == "EPD" and inst["device"]]
    lo = min(a["start"] for a in epd)
    hi = max(now if a["end"] is None else min(a["end"], now) for a in epd)
    personal = attribution.personal_readings(conn, site, employee, lo, hi)
    ids = {a["id"] for a in epd}
    worn = [w for w in personal.worn if w.assignment in ids]
    days = attribution.day_bounds(lo, hi, TZ)
    per_day: dict[str, float] = {}
    months: dict[str, Any] = {}
    for w in worn:
        day = dt.datetime.fromtimestamp(w.start, TZ).date()
        last = dt.datetime.fromtimestamp(max(w.start, w.end - 1e-6), TZ).date()
        while day <= last:
            m = months.setdefault(day.strftime("%Y-%m"), [day, day, set(), None])
            m[0], m[1] = min(m[0], day), max(m[1], day)
            m[2].add(w.instrument)
            day += dt.timedelta(days=1)
        picked = sorted((r.time, r.value) for r in w.readings if r.quantity == "hp10"
                        and r.quality == Quality.GOOD and r.value is not None)
        t = np.array([p[0] for p in picked], dtype=np.float64)
        v = np.array([p[1] for p in picked], dtype=np.float64)
        for i, dose in _slow_day_doses(t, v, days):
            per_day[days[i][0]] = per_day.get(days[i][0], 0.0) + dose
    for name in sorted(per_day):
        if name[:7] in months:
            m = months[name[:7]]
            m[3] = (m[3] or 0.0) + per_day[name]
    return {k: (m[0], m[1], m[2], m[3]) for k, m in months.items() if m[3] is not None}


def _stamp(day: dt.date, hour: float) -> float:
    return dt.datetime.combine(day, dt.time(0), tzinfo=TZ).timestamp() + hour * 3600.0


def _reading(at: float, value: float, quality: Quality = Quality.GOOD) -> Reading:
    return Reading(point="ndt-worker-dose", agent="ionising-radiation", time=at, value=value,
                   unit="uSv", quality=quality, quantity="hp10", sensor="rd1-hp10",
                   device="raddos-1",
                   reason=None if quality == Quality.GOOD else Reason.OUT_OF_RANGE.value)


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return config(tmp_path)


def test_epd_months_equal_the_reading_by_reading_rule(site: SiteConfig) -> None:
    conn = connect(Path(site.store.path))
    migrate_store(conn)
    migrate(conn)
    rng = random.Random(14)
    first = dt.date(2025, 12, 20)
    try:
        for employee in (A, B):
            registry.put_worker(conn, registry.WorkerIn.model_validate({
                "employee": employee, "name": employee, "sex": "F",
                "birth_date": "1990-03-04", "job": "探伤工", "category": "A",
                "joined": "2025-01-01"}), site="demo-plant", by="officer", now=1.0)
        registry.put_instrument(conn, registry.InstrumentIn(
            serial="EPD-1", type="EPD", device="raddos-1", quantities=["hp10"]),
            site="demo-plant", by="officer", now=1.0, devices=[d.id for d in site.devices])
        # A wears it, hands over to B at 12:00 on 01-10 (a reading then), takes it back at
        # 09:30 on 01-20 (no reading at that handover), nobody 02-05 to 02-15, A again after
        spans = [(A, _stamp(first, 7), _stamp(dt.date(2026, 1, 10), 12)),
                 (B, _stamp(dt.date(2026, 1, 10), 12), _stamp(dt.date(2026, 1, 20), 9.5)),
                 (A, _stamp(dt.date(2026, 1, 20), 9.5), _stamp(dt.date(2026, 2, 5), 0)),
                 (A, _stamp(dt.date(2026, 2, 15), 0), None)]
        for who, a, b in spans:
            registry.put_assignment(conn, registry.AssignmentIn(
                instrument="EPD-1", worker=who, start=dt.datetime.fromtimestamp(a, TZ),
                end=None if b is None else dt.datetime.fromtimestamp(b, TZ)),
                site="demo-plant", by="officer", now=1.0)
        readings, value = [], 0.0
        day = first
        while day < dt.date(2026, 3, 20):
            if rng.random() < 0.15:  # a day (or the start of a week) with no reading
                day += dt.timedelta(days=rng.choice([1, 1, 7]))
                continue
            for hour in sorted(rng.sample(range(24), rng.randint(1, 24))):
                if rng.random() < 0.03:
                    value = 0.0  # the counter reset
                value += rng.choice([0.0, 0.01, 0.25, rng.random() * 3])
                readings.append(_reading(_stamp(day, hour + rng.random() * 0.9),
                                         round(value, 3)))
                if rng.random() < 0.05:  # a bad reading is not the dose
                    readings.append(_reading(_stamp(day, hour + 0.95), 9999.0, Quality.BAD))
            day += dt.timedelta(days=1)
        readings.append(_reading(_stamp(dt.date(2026, 1, 10), 12), value + 1.0))  # handover
        store = SqliteStore(Path(site.store.path))
        store.write_readings(readings)
        store.close()
        now = _stamp(dt.date(2026, 3, 25), 0)
        for employee in (A, B):
            slow = _slow_months(conn, site, employee, now)
            fast = dose_view.epd_periods(conn, site, employee, now)
            assert len(slow) >= (4 if employee == A else 1)
            assert [m["period"] for _p, m in fast] == [f"EPD:{k}" for k in sorted(slow)]
            for p, m in fast:
                start, end, serials, usv = slow[m["period"][4:]]
                # the same additions in the same order: equal to the last bit
                assert p.hp10_msv == usv / 1000.0
                assert (p.start, p.end) == (start, end)
                assert m["dosimeter"] == "|".join(sorted(serials))
                assert m["reported"]["hp10"] == f"{usv:g} uSv"
    finally:
        conn.close()


def test_day_doses_equal_the_scan_with_resets_gaps_and_nan() -> None:
    rng = np.random.default_rng(14)
    days = [(f"d{i}", 86_400.0 * i, 86_400.0 * (i + 1)) for i in range(40)]
    starts = np.array([d[1] for d in days])
    ends = np.array([d[2] for d in days])
    for trial in range(60):
        n = int(rng.integers(0, 400))
        t = np.sort(rng.uniform(0, 86_400.0 * 40, n))
        t[t > 86_400.0 * 25] += 86_400.0 * 3 * (trial % 2)  # days with no reading
        v = np.cumsum(rng.exponential(1.0, n))
        v[rng.random(n) < 0.03] = 0.0  # resets
        if trial % 3 == 0 and n:
            v[rng.integers(0, n)] = np.nan  # a non-finite value: the slice rule's path
        assert attribution.day_doses(t, v, starts, ends) == _slow_day_doses(t, v, days)
    # by hand: readings 10 (day 0), 12, 3 (a reset), 5 (day 1): day 1 = rise 2 + 0 + 2
    t = np.array([100.0, 86_500.0, 86_600.0, 86_700.0])
    v = np.array([10.0, 12.0, 3.0, 5.0])
    assert attribution.day_doses(t, v, starts[:2], ends[:2]) == [(1, 4.0)]
