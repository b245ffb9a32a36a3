"""The v1 topic scheme: what parses, what is refused."""

from __future__ import annotations

import pytest

from occmon import topics

GOOD = [
    ("occmon/v1/s/readings", "readings", ()),
    ("occmon/v1/s/readings/p-1", "readings", ("p-1",)),
    ("occmon/v1/s/events/alarm", "events", ("alarm",)),
    ("occmon/v1/s/state/p-1", "state", ("p-1",)),
    ("occmon/v1/s/status/gateway", "status", ("gateway",)),
    ("occmon/v1/s/status/device/d1", "status", ("device", "d1")),
    ("occmon/v1/s/annunciator", "annunciator", ()),
]

BAD = [
    "occmon/v2/s/readings",
    "occmon/v1/s",
    "occmon/v1/s/readings/p/extra",
    "occmon/v1/s/readings/",
    "occmon/v1/s/events",
    "occmon/v1/s/status/fan",
    "occmon/v1/s/weather/x",
    "occmon/v1//readings",
]


@pytest.mark.parametrize(("topic", "kind", "rest"), GOOD)
def test_parses(topic: str, kind: str, rest: tuple[str, ...]) -> None:
    parsed = topics.parse(topic)
    assert (parsed.site, parsed.kind, parsed.rest) == ("s", kind, rest)


@pytest.mark.parametrize("topic", BAD)
def test_refuses(topic: str) -> None:
    with pytest.raises(topics.UnknownTopic):
        topics.parse(topic)


def test_builders_round_trip() -> None:
    assert topics.parse(topics.readings("s")).rest == ()
    assert topics.parse(topics.readings("s", "p")).rest == ("p",)
    assert topics.parse(topics.point_state("s", "p")).kind == "state"
    assert topics.parse(topics.device_status("s", "d")).rest == ("device", "d")
