"""Point specs from the demo site: set-points from thresholds, defaults, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.alarms.config import AlarmsConfig, PointAlarm
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.resolve import point_specs
from occmon.config import load

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"


def test_demo_site_h2s_gets_gbzt223_setpoints() -> None:
    specs = {s.point: s for s in point_specs(load(DEMO))}
    h2s = specs["desulf-h2s-1"]
    assert h2s.setpoints is not None
    assert (h2s.setpoints.pre_alarm, h2s.setpoints.alarm) == (5.0, 10.0)  # 1/2 MAC, MAC
    assert h2s.stale_after == 3.0  # 3 polls of 1 s
    assert specs["desulf-h2s-w1"].stale_after == 120.0  # MQTT: its expiry window
    assert specs["mill-noise-1"].setpoints is None  # no GBZ/T 223 level for noise
    AlarmEngine(specs.values())  # every spec is accepted


def test_overrides_replace_setpoints_and_delays() -> None:
    alarms = AlarmsConfig(points=[PointAlarm(point="desulf-h2s-1", alarm=8.0, on_delay=1.0),
                                  PointAlarm(point="mill-noise-1", alarm=85.0)])
    specs = {s.point: s for s in point_specs(load(DEMO), alarms)}
    sp = specs["desulf-h2s-1"].setpoints
    assert sp is not None and sp.alarm == 8.0 and specs["desulf-h2s-1"].on_delay == 1.0
    noise = specs["mill-noise-1"].setpoints
    assert noise is not None and noise.alarm == 85.0


def test_bad_alarm_config_is_refused_with_the_point_named() -> None:
    with pytest.raises(ValueError, match="desulf-h2s-1"):
        PointAlarm(point="desulf-h2s-1", pre_alarm=12.0, alarm=10.0)
    with pytest.raises(ValueError, match="nope"):
        point_specs(load(DEMO), AlarmsConfig(points=[PointAlarm(point="nope")]))
    with pytest.raises(ValueError, match="extra"):
        AlarmsConfig.model_validate({"deadband": 3})
