"""The radiation board's dose per worker: wearings read from a real registry (SQLite store),
the generated queries run on a real InfluxDB 1.x with readings written in the sink's line
protocol, and each worker's figure is the sum of the dosimeter's rises while they wore it,
across a reset to zero (never max - min), equal to what the worker file computes."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from dashboards import queries as q
from dashboards.build import build_boards
from dashboards.cli import main as dashboards_cli
from dashboards.wearers import wearings
from ingest.influx import lineprotocol as lp
from ingest.schema import connect
from ingest.schema import migrate as migrate_store
from ingest.store import SqliteStore
from ingest.workers import attribution, registry
from ingest.workers.schema import migrate
from occmon.config.schema import SiteConfig
from occmon.model import Reading
from tests.influx_servers import InfluxDB1
from tests.workers.site import A, B, at, config, hp10

pytestmark = pytest.mark.server
SITE = "demo-plant"

# raddos-1's running Hp(10) total, uSv: day 1 hourly 07:00-18:00 (cleared at 14:00), day 2
# 08:00-11:00 (cleared at 10:00)
DAY1 = [(7, 100.0), (8, 102.0), (9, 105.5), (10, 106.0), (11, 110.0), (12, 112.5),
        (13, 113.0), (14, 0.4), (15, 2.4), (16, 5.0), (17, 6.0), (18, 20.0)]
DAY2 = [(8, 20.0), (9, 21.5), (10, 0.0), (11, 0.7)]
# By hand (sum of rises, a fall adds nothing):
# A 08:00-12:00 day 1: 3.5 + 0.5 + 4.0 + 2.5 = 10.5; A from 08:00 day 2 (still wearing):
# 1.5 + 0 + 0.7 = 2.2; A = 12.7
# B 12:00-17:00 day 1: 0.5 + 0 + 2.0 + 2.6 + 1.0 = 6.1
# the dosimeter over everything: 2.0 + 10.5 + 6.1 + 14.0 + 0 (18:00 -> 08:00) + 2.2 = 34.8
# (max - min would say 113.0 - 0.0 = 113.0)
DOSE_A, DOSE_B, DOSE_ALL = 12.7, 6.1, 34.8


def day2(r: Reading) -> Reading:
    return replace(r, time=r.time + 86_400)


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    site = config(tmp_path)
    conn = connect(Path(site.store.path))
    migrate_store(conn)
    migrate(conn)
    for employee in (A, B, "E1003"):
        registry.put_worker(conn, registry.WorkerIn.model_validate({
            "employee": employee, "name": "某人", "sex": "F", "birth_date": "1990-03-04",
            "job": "探伤工", "category": "A"}), site=SITE, by="o", now=1.0)
    for serial, device in (("EPD-1", "raddos-1"), ("NOISE-1", "noisedos-1")):
        registry.put_instrument(conn, registry.InstrumentIn(serial=serial, type="EPD",
                                                            device=device),
                                site=SITE, by="o", now=1.0, devices=[device])
    for who, inst, start, end in ((A, "EPD-1", at(8), at(12)), (B, "EPD-1", at(12), at(17)),
                                  (A, "EPD-1", at(8) + dt.timedelta(days=1), None),
                                  ("E1003", "NOISE-1", at(8), at(17))):
        registry.put_assignment(conn, registry.AssignmentIn(
            instrument=inst, worker=who, start=start, end=end), site=SITE, by="o", now=1.0)
    conn.close()
    store = SqliteStore(Path(site.store.path))
    store.write_readings([hp10(h, v) for h, v in DAY1] + [day2(hp10(h, v)) for h, v in DAY2])
    store.close()
    return site


def run(server: InfluxDB1, query: str, lo: float, hi: float) -> float:
    text = query.replace("$timeFilter", f"time >= {round(lo * 1000)}ms AND time <= "
                         f"{round(hi * 1000)}ms")
    result = server.query(text)["results"][0]
    assert "error" not in result, (result, text)
    ((_, value),) = result["series"][0]["values"]
    return float(value)


def test_dose_per_worker_sums_rises_across_resets(site: SiteConfig,
                                                  influxdb1: InfluxDB1) -> None:
    worn = wearings(site, Path(site.store.path))
    # the noise dosimeter feeds no Hp(10) point: E1003 is not on the dose panel
    assert sorted((w.worker, w.start, w.end) for w in worn) == sorted([
        (A, at(8).timestamp(), at(12).timestamp()), (B, at(12).timestamp(), at(17).timestamp()),
        (A, at(8).timestamp() + 86_400, None)])
    assert {w.point for w in worn} == {"ndt-worker-dose"}

    boards = build_boards(site, worn)
    (panel,) = [p for p in boards["radiation"]["panels"]
                if p["title"] == "个人剂量 Hp(10) per worker"]
    targets = {t["alias"]: t for t in panel["targets"]}
    assert sorted(targets) == [A, B] and len({t["refId"] for t in panel["targets"]}) == 2
    assert targets[A]["query"].count("non_negative_difference") == 2
    assert "spread" not in str(boards["radiation"]) and "某人" not in str(boards)
    assert build_boards(site) != boards  # without the registry: no per-worker panel
    assert not [p for p in build_boards(site)["radiation"]["panels"]
                if "Hp(10) per worker" in p["title"]]

    areas = {p.id: p.area for p in site.points}
    readings = [hp10(h, v) for h, v in DAY1] + [day2(hp10(h, v)) for h, v in DAY2]
    influxdb1.write([lp.reading_line(r, SITE, areas[r.point]) for r in readings])
    lo, hi = at(0).timestamp(), at(0).timestamp() + 2 * 86_400
    assert run(influxdb1, targets[A]["query"], lo, hi) == pytest.approx(DOSE_A)
    assert run(influxdb1, targets[B]["query"], lo, hi) == pytest.approx(DOSE_B)
    assert run(influxdb1, q.dose_in_range(SITE, "ndt-worker-dose"), lo, hi) == \
        pytest.approx(DOSE_ALL)
    # the range cuts the wearings: day 1 only leaves A's morning
    assert run(influxdb1, targets[A]["query"], lo, lo + 86_400) == pytest.approx(10.5)

    # the board and the worker file agree (ingest.workers.attribution on the same store)
    conn = connect(Path(site.store.path))
    try:
        for employee, want in ((A, DOSE_A), (B, DOSE_B)):
            personal = attribution.personal_readings(conn, site, employee, lo, hi)
            assert sum(attribution.piece_doses(personal).values()) == pytest.approx(want)
    finally:
        conn.close()


def test_the_build_command_reads_the_registry_only_with_store(site: SiteConfig,
                                                             tmp_path: Path) -> None:
    doc = yaml.safe_load(Path("examples/demo-plant.yaml").read_text("utf-8"))
    doc["store"] = {"path": str(site.store.path)}
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    before = Path(site.store.path).read_bytes()
    for flags, want in (([], []), (["--store"], [A, B])):
        out = tmp_path / ("with" if flags else "without")
        assert dashboards_cli(["build", str(site_file), "--out", str(out),
                               "--no-provisioning", *flags]) == 0
        board = json.loads((out / "radiation.json").read_text("utf-8"))
        aliases = [t["alias"] for p in board["panels"] if "Hp(10) per worker" in p["title"]
                   for t in p["targets"]]
        assert aliases == want
    assert Path(site.store.path).read_bytes() == before  # the build never writes the store
