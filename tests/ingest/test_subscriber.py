"""Readings through a real Mosquitto into the real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.reader import StoreReader
from ingest.records import GATEWAY, Event
from ingest.subscriber import Ingest
from occmon import topics
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reason
from occmon.payload import encode_batch
from tests.ingest.helpers import SITE, T0, Publisher, reading
from tests.servers import wait_for

pytestmark = pytest.mark.server


def rows(config: SiteConfig) -> list[tuple[object, ...]]:
    with StoreReader(config.store.path) as reader:
        return reader._all("SELECT point, quantity, time, value, quality, reason FROM readings")


def test_batches_reach_the_store(config: SiteConfig, ingest: Ingest, publisher: Publisher) -> None:
    h2s = [reading("desulf-h2s-1", i, value=0.5 + i) for i in range(10)]
    bad = reading(
        "ammonia-nh3-1", 0, value=None, quality=Quality.BAD, reason=Reason.LOOP_UNDER_RANGE
    )
    publisher.publish(topics.readings(SITE, "desulf-h2s-1"), encode_batch(SITE, h2s))
    publisher.publish(topics.readings(SITE, "ammonia-nh3-1"), encode_batch(SITE, [bad]))

    stored = wait_for(lambda: len(rows(config)) == 11 and rows(config), what="11 rows")
    # the counters commit just after the rows: wait for the in-memory count, updated last
    wait_for(lambda: ingest.counters().get("readings") == 11, what="the readings counter")
    assert ("desulf-h2s-1", "concentration", T0 + 3, 3.5, "good", None) in stored
    assert ("ammonia-nh3-1", "concentration", T0, None, "bad", "loop-under-range") in stored
    with StoreReader(config.store.path) as reader:
        latest = reader.latest("desulf-h2s-1", "concentration")
        assert latest is not None
        assert latest.reading == h2s[-1]  # every field round-trips, raw value included
        assert reader.counters()["readings"] == 11
    assert ingest.counters()["readings"] == 11


def test_same_batch_twice_is_stored_once_and_updated(
    config: SiteConfig, ingest: Ingest, publisher: Publisher
) -> None:
    topic = topics.readings(SITE, "desulf-h2s-1")
    first = [reading("desulf-h2s-1", i, value=1.0) for i in range(5)]
    publisher.publish(topic, encode_batch(SITE, first))
    publisher.publish(topic, encode_batch(SITE, first))
    wait_for(lambda: ingest.counters().get("readings", 0) >= 10, what="both batches")
    assert len(rows(config)) == 5

    again = [reading("desulf-h2s-1", i, value=2.0) for i in range(5)]
    publisher.publish(topic, encode_batch(SITE, again))
    wait_for(lambda: ingest.counters().get("readings", 0) >= 15, what="the replay")
    stored = rows(config)
    assert len(stored) == 5
    assert {row[3] for row in stored} == {2.0}


def test_device_and_gateway_status(
    config: SiteConfig, ingest: Ingest, publisher: Publisher
) -> None:
    publisher.publish(
        topics.device_status(SITE, "gas-panel-1"),
        b'{"v":1,"device":"gas-panel-1","online":false,"time":"2026-05-28T00:00:00Z",'
        b'"reason":"timeout"}',
        retain=True,
    )
    publisher.publish(topics.gateway_status(SITE), b'{"online":true}', retain=True)

    def states() -> dict[str, tuple[bool, str | None]]:
        with StoreReader(config.store.path) as reader:
            return {s.device: (s.online, s.reason) for s in reader.device_states()}

    found = wait_for(lambda: len(states()) == 2 and states(), what="two states")
    assert found == {"gas-panel-1": (False, "timeout"), GATEWAY: (True, None)}


def test_events_are_stored(config: SiteConfig, ingest: Ingest, publisher: Publisher) -> None:
    body = b'{"v":1,"point":"desulf-h2s-1","level":"alarm","time":"2026-05-28T01:00:00+08:00"}'
    publisher.publish(topics.events(SITE, "alarm"), body)

    def events() -> list[Event]:
        with StoreReader(config.store.path) as reader:
            return list(reader.events("alarm"))

    (event,) = wait_for(events, what="the alarm event")
    assert event.time == datetime(2026, 5, 27, 17, 0, tzinfo=UTC).timestamp()
    assert event.body["level"] == "alarm"
