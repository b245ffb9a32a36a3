"""``occmon config check`` of fans behind drives: registers named, 16-bit values, feedback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from occmon.check import check_file
from tests.safety.drives import with_drives
from tests.safety.rig import site_doc, write_config

FAN = "ventilation.units[0].fan"


def _problems(tmp_path: Path, doc: dict[str, Any]) -> list[str]:
    config, problems = check_file(write_config(tmp_path, doc))
    assert (config is None) == bool(problems)
    return [f"{p.key}: {p.message}" for p in problems]


def _drive(doc: dict[str, Any]) -> dict[str, Any]:
    drive: dict[str, Any] = doc["ventilation"]["units"][0]["fan"]["drive"]
    return drive


def test_acs580_and_md500_fans_are_clean(tmp_path: Path) -> None:
    doc = with_drives(site_doc(tmp_path, 1883), "acs580", "md500")
    assert _problems(tmp_path, doc) == []


def test_a_register_command_without_a_drive_section_is_refused(tmp_path: Path) -> None:
    doc = with_drives(site_doc(tmp_path, 1883), "acs580", "md500")
    del doc["ventilation"]["units"][0]["fan"]["drive"]
    problems = _problems(tmp_path, doc)
    assert any(p.startswith(f"{FAN}.run_command: device 'fan-1': 'control_word' is a "
                            "register, not a coil") for p in problems), problems


def test_a_status_word_the_profile_lacks_is_named(tmp_path: Path) -> None:
    doc = with_drives(site_doc(tmp_path, 1883), "acs580", "md500")
    _drive(doc)["running"] = {"word": "status", "bit": 2}
    problems = _problems(tmp_path, doc)
    assert any(p.startswith(f"{FAN}.drive.running.word: device 'fan-1': profile "
                            "'abb-acs580' has no register 'status'") for p in problems), problems


def test_a_test_on_a_command_register_is_refused(tmp_path: Path) -> None:
    """The control word is never polled: a running test on it could never change."""
    doc = with_drives(site_doc(tmp_path, 1883), "acs580", "md500")
    _drive(doc)["run"][0]["confirm"] = {"word": "control_word", "bit": 0}
    problems = _problems(tmp_path, doc)
    assert any(p.startswith(f"{FAN}.drive.run[0].confirm.word: device 'fan-1': register "
                            "'control_word' is a UINT16 holding with role 'command'")
               for p in problems), problems


def test_a_step_target_that_is_not_a_command_is_refused(tmp_path: Path) -> None:
    doc = with_drives(site_doc(tmp_path, 1883), "acs580", "md500")
    _drive(doc)["run"][0]["target"] = "status_word"
    problems = _problems(tmp_path, doc)
    assert any(p.startswith(f"{FAN}.drive.run[0].target:") and "role command" in p
               for p in problems), problems


def test_a_value_wider_than_16_bits_is_refused(tmp_path: Path) -> None:
    doc = with_drives(site_doc(tmp_path, 1883), "acs580", "md500")
    _drive(doc)["run"][1]["value"] = 0x1047F
    problems = _problems(tmp_path, doc)
    assert any(p == f"{FAN}.drive.run[1].value: Input should be less than or equal to 65535"
               for p in problems), problems


def test_a_drive_fan_without_running_feedback_is_refused(tmp_path: Path) -> None:
    doc = with_drives(site_doc(tmp_path, 1883), "acs580", "md500")
    del _drive(doc)["running"]
    problems = _problems(tmp_path, doc)
    assert f"{FAN}.drive.running: Field required" in problems, problems


def test_a_status_test_needs_exactly_one_form(tmp_path: Path) -> None:
    doc = with_drives(site_doc(tmp_path, 1883), "acs580", "md500")
    _drive(doc)["fault"] = {"word": "status_word", "bit": 3, "nonzero": True}
    problems = _problems(tmp_path, doc)
    assert any("exactly one of bit, values or nonzero" in p for p in problems), problems
