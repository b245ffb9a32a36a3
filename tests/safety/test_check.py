"""``occmon config check`` of the safety sections: cross-references, named culprits."""

from __future__ import annotations

from pathlib import Path

from occmon.check import check_file
from tests.safety.rig import site_doc, write_config


def _problems(tmp_path: Path, **unit: object) -> list[str]:
    doc = site_doc(tmp_path, 1883, **unit)
    config, problems = check_file(write_config(tmp_path, doc))
    assert (config is None) == bool(problems)
    return [f"{p.key}: {p.message}" for p in problems]


def test_the_test_site_is_clean(tmp_path: Path) -> None:
    assert _problems(tmp_path) == []


def test_a_fan_that_is_a_gas_detector_is_named(tmp_path: Path) -> None:
    problems = _problems(tmp_path, standby={"device": "gas-panel-1"})
    assert any(p.startswith("ventilation.units[0].standby.run_command: device 'gas-panel-1'")
               for p in problems), problems


def test_unknown_fan_device_and_point_are_named(tmp_path: Path) -> None:
    problems = _problems(tmp_path, fan={"device": "fan-9"}, points=["nowhere"])
    assert "ventilation.units[0].fan.device: device 'fan-9' is not in devices" in problems
    assert any("unknown point 'nowhere'" in p for p in problems), problems


def test_a_feedback_name_that_is_not_an_input_is_named(tmp_path: Path) -> None:
    problems = _problems(tmp_path, fan={"device": "fan-1", "running": "motor_current"})
    assert any(p.startswith("ventilation.units[0].fan.running:") and "feedback" in p
               for p in problems), problems
