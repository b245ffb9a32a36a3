"""A configuration or environment problem stops ``occmon run`` before anything starts, in
lines that name key and fix, exit 2, never a traceback; ``config check`` finds each first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.run.support import demo_config


def occmon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "occmon.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def variant(tmp_path: Path, change: Any) -> Path:
    path, _ = demo_config(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    out = tmp_path / "variant.yaml"
    out.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return out


def assert_refused(tmp_path: Path, config: Path, key: str, words: str) -> None:
    check = occmon("config", "check", str(config), cwd=tmp_path)
    assert check.returncode == 2, check.stdout
    assert f"{config}: {key}: " in check.stdout and words in check.stdout, check.stdout
    assert "Traceback" not in check.stdout + check.stderr
    run = occmon("run", str(config), cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert f"{config}: {key}: " in run.stderr and words in run.stderr, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert "occmon is running" not in run.stdout


def test_a_unit_the_agents_quantity_cannot_take(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["sensors"][0]["unit"] = "dB(A)"  # gp1-h2s, an H2S detector

    config = variant(tmp_path, change)
    assert_refused(tmp_path, config, "sensors[0].unit",
                   "unit 'dB(A)' cannot be converted to mg/m3 for agent 'h2s'")
    check = occmon("config", "check", str(config), cwd=tmp_path)
    assert "1 problem(s)" in check.stdout  # said once, not again as a simulator problem


def test_ppm_of_a_dust(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["sensors"][2]["unit"] = "ppm"  # d1-total, cement dust

    assert_refused(tmp_path, variant(tmp_path, change), "sensors[2].unit",
                   "no molar mass")


def test_two_simulated_devices_on_one_port(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["devices"][1]["port"] = doc["devices"][0]["port"]

    assert_refused(tmp_path, variant(tmp_path, change), "devices[1].port",
                   "which simulated device 'gas-panel-1' already uses")


def test_a_simulated_device_on_the_api_port(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["devices"][2]["port"] = doc["api"]["port"]

    assert_refused(tmp_path, variant(tmp_path, change), "devices[2].port",
                   "which the API already uses")


def test_a_scenario_given_on_the_command_line_is_checked_like_a_configured_one(
        tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        del doc["simulation"]
        doc["devices"][1]["port"] = doc["devices"][0]["port"]

    config = variant(tmp_path, change)
    assert occmon("config", "check", str(config), cwd=tmp_path).returncode == 0  # real devices
    run = occmon("run", str(config), "--scenario", "h2s-leak", cwd=tmp_path)
    assert run.returncode == 2
    assert "devices[1].port" in run.stderr and "Traceback" not in run.stderr


def test_an_unknown_scenario_and_an_unwritable_store_are_one_line(tmp_path: Path) -> None:
    config, _ = demo_config(tmp_path)
    run = occmon("run", str(config), "--scenario", "meteor", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("occmon run: unknown scenario 'meteor'; choose one of: ")
    assert run.stderr.count("\n") == 1

    def change(doc: dict[str, Any]) -> None:
        doc["store"]["path"] = str(tmp_path / "not-a-dir" / "x" / "occmon.db")
        (tmp_path / "not-a-dir").write_text("a file where a folder should be")

    run = occmon("run", str(variant(tmp_path, change)), cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("occmon run: ") and run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr
