"""Generated boards load with Grafana's schema, carry the right lines, and are current."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import build_boards, datasource_provisioning, write_all
from dashboards.panels import DATASOURCE_UID
from occmon.config import load
from tests.dashboards.grafana_schema import lost, round_trip

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples/demo-plant.yaml"


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return build_boards(load(DEMO))


def test_every_board_survives_grafanas_schema(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        assert lost(board, round_trip(board)) == [], name


def test_the_schema_check_catches_unknown_keys(boards: dict[str, dict[str, Any]]) -> None:
    board = copy.deepcopy(boards["overview"])
    board["panels"][1]["options"]["showLegendd"] = True
    board["panels"][1]["fieldConfig"]["defaults"]["tresholds"] = {}
    board["timepicker"] = {"hidden": "no"}  # wrong type for a bool
    problems = lost(board, round_trip(board))
    assert any("showLegendd" in p for p in problems)
    assert any("tresholds" in p for p in problems)


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_boards_are_distinct_bilingual_and_use_the_provisioned_source(
    boards: dict[str, dict[str, Any]],
) -> None:
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids) == 6
    for board in boards.values():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in board["title"]), board["title"]
        assert any(ch.isascii() and ch.isalpha() for ch in board["title"])
        for panel in _panels(board):
            assert panel["datasource"]["uid"] == DATASOURCE_UID
            for tgt in panel["targets"]:
                assert "$timeFilter" in tgt["query"], tgt["query"]
                assert "FROM" in tgt["query"] and "|>" not in tgt["query"]  # InfluxQL, no Flux
    ds = datasource_provisioning()["datasources"][0]
    assert ds["uid"] == DATASOURCE_UID and ds["jsonData"]["version"] == "InfluxQL"
    assert ds["secureJsonData"]["httpHeaderValue1"] == "Token $INFLUX_TOKEN"


def _steps(panel: dict[str, Any]) -> list[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [s["value"] for s in steps if s["value"] is not None]


def test_threshold_lines_come_from_the_limits(boards: dict[str, dict[str, Any]]) -> None:
    overview = {p["title"]: p for p in _panels(boards["overview"])}
    # H2S: MAC 10 mg/m3 (GBZ 2.1-2019) -> GBZ/T 223 pre-alarm 5, alarm 10, high alarm 2 x 10
    assert _steps(overview["脱硫泵房硫化氢 Desulf pump house H2S"]) == [5.0, 10.0, 20.0]
    # NH3: PC-STEL 30 -> pre-alarm 15, alarm 30
    assert _steps(overview["储罐区氨 Tank farm NH3"])[:2] == [15.0, 30.0]
    detail = _panels(boards["point-detail"])
    twa = [p for p in detail if p["title"].startswith("累计 C_TWA")]
    resp = next(p for p in twa if "mill-dust-resp" in p["targets"][0]["query"])
    assert _steps(resp) == [1.5]  # cement dust, respirable PC-TWA (GBZ 2.1-2019 Table 2)
    nh3 = next(p for p in twa if "ammonia-nh3-1" in p["targets"][0]["query"])
    assert _steps(nh3) == [20.0, 30.0]  # PC-TWA 20, PC-STEL 30
    noise = {p["title"]: p for p in _panels(boards["noise"])}
    assert _steps(noise["累计 LEX,8h running"]) == [85.0]
    radiation = _panels(boards["radiation"])[0]
    assert _steps(radiation) == [5000.0, 20000.0, 50000.0]  # uSv: 5, 20, 50 mSv


def test_checked_in_files_are_what_build_writes(tmp_path: Path) -> None:
    """`occmon dashboards build examples/demo-plant.yaml` output is committed: keep it current."""
    written = write_all(load(DEMO), tmp_path / "out", tmp_path / "prov")
    for path in written:
        rel = path.relative_to(tmp_path)
        committed = (ROOT / "dashboards/generated" / rel.name if rel.parts[0] == "out"
                     else ROOT / "deploy/grafana/provisioning" / Path(*rel.parts[1:]))
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{committed} is stale: run `occmon dashboards build {DEMO.relative_to(ROOT)}`")
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/occmon.yaml")
                              .read_text(encoding="utf-8"))
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/occmon"
    assert json.loads((ROOT / "dashboards/generated/overview.json").read_text())["uid"]


def test_build_command_writes_boards_and_provisioning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dashboards.cli import main

    assert main(["build", str(DEMO), "--out", str(tmp_path / "b"),
                 "--provisioning", str(tmp_path / "p")]) == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "events.json", "health.json", "noise.json", "overview.json", "point-detail.json",
        "radiation.json"]
    datasource = yaml.safe_load((tmp_path / "p/datasources/occmon.yaml").read_text())
    assert datasource["datasources"][0]["uid"] == DATASOURCE_UID
    assert str(tmp_path / "b" / "overview.json") in capsys.readouterr().out
