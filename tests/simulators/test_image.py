from __future__ import annotations

import pytest

from gateway.modbus.codec import decode
from gateway.modbus.profile import load_profile
from simulators.fan import Fan
from simulators.image import Bound, ImageError, RegisterImage, check_bindings, fill, loop_ma

GAS = load_profile("toxic-gas-detector")
DUST = load_profile("dust-monitor")
FAN = load_profile("ventilation-fan")


def words(image: RegisterImage, name: str) -> list[int]:
    reg = image.profile.register(name)
    return [image.cells[reg.kind][reg.address + i] for i in range(reg.width)]


def test_gas_reading_and_its_loop_current_agree() -> None:
    image = RegisterImage(GAS)
    fill(image, [Bound("gas_ppm", 12.5, (0.0, 100.0))], fault=False)
    assert decode(words(image, "gas_ppm"), "FLOAT32", "ABCD") == pytest.approx(12.5)
    # loop current in uA (scale 0.001): 4 + 16 x 12.5 / 100 = 6 mA
    assert words(image, "loop_current") == [6000]
    status = words(image, "status")[0]
    assert status & (1 << 3)  # pre-alarm at 10 % FS
    assert not status & (1 << 4)  # alarm at 20 % FS
    assert not status & 1


def test_bound_loop_register_mirrors_into_the_digital_reading() -> None:
    image = RegisterImage(GAS)
    fill(image, [Bound("loop_current", 50.0, (0.0, 100.0))], fault=False)
    assert image.get("loop_current") == pytest.approx(12.0)
    assert image.get("gas_ppm") == pytest.approx(50.0)
    assert words(image, "status")[0] & (1 << 4)


@pytest.mark.parametrize(("value", "milliamps"), [(-50.0, 3.8), (0.0, 4.0), (100.0, 20.0),
                                                  (300.0, 20.5)])
def test_loop_saturates_like_a_transmitter(value: float, milliamps: float) -> None:
    assert loop_ma(value, (0.0, 100.0)) == pytest.approx(milliamps)


def test_fault_sets_status_bit_and_ne43_fault_current() -> None:
    image = RegisterImage(GAS)
    fill(image, [Bound("gas_ppm", 1.0, (0.0, 100.0))], fault=True)
    assert words(image, "status")[0] & 1
    assert words(image, "loop_current") == [3600]


def test_word_swapped_floats_of_the_dust_monitor() -> None:
    image = RegisterImage(DUST)
    fill(image, [Bound("total_mgm3", 2.25, None), Bound("respirable_mgm3", 0.75, None)],
         fault=False)
    assert decode(words(image, "total_mgm3"), "FLOAT32", "CDAB") == pytest.approx(2.25)
    assert decode(words(image, "respirable_mgm3"), "FLOAT32", "CDAB") == pytest.approx(0.75)
    assert decode(words(image, "total_mgm3"), "FLOAT32", "ABCD") != pytest.approx(2.25)


def test_fan_image_follows_the_starter() -> None:
    image = RegisterImage(FAN)
    fan = Fan(spin_up=1.0).command(True, at=0.0).tick(1.0)
    fill(image, [], fault=False, fan=fan)
    assert image.cells["discrete"] == {0: 1, 1: 0}
    assert image.get("motor_current") == pytest.approx(12.5)
    fill(image, [], fault=False, fan=fan.set_failed(True, at=2.0))
    assert image.cells["discrete"] == {0: 0, 1: 1}


def test_only_command_registers_are_writable() -> None:
    assert RegisterImage(FAN).writable("coil", 0, 1)
    assert not RegisterImage(FAN).writable("holding", 0, 1)
    assert not RegisterImage(GAS).writable("holding", 0, 2)
    image = RegisterImage(FAN)
    assert image.write("coil", 0, [True]) == ["run_command"]
    assert image.get("run_command") == 1.0


def test_bindings_are_checked_with_the_device_named() -> None:
    with pytest.raises(ImageError, match="device 'g1': register 'gas_pmm' is not in profile"):
        check_bindings(GAS, "g1", ["gas_pmm"])
    with pytest.raises(ImageError, match="is a coil, not a value"):
        check_bindings(FAN, "f1", ["run_command"])
