"""Job (岗位) records: one per job and agent, each against its own limit, figures by hand.

The job ``packer`` spends its 白班 (08:00-16:00) at: mill-dust 2 h, pack-dust 3 h (both
cement dust, total), press-noise 2 h, nh3-store 1 h. Readings once a minute all day, each
holding its minute (expire_after 120 s):

- mill-dust: 1.0 mg/m3, 10:00-10:10 at 25 (support.dust_day): 白班 mean
  (470 x 1 + 10 x 25) / 480 = 1.5 mg/m3
- pack-dust: 2.0 mg/m3 all day
- press-noise: 95 dB(A) all day
- nh3-store: 10 mg/m3 all day

By hand:
- cement dust (total), PC-TWA 4 mg/m3: C_TWA = (1.5 x 2 + 2.0 x 3) / 8 = 9 / 8 = 1.125 -> 合格;
  the 3 h at noise and NH3 points are unexposed to dust
- noise: LEX,8h = 95 + 10 lg(2 / 8) = 95 - 6.0206 = 88.9794 dB(A) > 85 -> 超标;
  dose = 100 x 10^(0.1 x (88.9794 - 85)) = 100 x 10 x 2 / 8 = 250 %
- ammonia, PC-TWA 20 mg/m3: C_TWA = 10 x 1 / 8 = 1.25 -> 合格
The old single record summed them all: (1.5 x 2 + 2 x 3 + 95 x 2 + 10 x 1) / 8 = 26.125
"mg/m3" against the dust limit 4 -> 超标; that is what these records replace.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from ingest.daily import query
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from occmon.check import check_file, job_lines
from occmon.check import main as check_main
from occmon.model import Quality, Reading
from tests.records.support import DAY, dust_day, local, site_config, site_doc, write

NEXT = DAY + dt.timedelta(days=1)
MQTT = {"protocol": "mqtt", "expire_after": 120,
        "mapping": {"fields": {"v": "v"}, "time": "t", "time_format": "epoch_s"}}


def _point(doc: dict[str, Any], pid: str, agent: str, quantity: str, unit: str,
           fraction: str | None = None) -> None:
    point: dict[str, Any] = {"id": pid, "name": {"zh": pid, "en": pid}, "area": "mill",
                             "agent": agent}
    if fraction:
        point["fraction"] = fraction
    doc["points"].append(point)
    doc["devices"].append({"id": f"dev-{pid}", "topic": f"v/{pid}", **MQTT})
    doc["sensors"].append({"id": f"s-{pid}", "point": pid, "device": f"dev-{pid}",
                           "field": "v", "unit": unit, "quantity": quantity})


def _doc(tmp_path: Path, profile: list[dict[str, Any]]) -> dict[str, Any]:
    doc = site_doc(tmp_path)
    _point(doc, "pack-dust", "cement-dust", "concentration", "mg/m3", "total")
    _point(doc, "press-noise", "noise", "laeq", "dB(A)")
    _point(doc, "nh3-store", "nh3", "concentration", "mg/m3")
    _point(doc, "xray-room", "ionising-radiation", "hp10", "uSv")
    doc["records"]["jobs"] = [{"id": "packer", "name": "包装工", "profile": profile}]
    return doc


PACKER = [{"point": "mill-dust", "hours": 2}, {"point": "pack-dust", "hours": 3},
          {"point": "press-noise", "hours": 2}, {"point": "nh3-store", "hours": 1}]


def _flat(point: str, agent: str, value: float, quantity: str = "concentration",
          unit: str = "mg/m3", step: float = 0.0) -> list[Reading]:
    t0 = local(DAY, 0)
    return [Reading(point=point, agent=agent, time=t0 + 60 * m, value=value + step * m,
                    unit=unit, quality=Quality.GOOD, quantity=quantity) for m in range(1440)]


def _jobs(path: Path) -> dict[str, dict[str, Any]]:
    with RecordsStore(path, readonly=True) as store:
        rows = query.daily_records(store.conn, query.Filters(day_from=str(DAY),
                                                             day_to=str(DAY)))
    return {r["key"]: r for r in rows if r["kind"] == "job-record"}


def test_a_job_gives_one_record_per_agent_with_its_own_limit(tmp_path: Path) -> None:
    config = site_config(tmp_path, _doc(tmp_path, PACKER))
    write(config, dust_day())
    write(config, _flat("pack-dust", "cement-dust", 2.0))
    write(config, _flat("press-noise", "noise", 95.0, "laeq", "dB(A)"))
    write(config, _flat("nh3-store", "nh3", 10.0))
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    jobs = _jobs(config.store.path)
    assert sorted(jobs) == ["job:packer/cement-dust:total|2026-05-12|",
                            "job:packer/nh3|2026-05-12|", "job:packer/noise|2026-05-12|"]

    dust = jobs["job:packer/cement-dust:total|2026-05-12|"]
    assert dust["metric"] == "c_twa" and dust["unit"] == "mg/m3" and dust["limit"] == 4.0
    assert dust["shifts"]["白班"]["value"] == pytest.approx((1.5 * 2 + 2.0 * 3) / 8)
    assert dust["shifts"]["白班"]["points"] == {"mill-dust": 1.5, "pack-dust": 2.0}
    assert dust["unexposed_hours"] == 3.0 and dust["verdict"] == "合格"
    assert [s["point"] for s in dust["profile"]] == ["mill-dust", "pack-dust"]

    noise = jobs["job:packer/noise|2026-05-12|"]
    lex = 95 + 10 * math.log10(2 / 8)
    assert noise["metric"] == "lex_8h" and noise["unit"] == "dB(A)" and noise["limit"] == 85.0
    assert noise["shifts"]["白班"]["value"] == pytest.approx(lex, abs=1e-6)
    assert noise["lex_8h"] == pytest.approx(88.98, abs=0.005)
    assert noise["shifts"]["白班"]["dose_pct"] == pytest.approx(250.0)
    assert noise["verdict"] == "超标" and noise["verdict_en"] == "fail"
    assert any("GBZ 2.2-2007" in s for s in noise["sources"])

    nh3 = jobs["job:packer/nh3|2026-05-12|"]
    assert nh3["metric"] == "c_twa" and nh3["limit"] == 20.0 and nh3["unit"] == "mg/m3"
    assert nh3["shifts"]["白班"]["value"] == pytest.approx(10 * 1 / 8)
    assert nh3["verdict"] == "合格" and nh3["unexposed_hours"] == 7.0


def test_radiation_points_of_a_job_are_listed_not_averaged(tmp_path: Path) -> None:
    """Hp(10) rises 0.005 uSv a minute: the day's dose is 1439 x 0.005 = 7.195 uSv, under the
    investigation share 5 mSv / 365 = 13.699 uSv: 合格. Time-weighting it by the job's 2 h
    would give 7.195 x 2 / 8 = 1.79875; the record keeps the point's 7.195."""
    profile = [{"point": "xray-room", "hours": 2}, {"point": "pack-dust", "hours": 6}]
    config = site_config(tmp_path, _doc(tmp_path, profile))
    write(config, _flat("xray-room", "ionising-radiation", 0.0, "hp10", "uSv", step=0.005))
    write(config, _flat("pack-dust", "cement-dust", 2.0))
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    jobs = _jobs(config.store.path)
    rad = jobs["job:packer/ionising-radiation|2026-05-12|"]
    assert rad["metric"] == "point_doses" and "shifts" not in rad
    (point,) = rad["points"]
    assert point["point"] == "xray-room" and point["dose_usv"] == pytest.approx(1439 * 0.005)
    assert rad["dose_usv"] == pytest.approx(7.195) and rad["verdict"] == "合格"
    assert rad["limit"] == pytest.approx(5000 / 365)
    dust = jobs["job:packer/cement-dust:total|2026-05-12|"]
    assert dust["shifts"]["白班"]["value"] == pytest.approx(2.0 * 6 / 8)  # radiation not in it


def test_config_check_explains_each_job_and_agent(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = site_config(tmp_path, _doc(tmp_path, PACKER))
    lines = job_lines(config)
    assert len(lines) == 3
    dust, noise, nh3 = lines
    assert "'packer'" in dust and "cement-dust (total)" in dust and "PC-TWA 4 mg/m3" in dust
    assert "mill-dust 2 h, pack-dust 3 h" in dust and "3 h at points without it" in dust
    assert "LEX,8h" in noise and "85 dB(A)" in noise and "press-noise 2 h" in noise
    assert "nh3" in nh3 and "PC-TWA 20 mg/m3" in nh3 and "7 h at points without it" in nh3
    assert check_main([str(tmp_path / "site.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.count("job 'packer'") == 3


def test_config_check_names_a_job_step_at_an_unknown_point(tmp_path: Path) -> None:
    site_config(tmp_path, _doc(tmp_path, [{"point": "no-such-point", "hours": 2}]))
    config, problems = check_file(tmp_path / "site.yaml")
    assert config is None
    (problem,) = problems
    assert "records.jobs[0].profile[0].point" in str(problem)
    assert "no-such-point" in str(problem)
