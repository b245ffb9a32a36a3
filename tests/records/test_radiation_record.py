"""The daily record of a personal-dose point: the investigation level raises an
investigation, never 超标; only a day that alone breaks the single-year limit fails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from ingest.daily.analyze import analyze, verdict_fields
from ingest.daily.spec import PointSpec, point_spec
from ingest.daily.windows import Window, day_window, zone
from occmon.config import load

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"
DAY = dt.date(2026, 5, 12)


def _spec() -> PointSpec:
    config = load(DEMO)
    return point_spec(config, next(p for p in config.points if p.id == "ndt-worker-dose"))


def _day(rise_per_min: float) -> tuple[Window, dict[str, tuple[np.ndarray, np.ndarray]]]:
    day = day_window(DAY, zone("Asia/Shanghai"))
    t = day.start + 60.0 * np.arange(1440)
    return day, {"hp10": (t, 3.0 + rise_per_min * np.arange(1440))}   # cumulative log


def test_a_day_over_the_investigation_share_is_an_investigation_not_an_exceedance() -> None:
    # 1439 rises x 0.02 uSv = 28.78 uSv > 5 mSv / 365 = 13.699 uSv: investigate; 28.78 uSv is
    # far under the 50 mSv single-year limit: 合格, no exceedance event
    day, series = _day(0.02)
    out = analyze(_spec(), series, day, [day], 0.75)
    assert out.fields["dose_usv"] == pytest.approx(28.78)
    assert out.fields["investigation_level_usv"] == pytest.approx(5000 / 365, abs=1e-3)
    assert out.fields["investigate"] is True and out.fields["investigation_follow_up"] is None
    assert out.verdicts["dose"] == "pass" and out.events == []
    assert verdict_fields(out)["verdict"] == "合格"


def test_a_day_that_alone_breaks_the_single_year_limit_fails() -> None:
    # 1439 rises x 35 uSv = 50,365 uSv > 50 mSv = 50,000 uSv: the year is over whatever else
    day, series = _day(35.0)
    out = analyze(_spec(), series, day, [day], 0.75)
    assert out.fields["dose_usv"] == pytest.approx(50365.0)
    assert out.verdicts["dose"] == "fail" and verdict_fields(out)["verdict"] == "超标"
    (event,) = out.events
    assert event["type"] == "dose" and event["limit"] == pytest.approx(50000.0)


def test_a_quiet_day_raises_nothing() -> None:
    # 1439 x 0.005 = 7.195 uSv <= 13.699: no investigation
    day, series = _day(0.005)
    out = analyze(_spec(), series, day, [day], 0.75)
    assert out.fields["investigate"] is False and out.verdicts["dose"] == "pass"
