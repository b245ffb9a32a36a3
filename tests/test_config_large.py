"""A 5,000-point site loads, checks and builds; look-ups by id are indexed once, not scanned.

Speed itself is measured by bench/config_load.py (docs/benchmarks.md); these tests check
the results, and that the per-point look-ups build their index once rather than once per
call (which is what made start-up quadratic).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.site_gen import PER_DEVICE, write
from gateway.alarms.resolve import point_specs
from gateway.app import build_bindings
from occmon.check import check_file
from occmon.config import SiteConfig, load, lookup
from occmon.config.alarms import PointAlarm

POINTS = 5000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SiteConfig]:
    path = write(tmp_path_factory.mktemp("big"), POINTS)
    return path, load(path)


def test_the_generated_site_loads_with_every_point(big: tuple[Path, SiteConfig]) -> None:
    _, config = big
    assert len(config.points) == POINTS
    assert len(config.sensors) == POINTS
    assert len(config.devices) == POINTS // PER_DEVICE  # 500 devices of 10 sensors
    assert config.alarms is not None and len(config.alarms.points) == POINTS
    # the last device's last channel, reached through the look-ups
    sensor = config.sensors[-1]
    assert (sensor.id, sensor.point, sensor.device) == ("s-499-9", "p-499-9", "panel-499")
    assert config.point("p-499-9").area == "area-49"  # point 4999 // 100 points an area
    assert config.device("panel-499").port == 20000 + 499  # type: ignore[union-attr]


def test_the_generated_site_passes_config_check(big: tuple[Path, SiteConfig]) -> None:
    path, _ = big
    config, problems = check_file(path)
    assert problems == []
    assert config is not None and len(config.points) == POINTS


def test_each_look_up_builds_its_index_once(big: tuple[Path, SiteConfig]) -> None:
    _, config = big
    assert config.alarms is not None
    before = lookup.builds()
    for point in config.points:  # 5,000 look-ups of each kind
        assert config.point(point.id) is point
        assert config.alarms.for_point(point.id).point == point.id
        assert [s.point for s in config.sensors_at(point.id)] == [point.id]
    for device in config.devices:
        assert config.device(device.id) is device
        assert len(config.sensors_of(device.id)) == PER_DEVICE
    # at most one build per list and key (points, alarm rules, sensors by point and by
    # device, devices): a scan per call would have been 20,500 passes over a list
    assert lookup.builds() - before <= 5


def test_bindings_and_alarm_specs_cover_every_point(big: tuple[Path, SiteConfig]) -> None:
    _, config = big
    bindings = build_bindings(config)
    assert len(bindings) == POINTS
    assert all(b.point.id == b.sensor.point for b in bindings.values())
    assert config.alarms is not None
    before = lookup.builds()
    specs = point_specs(config, config.alarms)
    assert lookup.builds() - before <= 5
    assert [s.point for s in specs] == [p.id for p in config.points]
    # every tenth point has the site's own alarm level (bench/site_gen.py)
    by_point = {s.point: s for s in specs}
    assert by_point["p-0-0"].setpoints is not None
    assert by_point["p-0-0"].setpoints.alarm == 0.5
    assert by_point["p-0-1"].setpoints is not None
    assert by_point["p-0-1"].setpoints.alarm != 0.5
    assert all(s.deadband_pct == 10 and s.on_delay == 1 and s.off_delay == 10 for s in specs)


def test_a_copied_config_answers_from_its_own_lists(big: tuple[Path, SiteConfig]) -> None:
    """``model_copy(update=...)`` gives new lists: no index of the old ones may answer."""
    _, config = big
    assert config.point("p-0-0").name.en == "Point 0"
    renamed = [p.model_copy(update={"name": p.name.model_copy(update={"en": f"P {p.id}"})})
               for p in config.points]
    copy = config.model_copy(update={"points": renamed})
    assert copy.point("p-0-0").name.en == "P p-0-0"
    assert config.point("p-0-0").name.en == "Point 0"
    fewer = config.model_copy(update={"sensors": config.sensors[:-PER_DEVICE]})
    assert fewer.sensors_of("panel-499") == []
    assert fewer.sensors_at("p-499-0") == []
    assert len(config.sensors_of("panel-499")) == PER_DEVICE


def test_unknown_ids_and_duplicates_answer_as_a_scan_did(big: tuple[Path, SiteConfig]) -> None:
    _, config = big
    with pytest.raises(KeyError, match="no-such-point"):
        config.point("no-such-point")
    with pytest.raises(KeyError, match="no-such-device"):
        config.device("no-such-device")
    assert config.sensors_of("no-such-device") == []
    assert config.alarms is not None
    assert config.alarms.for_point("no-such-point") == PointAlarm(point="no-such-point")
    # a duplicated id (reported by the cross-checks) finds the first, as the scan did
    twice = config.model_copy(update={"points": [*config.points, config.points[0].model_copy(
        update={"area": "area-1"})]})
    assert twice.point("p-0-0").area == "area-0"
    # a returned list is the caller's own: changing it changes no later answer
    mine = config.sensors_of("panel-0")
    mine.clear()
    assert len(config.sensors_of("panel-0")) == PER_DEVICE
