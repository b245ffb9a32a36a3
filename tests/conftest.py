from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.influx_servers import (
    InfluxDB1,
    VictoriaMetrics,
    running_influxdb1,
    running_victoria_metrics,
)
from tests.servers import Mosquitto, running_mosquitto

# OCCMON_TEST_LOOP=uvloop: every asyncio.run / new_event_loop of the tests makes a uvloop
# loop, the one the gateway runs on by default (gateway.event_loop: auto,
# occmon/eventloop.py); `make test` runs the gateway's suites a second time with it.
if os.environ.get("OCCMON_TEST_LOOP") == "uvloop":
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free port, persistent in tmp_path; stop()/start() allowed."""
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    with running_mosquitto(workdir) as broker:
        yield broker


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """VictoriaMetrics keeping every sample (no dedup): a duplicate delivery shows."""
    workdir = tmp_path / "vm"
    workdir.mkdir()
    with running_victoria_metrics(workdir) as server:
        yield server


@pytest.fixture
def victoria_dedup(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """VictoriaMetrics with InfluxDB's overwrite rule (same series and timestamp: one point)."""
    workdir = tmp_path / "vm-dedup"
    workdir.mkdir()
    with running_victoria_metrics(workdir, dedup=True) as server:
        yield server


@pytest.fixture
def influxdb1(tmp_path: Path) -> Iterator[InfluxDB1]:
    workdir = tmp_path / "influxdb"
    workdir.mkdir()
    with running_influxdb1(workdir) as server:
        yield server
