"""The simulator serves the XNX map with its maintenance states, as the driver reads them."""

from __future__ import annotations

from gateway.modbus.profile import load_profile
from simulators.image import Bound, RegisterImage, fill

XNX = load_profile("honeywell-xnx")


def words(image: RegisterImage, name: str) -> int:
    reg = XNX.register(name)
    return image.cells[reg.kind][reg.address]


def test_states_units_heartbeat_and_inhibit_zero() -> None:
    image = RegisterImage(XNX)
    gas = [Bound("gas", 12.5, (0.0, 100.0), "ppm")]
    fill(image, gas, fault=False)
    assert (words(image, "state"), words(image, "alarm_fault"), words(image, "units")) == (
        1, 0, 4)  # normal monitoring, no bits, ppm
    assert image.get("gas") == 12.5
    beat = words(image, "heartbeat")
    fill(image, gas, fault=False)
    assert words(image, "heartbeat") == beat + 1

    expected = {  # state -> (40007 code, 40006 word): the lowest code the profile maps
        "check-function:warm-up": (2, 0),
        "check-function:inhibit": (3, 0),
        "check-function:bump-test": (10, 0),
        "check-function:zero-calibration-passed": (16, 0),
        "maintenance-required:warning": (7, 1 << 4),
        "failure:instrument-fault": (8, 1 << 6),
    }
    for state, (code, bits) in expected.items():
        image.state = state
        fill(image, gas, fault=False)
        assert (words(image, "state"), words(image, "alarm_fault")) == (code, bits), state
        # the XNX forces its reading to zero in inhibit mode (manual, 40003)
        assert image.get("gas") == (0.0 if "inhibit" in state else 12.5), state


def test_unit_code_follows_the_sensor_unit() -> None:
    image = RegisterImage(XNX)
    fill(image, [Bound("gas", 3.0, None, "mg/m3")], fault=False)
    assert words(image, "units") == 1
    fill(image, [Bound("gas", 3.0, None, "%LEL")], fault=False)
    assert words(image, "units") == 5


def test_a_simulated_fault_is_the_maps_failure_state() -> None:
    image = RegisterImage(XNX)
    fill(image, [Bound("gas", 3.0, None, "ppm")], fault=True)
    assert (words(image, "state"), words(image, "alarm_fault")) == (8, 1 << 6)
