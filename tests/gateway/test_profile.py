from __future__ import annotations

from pathlib import Path

import pytest

from gateway.modbus.profile import ProfileError, builtin_names, load_profile, parse_profile

DEMO_REGISTERS = {
    "toxic-gas-detector": {"gas_ppm", "loop_current"},
    "dust-monitor": {"total_mgm3", "respirable_mgm3"},
    "sound-level-meter": {"laeq_1s", "lcpeak"},
    "ventilation-fan": {"run_command", "running", "fault"},
}
# real products' maps from their public manuals (tests/gateway/test_real_profiles.py)
REAL_PRODUCTS = [
    "honeywell-xnx", "honeywell-sensepoint-xcd", "honeywell-midas", "msa-ultima-x",
    "draeger-polytron-8000", "honeywell-raeguard-3", "oldham-itrans-2", "oldham-itrans-2-vol",
    "sick-visic100sf", "abb-acs580", "inovance-md500",
]


def test_builtins_are_the_demo_profiles_and_the_real_products() -> None:
    assert builtin_names() == sorted([*DEMO_REGISTERS, *REAL_PRODUCTS])


@pytest.mark.parametrize(("name", "registers"), sorted(DEMO_REGISTERS.items()))
def test_builtin_has_the_registers_the_demo_plant_binds(name: str, registers: set[str]) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert registers <= set(profile.names)


def test_gas_detector_status_bit_0_is_the_fault() -> None:
    status = load_profile("toxic-gas-detector").register("status")
    assert status.fault_bits == (0,)
    assert status.status_bits is not None and status.status_bits[4] == "alarm"


def test_loop_current_is_scaled_to_milliamps() -> None:
    loop = load_profile("toxic-gas-detector").register("loop_current")
    assert loop.signal == "4-20mA"
    assert 4000 * loop.scale == pytest.approx(4.0)


def reg(name: str, kind: str, address: int, type_: str, **extra: object) -> dict[str, object]:
    return {"name": name, "kind": kind, "address": address, "type": type_, **extra}


@pytest.mark.parametrize(
    ("registers", "message"),
    [
        (
            [reg("h2s", "holding", 0, "FLOAT32", count=1)],
            "profile 'p': register 'h2s' FLOAT32 needs 2 registers, got 1",
        ),
        (
            [reg("a", "holding", 0, "UINT16"), reg("a", "holding", 1, "UINT16")],
            "profile 'p': register 'a' is defined twice",
        ),
        (
            [reg("a", "holding", 0, "FLOAT32"), reg("b", "holding", 1, "UINT16")],
            "profile 'p': register 'b' (holding 1) overlaps 'a' (holding 0-1)",
        ),
        (
            [reg("run", "coil", 0, "UINT16")],
            "profile 'p': register 'run' is a coil and must be BOOL, got UINT16",
        ),
        (
            [reg("x", "input", 0, "BOOL")],
            "profile 'p': register 'x' is a input register and cannot be BOOL (use a coil)",
        ),
        (
            [reg("s", "holding", 0, "FLOAT32", status_bits={0: "fault"})],
            "profile 'p': register 's' has status_bits but is FLOAT32, not an integer word",
        ),
        (
            [reg("s", "holding", 0, "UINT16", status_bits={16: "fault"})],
            "profile 'p': register 's' status bit(s) [16] outside its 16 bits",
        ),
        (
            [reg("v", "holding", 0, "FLOAT16")],
            "profile 'p': register 'v': type: Input should be 'INT16'",
        ),
        (
            [reg("v", "holding", 0, "UINT16", byte_order="ABDC")],
            "profile 'p': register 'v': byte_order: Input should be 'ABCD'",
        ),
        (
            [reg("v", "holding", 0, "UINT16", colour="red")],
            "profile 'p': register 'v': colour: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_profile_names_the_profile_and_register(
    registers: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile({"name": "p", "registers": registers}, "p.yaml")
    assert any(line.startswith(message) for line in caught.value.problems), caught.value.problems


def test_different_kinds_may_share_an_address() -> None:
    profile = parse_profile(
        {"name": "p", "registers": [reg("a", "holding", 0, "UINT16"), reg("b", "input", 0,
                                                                             "UINT16")]},
        "p.yaml",
    )
    assert profile.names == ["a", "b"]


def test_load_by_path_relative_to_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.yaml").write_text(
        "name: mine\nregisters:\n  - {name: co, kind: input, address: 10, type: UINT16}\n"
    )
    profile = load_profile("profiles/mine.yaml", [tmp_path])
    assert profile.register("co").address == 10


def test_unknown_builtin_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"no built-in profile .*known: .*dust-monitor"):
        load_profile("gas-detektor")


def test_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="file not found"):
        load_profile("nowhere/x.yaml", [tmp_path])


def test_invalid_yaml(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(str(tmp_path / "bad.yaml"))
