"""Ingest with OCCMON_INFLUX_URL set: every batch lands in SQLite and in InfluxDB's API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.influx import InfluxSink
from ingest.store import StoreReader
from ingest.subscriber import Ingest, default_sink
from ingest.tee import TeeSink
from occmon import topics
from occmon.payload import encode_batch
from tests.influx_servers import VictoriaMetrics
from tests.ingest.helpers import SITE, Publisher, reading, site_config
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server


def _influx_env(monkeypatch: pytest.MonkeyPatch, url: str, tmp_path: Path) -> None:
    monkeypatch.setenv("OCCMON_INFLUX_URL", url)
    monkeypatch.setenv("OCCMON_INFLUX_TOKEN", "token")
    monkeypatch.setenv("OCCMON_INFLUX_OUTBOX", str(tmp_path / "outbox.db"))


def test_without_influx_env_the_store_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OCCMON_INFLUX_URL", raising=False)
    sink = default_sink(site_config(tmp_path))
    try:
        assert not isinstance(sink, TeeSink)
    finally:
        sink.close()


def test_with_influx_env_store_then_influx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _influx_env(monkeypatch, "http://127.0.0.1:9", tmp_path)
    sink = default_sink(site_config(tmp_path))
    try:
        assert isinstance(sink, TeeSink)
        assert [type(s).__name__ for s in sink.sinks] == ["SqliteStore", "InfluxSink"]
        assert isinstance(sink.sinks[1], InfluxSink)
    finally:
        sink.close()


def test_ingest_tees_readings_into_influx(
    mosquitto: Mosquitto,
    victoria: VictoriaMetrics,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _influx_env(monkeypatch, victoria.url, tmp_path)
    config = site_config(tmp_path, mosquitto.port)
    ingest = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port)
    ingest.start()
    publisher = Publisher(mosquitto.port)
    try:
        assert ingest.wait_ready(20)
        batch = [reading("desulf-h2s-1", i, value=0.25 * i) for i in range(40)]
        publisher.publish(topics.readings(SITE, "desulf-h2s-1"), encode_batch(SITE, batch))
        wait_for(lambda: ingest.counters().get("readings", 0) >= 40, what="40 readings")
    finally:
        publisher.close()
        ingest.stop()
    with StoreReader(config.store.path) as reader:
        assert reader.counters()["readings"] == 40

    def exported() -> list[float]:
        series = victoria.export('{__name__="reading_value",point="desulf-h2s-1"}')
        return series[0]["values"] if series else []

    deadline = time.monotonic() + 30
    while len(exported()) < 40 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert exported() == [0.25 * i for i in range(40)]
