from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.modbus import validate
from gateway.modbus.profile import builtin_names
from occmon.config import parse
from tests.gateway.sites import DEMO

GAS = "toxic-gas-detector"
KNOWN = ", ".join(builtin_names())  # the shipped profiles, sorted (test_profile pins them)


def site(tmp_path: Path, profile: str, sensor: dict[str, object]) -> list[str]:
    data = {
        "site": {"id": "t", "name": {"zh": "测", "en": "t"}},
        "areas": [{"id": "a", "name": {"zh": "区", "en": "a"}}],
        "points": [{"id": "p", "name": {"zh": "点", "en": "p"}, "area": "a", "agent": "h2s"}],
        "devices": [{"id": "d", "protocol": "modbus-tcp", "host": "127.0.0.1",
                     "profile": profile}],
        "sensors": [{"id": "s", "point": "p", "device": "d", **sensor}],
    }
    file = tmp_path / "site.yaml"
    config, problems = parse(data, file)
    assert config is not None, problems
    return [f"{p.key}: {p.message} | {p.fix}" for p in validate.check(config, file)]


def test_demo_plant_has_no_modbus_problem() -> None:
    config, problems = parse(yaml.safe_load(DEMO.read_text(encoding="utf-8")), DEMO)
    assert config is not None, problems
    assert validate.check(config, DEMO) == []


@pytest.mark.parametrize(
    ("profile", "sensor", "expected"),
    [
        (GAS, {"register": "gas_ppm", "unit": "ppm"}, []),
        ("gas-detektor", {"register": "gas_ppm"},
         ["devices[0].profile: device 'd': profile 'gas-detektor': no built-in profile of that "
          f"name (known: {KNOWN}) | use a built-in profile ({KNOWN}) or a path to a profile "
          "YAML, relative to this file"]),
        (GAS, {"register": "status", "unit": "ppm"},
         ["sensors[0].register: sensor 's': register 'status' of profile 'toxic-gas-detector' "
          "is a UINT16 status register, not a measured value | bind a value register: gas_ppm, "
          "loop_current"]),
        (GAS, {"register": "loop_current", "range": [0, 100]},
         ["sensors[0].unit: sensor 's': register 'loop_current' carries a 4-20 mA signal; the "
          "unit of the scaled value is not known | add the unit of the range, e.g. unit: ppm"]),
        ("sound-level-meter", {"register": "laeq_1s", "quantity": "laeq", "unit": "mg/m3"},
         ["sensors[0].unit: sensor 's': unit 'mg/m3' is not a unit of laeq | use one of: "
          "dB, dB(A), dBA"]),
        ("ventilation-fan", {"register": "running", "unit": "ppm"},
         ["sensors[0].register: sensor 's': register 'running' of profile 'ventilation-fan' is "
          "a BOOL feedback register, not a measured value | bind a value register: "
          "motor_current"]),
    ],
)
def test_check(
    tmp_path: Path, profile: str, sensor: dict[str, object], expected: list[str]
) -> None:
    assert site(tmp_path, profile, sensor) == expected


def test_gas_ppm_without_a_unit_takes_the_profiles(tmp_path: Path) -> None:
    assert site(tmp_path, GAS, {"register": "gas_ppm"}) == []
