"""Site configuration: every problem names the file, the key path and the fix."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from occmon.config import ConfigError, load, parse

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-plant.yaml"
DEMO_DOC: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def test_demo_plant_loads() -> None:
    config = load(DEMO)
    assert config.site.id == "demo-plant"
    assert {d.protocol for d in config.devices} == {"modbus-tcp", "mqtt"}
    assert config.broker is None  # the embedded broker is used
    by_id = {s.id: s for s in config.sensors}
    assert by_id["gp1-h2s"].register_name == "gas_ppm"
    assert by_id["nd1-dose"].quantity == "noise_dose"


def _mutate(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DEMO_DOC)
    target: Any = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return doc


_DELETE = object()

CASES = [
    ("devices.0.port", 70000, "devices[0].port", "less than or equal to 65535"),
    ("devices.0.protocol", "profibus", "devices[0]", "protocol"),
    ("devices.0.hots", "x", "devices[0].hots", "Extra inputs are not permitted"),
    ("points.0.area", "nowhere", "points[0].area", "area 'nowhere' is not defined"),
    ("sensors.0.device", "ghost", "sensors[0].device", "device 'ghost' is not defined"),
    ("sensors.0.point", "ghost", "sensors[0].point", "point 'ghost' is not defined"),
    ("sensors.1.id", "gp1-h2s", "sensors[1].id", "already used by sensors[0]"),
    ("sensors.6.field", "co", "sensors[6].field", "maps no field 'co'"),
    ("sensors.0.range", [10, 1], "sensors[0]", "low < high"),
    ("site.id", "bad id!", "site.id", "should match pattern"),
    ("areas", [], "areas", "at least 1"),
]


@pytest.mark.parametrize(("path", "value", "key", "message"), CASES)
def test_bad_config_names_key_and_message(path: str, value: Any, key: str, message: str) -> None:
    file = Path("plant.yaml")
    config, problems = parse(_mutate(path, value), file)
    assert config is None
    hits = [p for p in problems if p.key == key and message in p.message]
    assert hits, f"no problem at {key} with {message!r}; got {[str(p) for p in problems]}"
    assert all(p.file == file and p.fix for p in problems)


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    doc = _mutate("points.0.area", "nowhere")
    doc["sensors"][0]["device"] = "ghost"
    file = tmp_path / "plant.yaml"
    file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(file)
    keys = {p.key for p in caught.value.problems}
    assert {"points[0].area", "sensors[0].device"} <= keys


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("site:\n  id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(file)
    assert caught.value.problems[0].key.startswith("line ")


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "occmon.cli", "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_check_cli_ok_on_demo() -> None:
    result = _check(DEMO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 points" in result.stdout


def test_config_check_cli_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    doc = _mutate("points.0.agent", "unobtainium")
    doc["sensors"][0]["register"] = "no_such_register"
    file = tmp_path / "plant.yaml"
    file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = _check(file)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{file}: points[0].agent:") for line in lines), lines
    assert any(f"{file}: sensors[0].register:" in line and "fix:" in line for line in lines)
    assert lines[-1] == f"2 problem(s) in {file}"
