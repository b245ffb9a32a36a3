"""Mixture groups in the day records: toluene and xylene at one area, each under its own
PC-TWA, judged together per shift (GBZ 2.1-2019 appendix A), figures by hand.

Readings once a minute all day (hold 120 s), 白班 08:00-16:00:
- paint-tol: toluene 30 mg/m3 -> C_TWA 30 <= 50 (0.6)
- paint-xyl: xylene 30 mg/m3 -> C_TWA 30 <= 50 (0.6)
Mixture I = 30/50 + 30/50 = 1.2 > 1 -> 超标, though each agent alone is 合格.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ingest.daily import query
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from occmon.config.problems import ConfigError
from occmon.model import Quality, Reading
from tests.records.support import DAY, local, site_config, site_doc, write

NEXT = DAY + dt.timedelta(days=1)
MQTT = {"protocol": "mqtt", "expire_after": 120,
        "mapping": {"fields": {"v": "v"}, "time": "t", "time_format": "epoch_s"}}


def _doc(tmp_path: Path, mixtures: list[dict[str, Any]]) -> dict[str, Any]:
    doc = site_doc(tmp_path)
    for pid, agent in (("paint-tol", "toluene"), ("paint-xyl", "xylene")):
        doc["points"].append({"id": pid, "name": {"zh": pid, "en": pid}, "area": "mill",
                              "agent": agent})
        doc["devices"].append({"id": f"dev-{pid}", "topic": f"v/{pid}", **MQTT})
        doc["sensors"].append({"id": f"s-{pid}", "point": pid, "device": f"dev-{pid}",
                               "field": "v", "unit": "mg/m3"})
    doc["records"]["mixtures"] = mixtures
    return doc


def _flat(point: str, agent: str, value: float) -> list[Reading]:
    t0 = local(DAY, 0)
    return [Reading(point=point, agent=agent, time=t0 + 60 * m, value=value, unit="mg/m3",
                    quality=Quality.GOOD) for m in range(1440)]


def _day_records(path: Path) -> dict[str, dict[str, Any]]:
    with RecordsStore(path, readonly=True) as store:
        rows = query.daily_records(store.conn, query.Filters(day_from=str(DAY),
                                                             day_to=str(DAY)))
    return {r["point"]: r for r in rows if r["kind"] == "daily-record" and not r["shift"]}


GROUP = {"id": "benzene-series", "name": "苯系物", "effect": "中枢神经系统抑制",
         "agents": ["toluene", "二甲苯"]}


def test_a_mixture_over_one_fails_the_day_though_each_agent_passes(tmp_path: Path) -> None:
    config = site_config(tmp_path, _doc(tmp_path, [GROUP]))
    write(config, _flat("paint-tol", "toluene", 30.0) + _flat("paint-xyl", "xylene", 30.0))
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    records = _day_records(config.store.path)
    for pid in ("paint-tol", "paint-xyl"):
        rec = records[pid]
        assert rec["verdicts"]["twa:白班"] == "pass"
        (mix,) = rec["mixtures"]
        assert mix["id"] == "benzene-series" and mix["place"] == "area:mill"
        assert mix["points"] == ["paint-tol", "paint-xyl"]
        shift = mix["shifts"]["白班"]
        assert shift["index"] == pytest.approx(1.2)           # 30/50 + 30/50
        assert [t["ratio"] for t in shift["terms"]] == pytest.approx([0.6, 0.6])
        assert mix["verdict"] == "fail"
        assert rec["verdict"] == "超标" and "mixture:benzene-series" in rec["failed"]
    assert "mixtures" not in records["mill-dust"]               # not in the group


def test_without_groups_records_carry_no_mixture(tmp_path: Path) -> None:
    config = site_config(tmp_path, _doc(tmp_path, []))
    write(config, _flat("paint-tol", "toluene", 30.0) + _flat("paint-xyl", "xylene", 30.0))
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    rec = _day_records(config.store.path)["paint-tol"]
    assert "mixtures" not in rec and rec["verdict"] == "合格"


@pytest.mark.parametrize(("agents", "message"), [
    (["toluene", "h2s"], "'h2s' has no PC-TWA"),
    (["toluene", "benzen"], "unknown agent 'benzen'"),
    (["toluene", "甲苯"], "listed twice"),
    (["toluene"], "at least 2"),
])
def test_bad_mixture_groups_name_the_key(tmp_path: Path, agents: list[str],
                                         message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        site_config(tmp_path, _doc(tmp_path, [{**GROUP, "agents": agents}]))
    assert "records.mixtures[0].agents" in str(info.value)
