from __future__ import annotations

from pathlib import Path

import pytest

from ingest.influx.settings import InfluxSettings
from occmon.config import load


def test_no_url_means_no_influx_sink() -> None:
    assert InfluxSettings.from_env({}) is None


def test_url_without_token_is_refused() -> None:
    with pytest.raises(ValueError, match="OCCMON_INFLUX_TOKEN"):
        InfluxSettings.from_env({"OCCMON_INFLUX_URL": "http://influxdb:8086"})


def test_settings_build_a_sink_tagged_with_site_and_areas(tmp_path: Path) -> None:
    settings = InfluxSettings.from_env({
        "OCCMON_INFLUX_URL": "http://127.0.0.1:9", "OCCMON_INFLUX_TOKEN": "t",
        "OCCMON_INFLUX_BUCKET": "b", "OCCMON_INFLUX_OUTBOX": str(tmp_path / "o.db")})
    assert settings is not None and settings.org == "occmon" and settings.bucket == "b"
    sink = settings.sink(load("examples/demo-plant.yaml"))
    try:
        assert sink.site == "demo-plant" and sink.areas["mill-noise-1"] == "mill"
        assert (tmp_path / "o.db").exists()
    finally:
        sink.close()
