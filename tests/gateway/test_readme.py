from __future__ import annotations

from pathlib import Path

import yaml

from gateway.modbus.profile import builtin_names
from tests.driver_docs import assert_readme_embeds_sample

FOLDER = Path(__file__).resolve().parents[2] / "gateway" / "modbus"


def test_readme_embeds_the_sample_verbatim() -> None:
    assert_readme_embeds_sample(FOLDER)


def test_sample_devices_and_sensors_agree() -> None:
    sample = yaml.safe_load((FOLDER / "sample.yaml").read_text(encoding="utf-8"))
    devices = {d["id"]: d for d in sample["devices"]}
    assert {d["profile"] for d in devices.values()} <= set(builtin_names())
    assert {s["device"] for s in sample["sensors"]} <= set(devices)


def test_readme_lists_every_builtin_profile() -> None:
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    for name in builtin_names():
        assert f"`{name}`" in readme
