"""The board and /api/v1/points show the set-points the gateway alarms on, for every point.

The API cannot import the gateway, so it derives set-points itself (api/limits.py); this
pins the two derivations to each other on the demo plant (respirable dust included: its
alarm follows the respirable PC-TWA, 3 x 1.5 = 4.5 mg/m3, not the total dust's)."""

from __future__ import annotations

import pytest

from api.limits import setpoints_of
from gateway.alarms.resolve import point_specs
from occmon.config import load
from tests.ingest.helpers import DEMO


def test_api_set_points_equal_the_gateways() -> None:
    config = load(DEMO)
    specs = {s.point: s for s in point_specs(config)}
    compared = 0
    for point in config.points:
        spec = specs.get(point.id)
        quantity = next(s.quantity for s in config.sensors if s.point == point.id)
        shown = setpoints_of(config, point, quantity)
        engine = spec.setpoints if spec is not None else None
        if engine is None:
            assert shown is None, point.id
            continue
        assert shown is not None, point.id
        assert (shown.pre_alarm, shown.alarm, shown.high_alarm) == pytest.approx(
            (engine.pre_alarm, engine.alarm, engine.high_alarm)), point.id
        compared += 1
    assert compared >= 4
    resp = setpoints_of(config, config.point("mill-dust-resp"), "concentration")
    assert resp is not None and resp.alarm == pytest.approx(4.5)
