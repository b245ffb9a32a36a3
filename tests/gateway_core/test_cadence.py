"""The expected interval of an MQTT device and its silence window (occmon.cadence), and the
windows the site file gives the API, the records and the alarm engine (one rule for all)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.alarms.config import AlarmsConfig
from gateway.alarms.resolve import point_specs
from occmon.cadence import HISTORY, MIN_INTERVAL, Cadence
from occmon.config.schema import DEFAULT_MQTT_INTERVAL, MqttDevice, SiteConfig
from tests.gateway_core.helpers import site_config

MAPPING = {"fields": {"h2s": "gas.h2s"}, "time": "ts", "time_format": "epoch_ms"}


def device(**kw: Any) -> MqttDevice:
    return MqttDevice.model_validate({"id": "wgas-1", "protocol": "mqtt", "topic": "t",
                                      "mapping": MAPPING, **kw})


def learnt(times: list[float], *, timed: bool = True, **kw: Any) -> Cadence:
    cadence = Cadence(device(**kw))
    for t in times:
        cadence.observe(t, timed=timed)
    return cadence


def test_default_interval_keeps_the_old_120_s_window() -> None:
    assert DEFAULT_MQTT_INTERVAL == 40.0
    assert Cadence(device()).window(3) == 3 * 40.0 == 120.0


def test_rate_is_learnt_from_the_median_gap_once_three_gaps_are_known() -> None:
    assert learnt([100.0, 102.0, 104.0]).learnt is None  # two gaps: not yet
    assert learnt([100.0, 102.0, 104.0]).window(3) == 120.0
    # gaps 2, 2, 9 (one late message), 2: median 2 s -> stale after 3 x 2 = 6 s
    cadence = learnt([100.0, 102.0, 104.0, 113.0, 115.0])
    assert cadence.learnt == 2.0
    assert cadence.window(3) == 6.0


def test_learning_never_lengthens_the_window_past_the_default() -> None:
    slow = learnt([0.0, 300.0, 600.0, 900.0, 1200.0])  # a device sending every 5 min
    assert slow.learnt == 300.0
    assert slow.interval == DEFAULT_MQTT_INTERVAL  # configure `interval` to accept that
    assert slow.window(3) == 120.0


def test_history_follows_a_device_that_speeds_up() -> None:
    times = [10.0 * i for i in range(5)] + [40.0 + 2.0 * i for i in range(1, HISTORY + 1)]
    assert learnt(times).learnt == 2.0  # the last 8 gaps are all 2 s


def test_gaps_that_say_nothing_about_the_rate_are_left_out() -> None:
    # duplicates (gap 0) and an older sample (negative gap) are not gaps
    cadence = learnt([100.0, 100.0, 105.0, 99.0, 110.0, 110.0, 115.0])
    assert list(cadence.gaps) == [5.0, 5.0, 5.0]
    # a device without a time field: a replayed backlog arrives in a burst
    burst = learnt([100.0, 100.01, 100.02, 100.03, 100.04], timed=False)
    assert list(burst.gaps) == [] and burst.window(3) == 120.0


def test_the_learnt_interval_has_a_floor() -> None:
    fast = learnt([100.0 + 0.1 * i for i in range(6)])  # ten a second, sample times
    assert fast.learnt == MIN_INTERVAL == 1.0
    assert fast.window(3) == 3.0


def test_configured_interval_and_outright_expire_after() -> None:
    configured = learnt([0.0, 1.0, 2.0, 3.0, 4.0], interval=30.0)
    assert configured.window(3) == 90.0  # configured: not learnt
    assert configured.window(5) == 150.0
    outright = learnt([0.0, 1.0, 2.0, 3.0, 4.0], expire_after=600.0)
    assert outright.window(3) == 600.0  # given outright: learning does not shorten it


def test_interval_is_validated_with_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="interval"):
        device(interval=0)
    with pytest.raises(ValidationError, match="interval"):
        device(interval=7200)


def site(device_extra: dict[str, Any], **sections: Any) -> SiteConfig:
    doc = site_config().model_dump(by_alias=True, exclude_none=True)
    doc["devices"][0].pop("expire_after", None)
    doc["devices"][0].update(device_extra)
    doc.update(sections)
    return SiteConfig.model_validate(doc)


@pytest.mark.parametrize(("extra", "sections", "window"), [
    ({}, {}, 120.0),  # nothing given: 3 x the 40 s default
    ({"interval": 5}, {}, 15.0),  # 3 x 5 s
    ({"interval": 5}, {"gateway": {"stale_after_polls": 4}}, 20.0),
    ({"expire_after": 45}, {}, 45.0),  # an older site file: unchanged
    ({"interval": 5, "expire_after": 45}, {}, 45.0),
])
def test_one_window_for_api_records_and_alarm_engine(
        extra: dict[str, Any], sections: dict[str, Any], window: float) -> None:
    config = site(extra, **sections)
    assert config.expiry("wgas-1") == window  # the API and the daily records
    (spec,) = point_specs(config, config.alarms)
    assert spec.stale_after == window  # the alarm engine's backstop


def test_alarms_section_may_still_set_its_own_polls() -> None:
    config = site({"interval": 5}, alarms={"stale_after_polls": 6})
    (spec,) = point_specs(config, config.alarms or AlarmsConfig())
    assert spec.stale_after == 6 * 5.0
