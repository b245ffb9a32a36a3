"""Every shipped profile passes ``occmon config check``, and every real product's profile is
served by the simulator (a real pymodbus server) in each state its map can say, and decoded
back by the gateway's ``ModbusDevice``: what the simulator writes through the profile is what
the driver reads through it, maintenance states included.

The golden cases (tests/gateway/cases/<profile>-*) pin the decoding of the manuals' own
register values; these tests pin that each map is usable end to end.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.modbus.drivers import build_drivers
from gateway.modbus.profile import NORMAL, Profile, builtin_names, load_profile
from gateway.modbus.states import category
from occmon.config import parse
from occmon.model import Reading
from simulators.image import Bound, RegisterImage, fill
from simulators.modbus import ModbusDeviceServer
from tests.gateway.helpers import bindings_for
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "real-instruments.yaml"
DEMO_PROFILES = {"toxic-gas-detector", "dust-monitor", "sound-level-meter", "ventilation-fan"}
# fan drives (no measured value): served and tested in tests/safety/test_drive*.py
DRIVE_PROFILES = {"abb-acs580", "inovance-md500"}


@dataclass(frozen=True)
class Binding:
    """A sensor on one value register: the point's agent, the sensor's unit, a value."""

    register: str
    agent: str
    unit: str
    value: float


# What each real product's device measures in the round trip. Values are exact in the
# register's type (12.5 is exact in FLOAT32; 20.9 %vol is 209 in an INT16 x 0.1; 25 in the
# Midas integer with 0 decimals), so the raw value read back is the value written.
REAL: dict[str, list[Binding]] = {
    "honeywell-xnx": [Binding("gas", "h2s", "ppm", 12.5)],
    "honeywell-sensepoint-xcd": [Binding("gas", "h2s", "ppm", 12.5)],
    "honeywell-midas": [Binding("gas", "ammonia", "ppm", 12.5),
                        Binding("gas_integer", "ammonia", "ppm", 25.0)],
    "msa-ultima-x": [Binding("gas_1", "h2s", "ppm", 5.0), Binding("gas_2", "co", "ppm", 30.0),
                     Binding("gas_3", "oxygen", "%vol", 20.5)],
    "draeger-polytron-8000": [Binding("gas", "ammonia", "ppm", 12.5)],
    "honeywell-raeguard-3": [Binding("gas", "co", "ppm", 209.0)],
    "oldham-itrans-2": [Binding("gas_1", "co", "ppm", 35.0), Binding("gas_2", "h2s", "ppm", 4.0)],
    "oldham-itrans-2-vol": [Binding("gas_1", "oxygen", "%vol", 20.9)],
    "sick-visic100sf": [Binding("dust", "limestone-dust", "mg/m3", 2.5),
                        Binding("co", "co", "ppm", 30.0),
                        Binding("nitric_oxide", "co", "ppm", 4.0)],  # NO: no catalogue agent
}


def test_every_shipped_profile_is_a_demo_map_or_a_real_product_tested_here() -> None:
    assert set(builtin_names()) == DEMO_PROFILES | set(REAL) | DRIVE_PROFILES


def test_real_profiles_cite_their_manual() -> None:
    for name in REAL:
        profile = load_profile(name)
        assert profile.source and ("p." in profile.source or "pp." in profile.source), name


def sensor_for(profile: Profile, device: str) -> dict[str, Any] | None:
    """A sensor on the profile's first measured value, with the unit config check needs."""
    values = [r for r in profile.registers if r.role == "value" and r.type != "BOOL"]
    if not values:
        return None
    reg = values[0]
    sensor: dict[str, Any] = {"id": f"{device}-s", "point": f"{device}-p", "device": device,
                              "register": reg.name}
    if reg.signal == "4-20mA":
        sensor.update(unit="ppm", range=[0, 100])
    elif reg.unit in ("dB", "dB(A)"):
        sensor.update(quantity="laeq")
    elif reg.unit is None and reg.unit_from is None:
        sensor["unit"] = "ppm"
    elif reg.unit not in (None, "ppm", "mg/m3", "%vol"):
        return None  # a motor current: not a point's quantity
    return sensor


def site_with_every_profile() -> dict[str, Any]:
    """One device per shipped profile, each with a sensor on its first measured value."""
    devices, sensors, points = [], [], []
    for i, name in enumerate(builtin_names()):
        device = f"d{i}"
        devices.append({"id": device, "protocol": "modbus-tcp", "host": "127.0.0.1",
                        "port": 16000 + i, "profile": name})
        sensor = sensor_for(load_profile(name), device)
        if sensor is None:
            continue
        agent = "noise" if sensor.get("quantity") == "laeq" else (
            "oxygen" if name.endswith("-vol") else "h2s")
        points.append({"id": f"{device}-p", "name": {"zh": "点", "en": name}, "area": "a",
                       "agent": agent})
        sensors.append(sensor)
    return {
        "site": {"id": "profiles", "name": {"zh": "型号", "en": "profiles"}},
        "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
        "points": points, "devices": devices, "sensors": sensors,
    }


def config_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "occmon.cli", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_config_check_accepts_a_device_of_every_shipped_profile(tmp_path: Path) -> None:
    data = site_with_every_profile()
    assert len(data["devices"]) == len(builtin_names())
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = config_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(builtin_names())} devices" in result.stdout
    # the Ultima X's relocatable map is shown with the address each register goes out at
    ultima = builtin_names().index("msa-ultima-x")
    assert f"device 'd{ultima}' (profile 'msa-ultima-x', base 40000): general_status 40201 = " \
        "holding 200 (base+201)" in result.stdout

    # the check can fail: a status register bound as a value is refused, naming the key
    xnx = builtin_names().index("honeywell-xnx")
    sensor = next(s for s in data["sensors"] if s["device"] == f"d{xnx}")
    sensor["register"] = "state"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    broken = config_check(path)
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert f"sensors[{data['sensors'].index(sensor)}].register" in broken.stdout + broken.stderr
    assert "not a measured value" in broken.stdout + broken.stderr


def test_config_check_accepts_the_real_instruments_example() -> None:
    result = config_check(EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    # one of each real product: the detectors, and the two drives as accident fans
    assert {d["profile"] for d in data["devices"]} == set(REAL) | {"abb-acs580",
                                                                   "inovance-md500"}
    assert "base 41000): general_status 41201 = holding 1200" in result.stdout


def test_the_demo_plant_has_none_of_the_real_instruments() -> None:
    """``make run`` starts the demo plant; the real instruments stay out of it."""
    demo = yaml.safe_load((ROOT / "examples" / "demo-plant.yaml").read_text(encoding="utf-8"))
    assert not {d.get("profile") for d in demo["devices"]} & set(REAL)


def sayable_states(profile: Profile) -> list[str]:
    """Every state the map's status fields name (not heartbeats, not unlisted defaults)."""
    found: list[str] = []
    for reg in profile.registers:
        if reg.role != "status":
            continue
        for f in reg.state_fields:
            if f.heartbeat is None:
                found += [s for s in f.values.values() if s != NORMAL and s not in found]
    return found


async def round_trip(profile_name: str, tmp_path: Path) -> list[tuple[str, list[Reading]]]:
    """Serve the profile from a RegisterImage on a real pymodbus server; poll it with the
    gateway's driver in normal, in each state the map can say, and with a simulated fault."""
    profile = load_profile(profile_name)
    bindings = REAL[profile_name]
    port = free_port()
    unit_id = 126 if profile_name == "draeger-polytron-8000" else 1  # Dräger's default
    data = {
        "site": {"id": "rt", "name": {"zh": "往返", "en": "round trip"}},
        "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
        "points": [{"id": f"p-{b.register}", "name": {"zh": "点", "en": b.register},
                    "area": "a", "agent": b.agent} for b in bindings],
        "devices": [{"id": "dev", "protocol": "modbus-tcp", "host": "127.0.0.1", "port": port,
                     "unit_id": unit_id, "profile": profile_name, "timeout": 1.0,
                     "retries": 1}],
        "sensors": [{"id": f"s-{b.register}", "point": f"p-{b.register}", "device": "dev",
                     "register": b.register, "unit": b.unit} for b in bindings],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config, problems = parse(data, path)
    assert config is not None, problems
    image = RegisterImage(profile)
    server = ModbusDeviceServer("dev", "127.0.0.1", port, unit_id, image)
    await server.start()
    (driver,) = build_drivers(config, bindings_for(config), path)
    bound = [Bound(b.register, b.value, None, b.unit) for b in bindings]
    out: list[tuple[str, list[Reading]]] = []
    try:
        now = 1_750_000_000.0
        for state in [NORMAL, *sayable_states(profile), NORMAL, "fault"]:
            image.state = NORMAL if state == "fault" else state
            fill(image, bound, fault=state == "fault")
            now += 1.0
            out.append((state, await driver.poll(now)))
    finally:
        await driver.close()
        await server.stop()
    assert server.refused == {}, server.refused  # the driver reads only what the map defines
    return out


@pytest.mark.parametrize("name", sorted(REAL))
def test_simulator_serves_the_profile_and_the_driver_decodes_it(
        name: str, tmp_path: Path) -> None:
    profile = load_profile(name)
    polls = asyncio.run(round_trip(name, tmp_path))
    written = {f"s-{b.register}": b.value for b in REAL[name]}
    failure = next((s for s in sayable_states(profile) if category(s) == "failure"), None)
    for state, readings in polls:
        assert {r.sensor for r in readings} == set(written), state
        for r in readings:
            if state == NORMAL:
                assert (str(r.quality), r.reason) == ("good", None), (state, r)
                assert r.raw_value == pytest.approx(written[r.sensor], rel=1e-6), (state, r)
            elif state == "fault":
                # a map with a failure state says the simulated fault with it; a map with no
                # status (Polytron, RAEGuard) cannot: its reading stays as it was
                if failure is None:
                    assert str(r.quality) == "good", r
                else:
                    assert (str(r.quality), category(r.reason or "")) == ("bad", "failure"), r
            elif category(state) == "maintenance-required":
                # NE 107: the output is still valid, flagged
                assert (str(r.quality), r.reason) == ("uncertain", state), r
                assert r.raw_value == pytest.approx(written[r.sensor], rel=1e-6), r
            else:
                assert (str(r.quality), r.reason, r.value) == ("bad", state, None), r
                if "inhibit" in state:  # the simulator forces 0, as the XNX does
                    assert r.raw_value == 0.0, r


# iTrans 2 (manual p. 56): Instrument Mode codes, then the Status Bits that are states
ITRANS_2 = {
    "check-function:span-calibration", "check-function:warm-up",
    "check-function:zero-calibration", "failure:instrument-fault", "check-function:reset",
    "failure:failed-sensor", "out-of-specification:over-range", "failure:calibration-fault",
    "failure:zero-fault", "failure:configuration-fault", "failure:missing-sensor",
    "failure:5v-fault", "failure:power-fault", "maintenance-required:loop-shorted",
    "maintenance-required:loop-open",
}


def test_each_maintenance_state_of_the_gas_detectors_is_served() -> None:
    """The states the issue asks for are in the maps that have them (from DEVICES.md and,
    for the iTrans 2, the manual's pp. 56-58)."""
    expected = {
        "honeywell-sensepoint-xcd": {"check-function:warm-up", "check-function:inhibit",
                                     "check-function:calibration", "failure:instrument-fault",
                                     "maintenance-required:warning"},
        "honeywell-midas": {"check-function:warm-up", "check-function:inhibit",
                            "check-function:bump-test", "check-function:calibration",
                            "maintenance-required:maintenance-fault",
                            "failure:instrument-fault"},
        "msa-ultima-x": {"failure:instrument-fault", "check-function:calibration",
                         "check-function:warm-up"},
        "sick-visic100sf": {"maintenance-required:maintenance-request",
                            "failure:instrument-fault"},
        "draeger-polytron-8000": set(),
        "honeywell-raeguard-3": set(),
        "oldham-itrans-2": ITRANS_2,
        "oldham-itrans-2-vol": ITRANS_2,
    }
    for name, states in expected.items():
        assert set(sayable_states(load_profile(name))) == states, name
