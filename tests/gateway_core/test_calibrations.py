"""The gateway's stored calibrations (``gateway.calibrations``) on a real queue directory and
a real ``Safety``: what an instrument event does to a point's due date, what is written, and
what a restart reads back or refuses."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.alarms.resolve import calibration_dues
from gateway.calibrations import Calibrations, CalibrationStore
from gateway.committer import Committer
from gateway.queue import Queue
from gateway.safety import Safety
from occmon.config.loader import parse
from occmon.config.schema import SiteConfig

TZ = ZoneInfo("Asia/Shanghai")


def site(tmp_path: Path) -> SiteConfig:
    """Point p1 watched by two sensors of one panel (intervals 180 and 90 days, typed dates
    long past); p2 by a sensor with no instrument section."""
    data = {
        "site": {"id": "t", "name": {"zh": "测试", "en": "test"}},
        "gateway": {"queue_path": str(tmp_path / "q.db")},
        "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
        "points": [{"id": p, "name": {"zh": "点", "en": "point"}, "area": "a", "agent": "h2s"}
                   for p in ("p1", "p2")],
        "devices": [{"id": d, "protocol": "modbus-tcp", "host": "127.0.0.1", "port": 1502,
                     "profile": "toxic-gas-detector"} for d in ("panel", "other")],
        "sensors": [
            {"id": "s1", "point": "p1", "device": "panel", "register": "gas_ppm",
             "unit": "mg/m3", "instrument": {"model": "X", "serial": "1",
                                             "calibrated": "2025-01-01",
                                             "calibration_interval_days": 180}},
            {"id": "s2", "point": "p1", "device": "panel", "register": "gas_ppm",
             "unit": "mg/m3", "instrument": {"model": "X", "serial": "2",
                                             "calibrated": "2025-03-01",
                                             "calibration_interval_days": 90}},
            {"id": "s3", "point": "p2", "device": "other", "register": "gas_ppm",
             "unit": "mg/m3"},
        ],
    }
    config, problems = parse(data, tmp_path / "site.yaml")
    assert config is not None, problems
    return config


def midnight(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=TZ).timestamp()


def test_a_point_falls_due_with_its_earliest_sensor(tmp_path: Path) -> None:
    config = site(tmp_path)
    # typed: s1 2025-01-01 + 180 = 2025-06-30, s2 2025-03-01 + 90 = 2025-05-30
    assert calibration_dues(config, {}) == {"p1": midnight(dt.date(2025, 5, 30)), "p2": None}
    # s2 calibrated 2026-01-10 (+ 90 = 2026-04-10): s1's 2025-06-30 is now the earliest
    assert calibration_dues(config, {"s2": dt.date(2026, 1, 10)}, ["p1"]) \
        == {"p1": midnight(dt.date(2025, 6, 30))}
    both = {"s1": dt.date(2026, 1, 10), "s2": dt.date(2026, 1, 10)}
    assert calibration_dues(config, both, ["p1"]) == {"p1": midnight(dt.date(2026, 4, 10))}
    # an observed date older than the typed one does not move it; no instrument, no date
    assert calibration_dues(config, {"s2": dt.date(2024, 1, 1), "s3": dt.date(2026, 1, 1)}) \
        == {"p1": midnight(dt.date(2025, 5, 30)), "p2": None}


def event(name: str, sensors: list[str], result: str | None, end: float,
          device: str = "panel") -> dict[str, Any]:
    iso = dt.datetime.fromtimestamp(end, dt.UTC).isoformat().replace("+00:00", "Z")
    return {"event": name, "device": device, "sensors": sensors, "points": ["p1"],
            "start": iso, "end": iso, "result": result, "id": f"id-{name}-{end}"}


def run(tmp_path: Path, body: Any) -> None:
    """``body(config, safety, store)`` on an event loop with a real queue and Safety."""
    async def main() -> None:
        config = site(tmp_path)
        queue = Queue(config.gateway.queue_path)
        committer = Committer(queue)
        try:
            safety = Safety(config, committer, [])
            body(config, safety, CalibrationStore.beside(config.gateway.queue_path))
            committer.flush()
        finally:
            queue.close()

    asyncio.run(main())


def test_a_calibration_moves_the_due_date_and_is_stored(tmp_path: Path) -> None:
    now = float(int(time.time())) + 0.5  # exact through an ISO 8601 round trip
    today = dt.datetime.fromtimestamp(now, TZ).date()

    def body(config: SiteConfig, safety: Safety, store: CalibrationStore) -> None:
        cals = Calibrations(config, safety, store, clock=lambda: now)
        cals.start()
        safety.tick(now)
        assert safety.engine.point_snapshot("p1").calibration_overdue  # type: ignore[union-attr]
        cals(event("bump-test", ["s1", "s2"], "passed", now))
        cals(event("calibration", ["s1", "s2"], "failed", now))
        cals(event("calibration", ["s1"], None, now, device="other"))  # s1 is not on it
        assert not store.path.exists()
        assert cals.counters["calibrations.unknown-sensor"] == 1
        assert safety.engine.calibration_due("p1") == midnight(dt.date(2025, 5, 30))

        cals(event("calibration", ["s1", "s2"], None, now))  # result unknown: it counts
        assert safety.engine.calibration_due("p1") == midnight(today + dt.timedelta(days=90))
        assert not safety.engine.point_snapshot("p1").calibration_overdue  # type: ignore[union-attr]
        stored = json.loads(store.path.read_text())
        assert stored["sensors"]["s2"] == {"device": "panel", "end": now,
                                           "event": f"id-calibration-{now}", "result": None}
        assert not list(tmp_path.glob("*.tmp"))
        # the same day again (a status word flapping in and out of calibration): no write
        cals(event("calibration", ["s1", "s2"], "passed", now + 0.25))
        assert cals.counters["calibrations.same-day"] == 1
        assert json.loads(store.path.read_text()) == stored

    run(tmp_path, body)


def test_a_restart_reads_the_store_and_refuses_what_does_not_fit(tmp_path: Path) -> None:
    now = float(int(time.time())) + 0.5  # exact through an ISO 8601 round trip
    day = dt.date.fromtimestamp(now - 86_400 * 10)
    ended = midnight(day) + 3_600.0  # 01:00 local, 10 days ago

    def body(config: SiteConfig, safety: Safety, store: CalibrationStore) -> None:
        store.path.write_text(json.dumps({"v": 1, "sensors": {
            "s1": {"device": "panel", "end": ended, "event": "a", "result": "passed"},
            "s2": {"device": "other", "end": ended, "event": "b", "result": None},  # moved
            "s9": {"device": "panel", "end": ended, "event": "c", "result": None},  # gone
        }}))
        cals = Calibrations(config, safety, store, clock=lambda: now)
        cals.start()
        assert set(cals.observed) == {"s1"}
        assert cals.counters["calibrations.stored-not-configured"] == 2
        # s1 due day + 180; s2 still typed 2025-05-30: the earlier stands
        assert safety.engine.calibration_due("p1") == midnight(dt.date(2025, 5, 30))

        store.path.write_text(json.dumps({"v": 1, "sensors": {
            "s1": {"device": "panel", "end": now + 86_400.0, "event": "a", "result": None},
            "s2": {"device": "panel", "end": ended, "event": "b", "result": None}}}))
        later = Calibrations(config, safety, store, clock=lambda: now)
        later.start()
        assert later.counters["calibrations.stored-in-future"] == 1
        assert set(later.observed) == {"s2"}
        # s1 typed 2025-06-30 now the earliest (s2: day + 90)
        assert safety.engine.calibration_due("p1") == midnight(dt.date(2025, 6, 30))

        store.path.write_text('{"v": 1, "sensors": {"s1": {"device": "panel"')  # torn
        damaged = Calibrations(config, safety, store, clock=lambda: now)
        damaged.start()
        assert damaged.counters["calibrations.unreadable"] == 1
        assert damaged.observed == {}

        store.path.write_text(json.dumps({"v": 1, "sensors": {
            "s1": {"device": "panel", "end": "yesterday", "event": "a", "result": None}}}))
        wrong = Calibrations(config, safety, store, clock=lambda: now)
        wrong.start()
        assert wrong.counters["calibrations.unreadable"] == 1

    run(tmp_path, body)
