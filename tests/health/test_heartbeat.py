"""The heartbeat document, the verdict on a peer's heartbeat, the health: config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from occmon import heartbeat, topics
from occmon.config.health import HealthConfig
from occmon.heartbeat import Problem


def test_topics_parse_component_status() -> None:
    for component in ("gateway", "ingest", "api"):
        parsed = topics.parse(topics.component_status("s", component))
        assert (parsed.kind, parsed.rest) == ("status", (component,))
    for bad in ("occmon/v1/s/status/grafana", "occmon/v1/s/status/ingest/x"):
        with pytest.raises(topics.UnknownTopic):
            topics.parse(bad)
    with pytest.raises(ValueError, match="not one of"):
        topics.component_status("s", "grafana")


def test_payload_round_trips_and_says_offline() -> None:
    raw = heartbeat.payload("s", "ingest", now=1_780_000_010.0, since=1_780_000_000.0,
                            problems=[Problem("disk-low", "0.3 MB free")],
                            figures={"store_write_age_s": 0.25, "writer_alive": True})
    doc = json.loads(raw)
    assert doc["online"] is True and doc["ok"] is False and doc["state"] == "online"
    beat = heartbeat.parse("ingest", raw)
    assert beat is not None
    assert (beat.time, beat.since) == (1_780_000_010.0, 1_780_000_000.0)
    assert beat.problems == (Problem("disk-low", "0.3 MB free"),) and not beat.ok
    assert beat.figures == {"store_write_age_s": 0.25, "writer_alive": True}
    offline = heartbeat.parse("ingest", heartbeat.offline_payload("s", "ingest"))
    assert offline is not None and not offline.online and offline.time is None
    assert offline.reason == "connection lost"
    stopped = heartbeat.parse("ingest", heartbeat.offline_payload("s", "ingest", 1_780_000_020))
    assert stopped is not None and stopped.reason == "stopped"
    assert stopped.time == 1_780_000_020.0
    odd = heartbeat.parse("ingest", b'{"online": true, "time": 5, "figures": '
                                    b'{"a": [1], "b": {"c": 1}, "d": 1.5, "e": NaN}}')
    assert odd is not None and odd.figures == {"d": 1.5, "e": None}  # scalars only
    assert heartbeat.parse("ingest", b"\xff") is None
    assert heartbeat.parse("ingest", b'{"online": "yes"}') is None
    assert heartbeat.parse("ingest", b'{"online": true, "time": "yesterday"}') is None


@pytest.mark.parametrize(("beat", "now", "code"), [
    (None, 100.0, "ingest-unknown"),
    (heartbeat.Beat("ingest", False, None), 100.0, "ingest-offline"),
    (heartbeat.Beat("ingest", True, 90.0), 100.0, None),  # 10 s old, bound 10 s: fresh
    (heartbeat.Beat("ingest", True, 89.5), 100.0, "ingest-stale"),  # 10.5 s > 10 s
])
def test_verdict_on_a_peer(beat: heartbeat.Beat | None, now: float, code: str | None) -> None:
    got = heartbeat.beat_problems("ingest", beat, now, stale_after=10.0)
    assert [p.code for p in got] == ([] if code is None else [code])


def test_disk_problem_names_the_filesystem(tmp_path: Path) -> None:
    free, none = heartbeat.disk_problem("store", tmp_path / "not-yet" / "occmon.db", 0.0)
    assert free is not None and free > 0 and none == []
    _, low = heartbeat.disk_problem("store", tmp_path / "occmon.db", free * 10 + 1)
    assert [p.code for p in low] == ["disk-low"] and str(tmp_path) in low[0].message


def test_health_config_bounds() -> None:
    assert HealthConfig().stale_after >= 2 * HealthConfig().interval
    with pytest.raises(ValidationError, match=r"stale_after \(3 s\) must be at least twice"):
        HealthConfig(interval=2, stale_after=3)
    with pytest.raises(ValidationError, match="must differ"):
        HealthConfig(gateway_metrics_port=9101, ingest_metrics_port=9101)
    with pytest.raises(ValidationError, match="extra"):
        HealthConfig.model_validate({"intervall": 2})


BEAT = heartbeat.Beat("gateway", True, 100.0)
STOPPED = heartbeat.Beat("gateway", False, 105.0, reason="stopped")
WILL = heartbeat.Beat("gateway", False, None, reason="connection lost")
BARE_ON = heartbeat.Beat("gateway", True, None)
BARE_OFF = heartbeat.Beat("gateway", False, None)


@pytest.mark.parametrize(("previous", "new", "kept"), [
    (None, BEAT, BEAT),
    (BEAT, BARE_ON, BEAT),  # the publisher's bare online is not a heartbeat
    (BEAT, WILL, WILL),  # a crash
    (STOPPED, BARE_OFF, STOPPED),  # the publisher's offline right after a clean stop
    (STOPPED, BARE_ON, STOPPED),
    (STOPPED, BEAT, BEAT),  # back
])
def test_merge(previous: heartbeat.Beat | None, new: heartbeat.Beat,
               kept: heartbeat.Beat) -> None:
    assert heartbeat.merge(previous, new) is kept


@pytest.mark.parametrize(("beat", "now", "code"), [
    (BEAT, 109.0, None),
    (BEAT, 110.5, "gateway-stale"),
    (WILL, 101.0, "gateway-offline"),  # a crash is lost at once
    (STOPPED, 115.0, None),  # a clean stop 10 s ago: the rest of a system stop may follow
    (STOPPED, 115.5, "gateway-offline"),  # left stopped: people must know
])
def test_lost(beat: heartbeat.Beat, now: float, code: str | None) -> None:
    got = heartbeat.lost("gateway", beat, now, stale_after=10.0)
    assert (None if got is None else got.code) == code


def test_a_beat_from_the_future_ages_from_its_arrival() -> None:
    future = heartbeat.parse("ingest", b'{"online": true, "time": "2099-01-01T00:00:00Z"}')
    assert future is not None
    kept = heartbeat.merge(None, future, received=100.0)
    assert kept.age(112.0) == 12.0  # not minus 70 years
    assert [p.code for p in heartbeat.beat_problems("ingest", kept, 112.0, 10.0)] == [
        "ingest-stale"]
    old = heartbeat.merge(None, heartbeat.Beat("ingest", True, 50.0), received=100.0)
    assert old.age(101.0) == 51.0  # a retained beat keeps its own (older) time
