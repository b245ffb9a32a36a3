"""Acceptance: a reading above MAC shows up at /api/v1/exceedances within 10 s, through the
running system: a real Mosquitto, ingest subscribed to it, the API over real HTTP, read with
the inspector's key (the demo plant's H2S point, MAC 10 mg/m3)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.subscriber import Ingest
from occmon import topics
from occmon.payload import encode_batch
from tests.api.serve import serve
from tests.ingest.helpers import SITE, Publisher, reading, site_config
from tests.servers import Mosquitto

pytestmark = pytest.mark.server
INSPECTOR = {"X-API-Key": "demo-inspector-key"}  # the demo config's inspector key (demo only)


@pytest.fixture
def running(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[httpx.Client, Publisher]]:
    config = site_config(tmp_path, mosquitto.port)
    worker = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port)
    worker.start()
    publisher = Publisher(mosquitto.port)
    try:
        assert worker.wait_ready(20), "ingest did not subscribe within 20 s"
        with serve(create_app(config, config.store.path)) as url, \
                httpx.Client(base_url=url, headers=INSPECTOR, timeout=10) as http:
            yield http, publisher
    finally:
        publisher.close()
        worker.stop()


def mac_events(http: httpx.Client) -> list[dict[str, Any]]:
    r = http.get("/api/v1/exceedances", params={"point": "desulf-h2s-1", "type": "mac"})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["items"]
    return found


def test_a_reading_above_mac_is_at_the_api_within_10_s(
    running: tuple[httpx.Client, Publisher],
) -> None:
    http, publisher = running
    now = time.time()
    below = reading("desulf-h2s-1", 0, value=4.0, time=now - 5)
    above = reading("desulf-h2s-1", 0, value=25.0, time=now)
    publisher.publish(topics.readings(SITE, "desulf-h2s-1"), encode_batch(SITE, [below]))
    time.sleep(0.5)
    assert mac_events(http) == []  # 4 mg/m3 is under the MAC: nothing to show
    sent = time.monotonic()
    publisher.publish(topics.readings(SITE, "desulf-h2s-1"), encode_batch(SITE, [above]))
    while not (found := mac_events(http)):
        assert time.monotonic() - sent < 10.0, "the MAC exceedance was not listed within 10 s"
        time.sleep(0.2)
    (event,) = found
    assert event["provisional"] is True and event["status"] == "open"
    assert event["agent"]["id"] == "h2s" and event["peak"] == 25.0
    assert event["limit"] == 10.0 and event["ratio"] == 2.5  # 25 / MAC 10, by hand
    assert abs(dt.datetime.fromisoformat(event["start"]).timestamp() - now) < 0.01
