from __future__ import annotations

from pathlib import Path

import pytest

from simulators.scenarios import (
    H2S_LEAK,
    VENT_TAU_S,
    DeadDevice,
    DeviceInfo,
    Excursion,
    FanFailure,
    Scenario,
    ScenarioError,
    SensorInfo,
    get_scenario,
    list_scenarios,
    plan,
)

SENSORS = [
    SensorInfo("gp1-h2s", "gas-panel-1", "desulf", "h2s"),
    SensorInfo("gl1-nh3", "gas-loop-1", "ammonia", "ammonia"),
    SensorInfo("d1-total", "dust-1", "mill", "dust/total"),
    SensorInfo("d1-resp", "dust-1", "mill", "dust/respirable"),
    SensorInfo("w1-h2s", "wgas-1", "desulf", "h2s"),
    SensorInfo("x-h2s", "gas-panel-9", "elsewhere", "h2s"),
]
DEVICES = [
    DeviceInfo("gas-panel-1", "modbus-tcp", False),
    DeviceInfo("gas-loop-1", "modbus-tcp", False),
    DeviceInfo("dust-1", "modbus-tcp", False),
    DeviceInfo("fan-1", "modbus-tcp", True),
    DeviceInfo("wgas-1", "mqtt", False),
    DeviceInfo("gas-panel-9", "modbus-tcp", False),
]


def test_the_named_scenarios() -> None:
    names = [s.name for s in list_scenarios()]
    assert names == ["normal-day", "h2s-leak", "dust-surge", "dead-sensor", "fan-fails",
                     "fan-trips", "bump-test", "maintenance-round"]
    with pytest.raises(ScenarioError, match="choose one of: normal-day"):
        get_scenario("meteor")


@pytest.mark.parametrize(
    ("elapsed", "envelope"),
    [(0.0, 0.0), (60.0, 0.0), (360.0, 0.5), (660.0, 1.0), (1500.0, 1.0), (2010.0, 0.5),
     (2460.0, 0.0), (9999.0, 0.0)],
)
def test_leak_envelope(elapsed: float, envelope: float) -> None:
    assert H2S_LEAK.envelope(elapsed) == pytest.approx(envelope)


def test_leak_passes_alarm_levels_within_its_stated_time() -> None:
    leak = plan(get_scenario("h2s-leak"), SENSORS, DEVICES)
    assert leak.value("gp1-h2s", 0.3, 59.0) == pytest.approx(0.3)
    assert leak.value("gp1-h2s", 0.3, 300.0) > 10.0  # description: 10 ppm at ~270 s
    assert leak.value("gp1-h2s", 0.3, 700.0) > 30.0
    # the leak has one place: the first area with H2S points, both instruments there
    assert set(leak.excursions) == {"gp1-h2s", "w1-h2s"}


def test_a_running_fan_vents_the_leak() -> None:
    leak = plan(get_scenario("h2s-leak"), SENSORS, DEVICES)
    top = leak.value("gp1-h2s", 0.0, 700.0)
    vented = leak.value("gp1-h2s", 0.0, 700.0 + VENT_TAU_S, vented_since=700.0)
    assert vented == pytest.approx(top / 2.718281828, rel=1e-3)
    # a fan that started before the leak: the concentration never builds up
    assert leak.value("gp1-h2s", 0.0, 700.0, vented_since=0.0) == 0.0


def test_dust_surge_adds_to_both_fractions_at_the_first_dust_area_at_any_hour() -> None:
    surge = plan(get_scenario("dust-surge"), SENSORS, DEVICES)
    assert set(surge.excursions) == {"d1-total", "d1-resp"}
    # at the top (60 s + 300 s rise < 1000 s < 60 + 300 + 1800 s): 14 and 5 mg/m3 added
    assert surge.value("d1-total", 2.0, 1000.0) == pytest.approx(16.0)  # noon: 2 + 14
    assert surge.value("d1-total", 0.3, 1000.0) == pytest.approx(14.3)  # night: 0.3 + 14
    assert surge.value("d1-resp", 0.15, 1000.0) == pytest.approx(5.15)
    assert 14.3 > 3 * 4.0 and 5.15 > 3 * 1.5  # above 3x PC-TWA even at night
    assert surge.value("d1-total", 2.0, 30.0) == pytest.approx(2.0)


def test_dead_sensor_targets_and_window() -> None:
    dead = plan(get_scenario("dead-sensor"), SENSORS, DEVICES)
    assert set(dead.outages) == {"gas-panel-1", "wgas-1"}
    assert dead.outage("gas-panel-1", 599.0) is None
    outage = dead.outage("gas-panel-1", 600.0)
    assert outage is not None and outage.mode == "closed"
    assert dead.outage("wgas-1", 8999.0) is not None
    assert dead.outage("gas-panel-1", 9000.0) is None
    assert dead.outage("dust-1", 500.0) is None


def test_fan_fails_hits_fans_only() -> None:
    fails = plan(get_scenario("fan-fails"), SENSORS, DEVICES)
    assert fails.fan_failed("fan-1", 0.0)
    assert not fails.fan_failed("gas-panel-1", 0.0)


def test_fan_trips_hits_the_first_fan_between_the_trip_and_the_repair() -> None:
    devices = [*DEVICES, DeviceInfo("fan-2", "modbus-tcp", True)]
    trips = plan(get_scenario("fan-trips"), SENSORS, devices)
    assert set(trips.fan_failures) == {"fan-1"}  # the standby is left to take over
    assert [trips.fan_failed("fan-1", t) for t in (599.0, 600.0, 899.0, 900.0)] == [
        False, True, True, False]
    assert trips.excursions  # the leak that starts the fan in the first place


def test_a_named_fan_that_is_not_a_fan_fails() -> None:
    with pytest.raises(ScenarioError, match="'gas-panel-1' is not a simulated fan device"):
        plan(Scenario("x", "x", (FanFailure(device="gas-panel-1"),)), SENSORS, DEVICES)
    named = plan(Scenario("x", "x", (FanFailure(device="fan-1"),)), SENSORS, DEVICES)
    assert named.fan_failed("fan-1", 0.0)


def test_selectors_without_match_are_skipped_but_unknown_ids_fail() -> None:
    no_mqtt = [d for d in DEVICES if d.protocol != "mqtt"]
    assert set(plan(get_scenario("dead-sensor"), SENSORS, no_mqtt).outages) == {"gas-panel-1"}
    with pytest.raises(ScenarioError, match="'pump-7' is not a simulated device"):
        plan(Scenario("x", "x", (DeadDevice("pump-7", 0.0),)), SENSORS, DEVICES)


def test_excursion_needs_peak_or_factor() -> None:
    with pytest.raises(ScenarioError, match="exactly one of peak or factor"):
        Excursion(("h2s",), 0.0, 1.0, 1.0, 1.0)


def test_the_leak_reaches_the_levels_the_readme_names_when_it_says() -> None:
    """simulators/README.md: pre-alarm at ~171 s, alarm (MAC) at ~228 s, high alarm at
    ~317 s over a 0.4 ppm production level, H2S 34.08 g/mol at 24.04 L/mol."""
    leak = plan(get_scenario("h2s-leak"), SENSORS, DEVICES)
    mg_per_ppm = 34.08 / 24.04
    sensor = next(iter(leak.excursions))

    def first(level_mg: float) -> int:
        return next(t for t in range(3000) if leak.value(sensor, 0.4, t) * mg_per_ppm >= level_mg)

    readme = (Path(__file__).resolve().parents[2] / "simulators" / "README.md").read_text()
    for level, said in ((5.0, 171), (10.0, 228), (20.0, 317)):  # GBZ/T 223 for H2S
        assert abs(first(level) - said) <= 2, (level, first(level))
        assert f"~{said} s" in readme
    top = max(leak.value(sensor, 0.4, t) for t in range(3000))
    assert top == pytest.approx(35.4)  # 0.4 + 35 ppm
    assert "~35.4 ppm = 50 mg/m3" in readme and round(top * mg_per_ppm) == 50
