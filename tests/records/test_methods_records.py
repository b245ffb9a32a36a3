"""Issue 12 methods in the daily records: PE per working day (shift) with gaps bridged,
impulse counts per shift, and the reduction factor on working hours (shift breaks).

Days are closed through ``close_day`` on a real SQLite store; expected figures by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ingest.daily import query
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from occmon.config.records import Shift
from occmon.model import Quality, Reading
from tests.records.support import DAY, local, site_config, site_doc, write

NEXT = DAY + dt.timedelta(days=1)
THREE = [{"name": "早班", "start": "00:00", "hours": 8},
         {"name": "中班", "start": "08:00", "hours": 8},
         {"name": "晚班", "start": "16:00", "hours": 8}]


def _records(path: Path) -> dict[str, dict[str, Any]]:
    with RecordsStore(path, readonly=True) as store:
        rows = query.daily_records(store.conn, query.Filters(day_from=DAY.isoformat(),
                                                             day_to=DAY.isoformat()))
    return {r["key"]: r for r in rows}


def _events(path: Path) -> list[dict[str, Any]]:
    with RecordsStore(path, readonly=True) as store:
        return query.exceedances(store.conn, query.Filters())[1]


def _dust(value_at: Callable[[int], float], bad: frozenset[int] = frozenset()) -> list[Reading]:
    """A reading a minute all day; minutes in ``bad`` are rejected (quality bad, no value)."""
    out = []
    for minute in range(24 * 60):
        at = local(DAY, 0) + 60 * minute
        if minute in bad:
            out.append(Reading(point="mill-dust", agent="cement-dust", time=at, value=None,
                               unit="mg/m3", quality=Quality.BAD, reason="sensor-fault",
                               sensor="d1", device="dust-1"))
            continue
        out.append(Reading(point="mill-dust", agent="cement-dust", time=at,
                           value=value_at(minute), unit="mg/m3", quality=Quality.GOOD,
                           sensor="d1", device="dust-1"))
    return out


def _three_excursions_a_shift(minute: int) -> float:
    # cement dust PC-TWA (total) 4 mg/m3: 3x = 12, 5x = 20. 15 mg/m3 for 5 min starting
    # 30, 120 and 210 min into each 8-h shift: 85 min apart, 3 a shift, 9 a day.
    return 15.0 if (minute % 480) in {m + k for m in (30, 120, 210) for k in range(5)} else 1.0


@pytest.mark.parametrize("shifts", [THREE, None], ids=["configured", "site-default"])
def test_three_compliant_shifts_make_a_compliant_day(tmp_path: Path,
                                                     shifts: list[dict[str, Any]] | None
                                                     ) -> None:
    doc = site_doc(tmp_path)
    doc["records"] = {"shifts": shifts} if shifts else {}
    config = site_config(tmp_path, doc)
    write(config, _dust(_three_excursions_a_shift))
    close_day(config.store.path, config, DAY, now=local(NEXT, 1))
    day = _records(config.store.path)["mill-dust|2026-05-12|"]
    names = [s["name"] for s in THREE] if shifts else ["0-8", "8-16", "16-24"]
    # 9 excursions in the day, but 3 per working day: no rule broken (before: "count")
    assert day["peak_excursions"] == 9 and day["pe_broken"] == []
    assert {k: v for k, v in day["verdicts"].items() if k.startswith("peak:")} == {
        f"peak:{n}": "pass" for n in names}
    assert [day["pe_shifts"][n]["excursions"] for n in names] == [3, 3, 3]
    assert day["verdict_en"] == "pass"
    assert not [e for e in _events(config.store.path) if e["point"] == "mill-dust"]
    if shifts:
        shift = _records(config.store.path)["mill-dust|2026-05-12|中班"]
        assert shift["peak_excursions"] == 3 and shift["verdicts"]["peak:中班"] == "pass"


def test_two_rejected_readings_inside_an_excursion_do_not_split_it(tmp_path: Path) -> None:
    # 白班 08:00-16:00; 15 mg/m3 from 10:00 to 10:10 (minutes 600-609), the readings at
    # 10:04 and 10:05 rejected. Hold 120 s (expire_after): 10:03 holds to 10:04, 10:06 is
    # the next valid one: a 120 s gap, not under the expiry -> two runs, the rules open.
    # With the MQTT expiry at 300 s it is bridged: one excursion, 10 min, compliant.
    def surge(minute: int) -> float:
        return 15.0 if 600 <= minute < 610 else 1.0

    for expiry, expected in ((300, 1), (120, 2)):
        path = tmp_path / str(expiry)
        path.mkdir()
        doc = site_doc(path)
        for device in doc["devices"]:
            device["expire_after"] = expiry
        config = site_config(path, doc)
        write(config, _dust(surge, bad=frozenset({604, 605})))
        close_day(config.store.path, config, DAY, now=local(NEXT, 1))
        day = _records(config.store.path)["mill-dust|2026-05-12|"]
        assert day["peak_excursions"] == expected
        assert day["pe_broken"] == []            # never a spacing breach from a gap
        if expected == 1:
            assert day["verdicts"]["peak:白班"] == "pass" and day["pe_undetermined"] == []
        else:
            # two parts 120 s apart, not proven separate: spacing open, never broken
            assert day["pe_undetermined"] == ["spacing"]
            assert day["verdicts"]["peak:白班"] == "insufficient"
        assert day["pe_partial"] is True       # the record says the data was partial


def _noise_doc(tmp_path: Path) -> dict[str, Any]:
    doc = site_doc(tmp_path)
    doc["points"].append({"id": "mill-noise", "name": {"zh": "磨机噪声", "en": "Mill noise"},
                          "area": "mill", "agent": "noise"})
    doc["devices"].append({"id": "slm-1", "topic": "v/slm-1", "protocol": "mqtt",
                           "expire_after": 120,
                           "mapping": {"fields": {"laeq": "laeq", "pk": "pk"}, "time": "t",
                                       "time_format": "epoch_s"}})
    doc["sensors"] += [
        {"id": "n1", "point": "mill-noise", "device": "slm-1", "field": "laeq",
         "quantity": "laeq", "unit": "dB(A)"},
        {"id": "n2", "point": "mill-noise", "device": "slm-1", "field": "pk",
         "quantity": "lcpeak", "unit": "dB(C)"}]
    return doc


def _noise(impulses: int) -> list[Reading]:
    """白班 08:00-16:00: LAeq 80 dB(A) a minute; LCpeak every 10 s at 100 dB(C), with
    ``impulses`` of them at 135 dB(C), one a minute from 08:30."""
    out = []
    start = local(DAY, 8)
    for minute in range(480):
        out.append(Reading(point="mill-noise", agent="noise", time=start + 60 * minute,
                           value=80.0, unit="dB(A)", quantity="laeq", sensor="n1",
                           device="slm-1"))
    for k in range(480 * 6):
        loud = 30 <= k // 6 < 30 + impulses and k % 6 == 0
        out.append(Reading(point="mill-noise", agent="noise", time=start + 10 * k,
                           value=135.0 if loud else 100.0, unit="dB(C)", quantity="lcpeak",
                           sensor="n2", device="slm-1"))
    return out


@pytest.mark.parametrize(("impulses", "limit", "verdict"), [(150, 130.0, "fail"),
                                                           (90, 140.0, "pass")])
def test_impulses_are_counted_per_shift_and_pick_the_limit(tmp_path: Path, impulses: int,
                                                           limit: float, verdict: str) -> None:
    # 150 impulses at 135 dB(C): 100 < n <= 1000 -> 130, 135 > 130: fail (before: judged
    # against 140 whatever the count, a pass). 90: n <= 100 -> 140: pass.
    config = site_config(tmp_path, _noise_doc(tmp_path))
    write(config, _noise(impulses))
    close_day(config.store.path, config, DAY, now=local(NEXT, 1))
    day = _records(config.store.path)["mill-noise|2026-05-12|"]
    shift = day["impulses"]["白班"]
    assert (shift["impulses"], shift["limit_db"], shift["verdict"]) == (impulses, limit,
                                                                        verdict)
    assert day["verdicts"]["impulse:白班"] == verdict
    assert day["impulse_threshold_db"] == 120.0
    events = [e for e in _events(config.store.path) if e["point"] == "mill-noise"]
    if verdict == "fail":
        (ev,) = events
        # first impulse 08:30:00, last 08:30 + 149 min = 10:59:00, held 10 s to the next
        assert (ev["start"], ev["end"]) == (local(DAY, 8, 30), local(DAY, 10, 59, 10))
        assert (ev["peak"], ev["limit"]) == (135.0, 130.0)
    else:
        assert events == []


def test_the_reduction_factor_counts_working_hours_not_the_span(tmp_path: Path) -> None:
    # a 10 h shift 07:00-17:00 with a 60-min break at 12:00: 9 working hours.
    # RF = (8/9)(24 - 9)/16 = 0.888889 x 0.9375 = 0.833333; PC-TWA 4 x RF = 3.333333.
    # (on the span it would be (8/10)(14/16) = 0.7, limit 2.8.)
    # 2.5 mg/m3 all shift: C_TWA = 2.5 x 10 / 8 = 3.125 <= 3.333: pass (2.8 would fail it).
    doc = site_doc(tmp_path)
    doc["records"] = {"shifts": [{"name": "长白班", "start": "07:00", "hours": 10,
                                  "breaks": [{"start": "12:00", "minutes": 60}]}]}
    config = site_config(tmp_path, doc)
    write(config, _dust(lambda minute: 2.5))
    close_day(config.store.path, config, DAY, now=local(NEXT, 1))
    shift = _records(config.store.path)["mill-dust|2026-05-12|长白班"]
    assert shift["c_twa"] == pytest.approx(3.125)
    assert shift["working_hours"] == {"长白班": 9.0}
    assert shift["reduction_factors"]["长白班"] == pytest.approx(0.833333, abs=1e-6)
    assert shift["verdicts"]["twa:长白班"] == "pass"


@pytest.mark.parametrize(("breaks", "message"), [
    ([{"start": "17:30", "minutes": 60}], "does not fit inside the shift"),
    ([{"start": "12:00", "minutes": 60}, {"start": "12:30", "minutes": 10}], "overlap"),
    ([{"start": "07:00", "minutes": 600}], "whole shift"),
])
def test_shift_breaks_are_validated(breaks: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Shift.model_validate({"name": "x", "start": "07:00", "hours": 10, "breaks": breaks})
    # a night shift's break after midnight fits: 22:00 + 8 h, break 02:00 for 30 min
    night = Shift.model_validate({"name": "n", "start": "22:00", "hours": 8,
                                  "breaks": [{"start": "02:00", "minutes": 30}]})
    assert night.working_hours == 7.5
