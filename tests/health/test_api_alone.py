"""The API and its store up, nothing else: /healthz is 503 naming both missing heartbeats,
and a heartbeat that arrives counts (the API reads them from the broker, not the store)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from api.heartbeats import ComponentWatch
from occmon import heartbeat, topics
from occmon.config.schema import SiteConfig
from occmon.mqttclient import stop_loop
from tests.api.serve import serve
from tests.ingest.helpers import SITE, site_config
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server


def test_api_alone_is_503_until_both_beat(tmp_path: Path, mosquitto: Mosquitto) -> None:
    base = site_config(tmp_path, mosquitto.port)
    config = SiteConfig.model_validate(
        {**base.model_dump(), "health": {"interval": 0.5, "stale_after": 3.0,
                                         "min_free_mb": 0}})
    watch = ComponentWatch(config, config.store.path, host=mosquitto.host, port=mosquitto.port)
    with serve(create_app(config, config.store.path, components=watch)) as url:
        answer = httpx.get(f"{url}/healthz")
        assert answer.status_code == 503
        body = answer.json()
        assert {p["code"] for p in body["problems"]} == {"gateway-unknown", "ingest-unknown"}
        assert body["watching"] is True and body["store"] == str(config.store.path)
        assert body["components"]["ingest"]["online"] is None

        beater = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        beater.connect(mosquitto.host, mosquitto.port)
        beater.loop_start()
        try:
            for component in ("gateway", "ingest"):
                problems = ([heartbeat.Problem("disk-low", "0.5 MB free")]
                            if component == "ingest" else [])
                beater.publish(topics.component_status(SITE, component), heartbeat.payload(
                    SITE, component, now=time.time(), since=time.time() - 60,
                    problems=problems, figures={"disk_free_mb": 0.5}), 1, True
                ).wait_for_publish(5)

            def codes() -> set[str] | None:
                got = httpx.get(f"{url}/healthz").json()["problems"]
                found = {p["code"] for p in got}
                return found if "ingest-unknown" not in found else None

            assert wait_for(codes, 10, "the beats") == {"ingest:disk-low"}
            body = httpx.get(f"{url}/healthz").json()
            assert body["components"]["ingest"]["ok"] is False
            assert body["components"]["gateway"]["figures"] == {"disk_free_mb": 0.5}
            # no further beats: both go stale after health.stale_after (3 s), the gateway's
            # first (its beat went first); a stale one's own problems are not repeated
            stale = wait_for(lambda: (c := codes()) and {"gateway-stale", "ingest-stale"} <= c
                             and c, 10, "stale heartbeats")
            assert stale == {"gateway-stale", "ingest-stale"}
        finally:
            beater.disconnect()
            stop_loop(beater)
