"""A simulated day with a dust surge, closed, against figures computed by hand.

Site: cement dust (total), PC-TWA 4 mg/m3 (GBZ 2.1-2019 Table 2), so PE 3 x = 12, 5 x = 20.
A reading a minute all day at 1.0 mg/m3, 10:00-10:10 at 25 mg/m3 (each reading holds its
minute: the MQTT device's expire_after is 120 s).

By hand:
- day: 1440 readings, full coverage, min 1, max 25, mean (1430 x 1 + 10 x 25) / 1440 = 1.1666...
- 白班 08:00-16:00: C_TWA = (470 x 1 + 10 x 25) min / 480 min = 720 / 480 = 1.5 (<= 4: pass)
- one excursion above 12, 600 s, peak 25 > 20: PE ceiling broken -> one 'peak' exceedance,
  limit 20, ratio 1.25; the day's verdict 超标. H2S has no readings: 数据不足, no exceedance.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from ingest.daily import query
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from occmon.model import Quality, Reading
from tests.records.support import DAY, dust_day, local, site_config, write

NEXT = DAY + dt.timedelta(days=1)


def _records(path: Path) -> dict[str, dict[str, object]]:
    with RecordsStore(path, readonly=True) as store:
        rows = query.daily_records(store.conn, query.Filters(day_from="2026-05-12",
                                                             day_to="2026-05-12"))
    return {r["key"]: r for r in rows}


def test_dust_surge_day_gives_hand_computed_records_and_one_exceedance(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    write(config, dust_day())
    result = close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    assert (result.new, result.corrected) == (5, 0)  # 2 points x (day + 白班) + 1 exceedance

    records = _records(config.store.path)
    day = records["mill-dust|2026-05-12|"]
    assert day["readings"] == 1440
    assert day["coverage_pct"] == 100.0
    assert (day["min"], day["max"]) == (1.0, 25.0)
    assert day["mean"] == pytest.approx((1430 * 1.0 + 10 * 25.0) / 1440, abs=1e-6)
    assert day["c_twa"] == pytest.approx(720 / 480)
    assert day["peak_excursions"] == 1 and day["pe_broken"] == ["ceiling"]
    assert day["verdict"] == "超标" and day["verdict_en"] == "fail"
    assert day["limits"]["pc_twa"] == 4.0 and day["limits"]["pe_5x"] == 20.0
    assert any("GBZ 2.1-2019" in s for s in day["limits"]["sources"])
    assert day["agent"]["zh"].startswith("水泥粉尘") and day["agent"]["en"] == "cement dust"
    (inst,) = day["instruments"]
    assert (inst["model"], inst["serial"], inst["calibrated"]) == ("LD-5R", "LD5R-0042",
                                                                   "2026-01-20")
    assert inst["calibration_current"] is True

    shift = records["mill-dust|2026-05-12|白班"]
    assert shift["readings"] == 480 and shift["mean"] == pytest.approx(1.5)
    assert shift["c_twa"] == pytest.approx(1.5) and shift["verdicts"]["twa:白班"] == "pass"

    h2s = records["pump-h2s|2026-05-12|"]
    assert h2s["verdict"] == "数据不足" and h2s["readings"] == 0 and h2s["max"] is None
    assert h2s["instruments"][0]["calibration_current"] is False  # calibrated 2025-01-01

    with RecordsStore(config.store.path, readonly=True) as store:
        total, events = query.exceedances(store.conn, query.Filters())
    assert total == 1
    (ev,) = events
    assert ev["type"] == "peak" and ev["point"] == "mill-dust" and ev["status"] == "open"
    assert (ev["start"], ev["end"]) == (local(DAY, 10), local(DAY, 10, 10))
    assert (ev["peak"], ev["limit"], ev["ratio"]) == (25.0, 20.0, 1.25)
    assert day["exceedances"] == [ev["id"]]


def test_closing_again_is_idempotent_and_late_data_becomes_a_correction(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    again = close_day(config.store.path, config, DAY, now=local(NEXT, 1))
    assert (again.new, again.corrected, again.withdrawn, again.entries) == (0, 0, 0, [])

    # late H2S readings arrive for the whole day: the H2S records are corrected, nothing else
    late = [Reading(point="pump-h2s", agent="h2s", time=local(DAY, 0) + 60 * i, value=0.5,
                    unit="mg/m3", quality=Quality.GOOD) for i in range(1440)]
    write(config, late)
    third = close_day(config.store.path, config, DAY, now=local(NEXT, 2))
    assert (third.new, third.corrected, third.withdrawn) == (0, 2, 0)
    with RecordsStore(config.store.path, readonly=True) as store:
        h2s = next(r for r in query.daily_records(store.conn, query.Filters(point="pump-h2s"))
                   if r["shift"] is None)
        kinds = [k for (k,) in store.conn.execute("SELECT kind FROM ledger ORDER BY seq")]
        assert store.verify().ok
    assert h2s["verdict"] == "合格" and h2s["readings"] == 1440
    assert "corrects" in h2s  # the projection holds the correction entry's content
    assert kinds.count("correction") == 2 and kinds.count("day-close") == 2


def test_a_surge_removed_by_a_correction_withdraws_its_exceedance(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    write(config, dust_day(surge=1.0))  # the surge readings were a sensor fault, re-sent
    result = close_day(config.store.path, config, DAY, now=local(NEXT, 3))
    assert result.withdrawn == 1
    with RecordsStore(config.store.path, readonly=True) as store:
        _, events = query.exceedances(store.conn, query.Filters())
        assert store.verify().ok
    assert [e["status"] for e in events] == ["withdrawn"]
    assert json.loads(json.dumps(events[0]))["withdrawn"] is True


def test_job_twa_from_a_time_activity_profile(tmp_path: Path) -> None:
    from tests.records.support import site_doc

    doc = site_doc(tmp_path)
    doc["records"]["jobs"] = [{"id": "patrol", "name": "巡检工",
                               "profile": [{"point": "mill-dust", "hours": 4}]}]
    config = site_config(tmp_path, doc)
    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    job = _records(config.store.path)["job:patrol/cement-dust:total|2026-05-12|"]
    # 4 h at the 白班 time-weighted mean 1.5 mg/m3, 4 h unexposed: 1.5 x 4 / 8 = 0.75
    assert job["shifts"]["白班"]["value"] == pytest.approx(0.75)
    assert job["verdict"] == "合格" and job["job_name"] == "巡检工"


def test_the_day_closer_closes_each_ended_day_once(tmp_path: Path) -> None:
    from ingest.daily.worker import DayCloser

    config = site_config(tmp_path)
    write(config, dust_day())
    write(config, dust_day(NEXT, surge=1.0))
    closer = DayCloser(config)
    assert closer.due(local(NEXT, 0, 10)) == []  # DAY ended, but close_after 00:30 not yet
    assert closer.due(local(NEXT, 0, 31)) == [DAY]
    assert [r.day for r in closer.tick(local(NEXT + dt.timedelta(days=1), 1))] == [
        "2026-05-12", "2026-05-13"]
    assert closer.tick(local(NEXT + dt.timedelta(days=1), 2)) == []


def test_the_ingest_worker_closes_ended_days(tmp_path: Path) -> None:
    """``occmon ingest`` and ``occmon run`` close days through Ingest(close_days=True): a
    recent day in the store is in the ledger soon after start, with no broker up at all."""
    from zoneinfo import ZoneInfo

    from ingest.subscriber import Ingest
    from tests.servers import free_port

    config = site_config(tmp_path)
    day = dt.datetime.now(ZoneInfo(config.site.timezone)).date() - dt.timedelta(days=2)
    write(config, dust_day(day))
    ingest = Ingest(config, broker_host="127.0.0.1", broker_port=free_port(), close_days=True)
    ingest.start()

    def records() -> dict[str, dict[str, object]]:
        with RecordsStore(config.store.path) as store:  # creates the tables if still missing
            rows = query.daily_records(
                store.conn, query.Filters(day_from=day.isoformat(), day_to=day.isoformat()))
        return {r["key"]: r for r in rows}

    try:
        deadline = time.monotonic() + 30
        while not records() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        ingest.stop()
    assert records()[f"mill-dust|{day.isoformat()}|"]["verdict"] == "超标"
