"""Issue 13 through real parts: Mosquitto, ingest with its notifier, an annunciator panel
subscribed over MQTT, and a webhook receiver over HTTP.

A sensor-fault push opens the grouping window of the area; the high alarm and the fan
failures that follow in the same area must not wait for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.subscriber import Ingest
from occmon import topics
from occmon.config.notify import NotifyConfig
from occmon.config.schema import SiteConfig
from tests.ingest.helpers import SITE, Publisher, site_config
from tests.notify.annunciator import Annunciator
from tests.notify.servers import HttpSink, http_sink
from tests.notify.support import fault_raised, raised, ventilation_failure
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

LATENCY = 1.0  # s, event raised -> at the annunciator and at the webhook (issue 13)


def with_pushes(config: SiteConfig, sink: HttpSink) -> SiteConfig:
    notify = NotifyConfig.model_validate({
        "channels": [{"id": "annunciator", "type": "mqtt"},
                     {"id": "ops", "type": "webhook", "url": sink.url("/ops")}],
        "contacts": [{"id": "lead", "name": "值班长"}],
        "groups": [{"id": "control-room", "contacts": ["lead"],
                    "channels": ["annunciator", "ops"]}],
        "escalation": [{"group": "control-room", "after": 0}],
        "group_window": 30,
    })
    return config.model_copy(update={"notify": notify})


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[Ingest, Annunciator, HttpSink,
                                                                 Publisher]]:
    with http_sink() as sink:
        config = with_pushes(site_config(tmp_path, mosquitto.port), sink)
        worker = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port)
        worker.start()
        panel = Annunciator(mosquitto.host, mosquitto.port, SITE)
        gateway = Publisher(mosquitto.port)
        try:
            assert worker.wait_ready(20), "ingest did not subscribe within 20 s"
            yield worker, panel, sink, gateway
        finally:
            gateway.close()
            panel.close()
            worker.stop()


def publish(gateway: Publisher, event_id: int, body: dict[str, Any]) -> None:
    """As the gateway's safety shell puts it on the wire (gateway/safety/wire.py)."""
    doc = {"v": 1, "site": SITE, "id": event_id, **body}
    gateway.publish(topics.events(SITE, "alarm"), json.dumps(doc).encode())


def arrivals(panel: Annunciator, sink: HttpSink, alarm_id: str) -> tuple[float, float]:
    """When the first push of ``alarm_id`` reached the panel and the webhook."""
    def both() -> tuple[float, float] | None:
        mqtt = panel.of(alarm_id)
        http = [r for r in sink.of("/ops") if alarm_id in [a["alarm_id"]
                                                         for a in r.body["alarms"]]]
        return (mqtt[0].received, http[0].received) if mqtt and http else None

    return wait_for(both, 35, f"{alarm_id} at the annunciator and the webhook")


def test_a_fault_window_does_not_delay_the_high_alarm_or_the_fan_failures(
        rig: tuple[Ingest, Annunciator, HttpSink, Publisher]) -> None:
    worker, panel, sink, gateway = rig
    start = time.time()
    publish(gateway, 1, fault_raised("desulf-h2s-w1", time=start))
    arrivals(panel, sink, "desulf-h2s-w1:fault")  # the desulf area's window is open now

    timings = {}
    for event_id, body in enumerate([raised("desulf-h2s-1", value=25.0, time=time.time()),
                                     ventilation_failure("primary", time=time.time()),
                                     ventilation_failure("standby", time=time.time())], start=2):
        raised_at = time.time()
        publish(gateway, event_id, {**body, "time": raised_at})
        at_panel, at_hook = arrivals(panel, sink, body["alarm_id"])
        timings[body["alarm_id"]] = (at_panel - raised_at, at_hook - raised_at)

    for alarm_id, (to_panel, to_hook) in timings.items():
        assert to_panel <= LATENCY, f"{alarm_id}: {to_panel:.3f} s to the annunciator"
        assert to_hook <= LATENCY, f"{alarm_id}: {to_hook:.3f} s to the webhook"
    assert time.time() - start < 30  # all of it inside the window the fault opened
    # each went alone, at once; nothing waited in the window
    hook = [[a["alarm_id"] for a in r.body["alarms"]] for r in sink.of("/ops")]
    assert hook == [["desulf-h2s-w1:fault"], ["desulf-h2s-1:process"],
                    ["desulf-exhaust:primary:ventilation-failure"],
                    ["desulf-exhaust:standby:ventilation-failure"]]
    standby = sink.of("/ops")[3].body["alarms"][0]
    assert (standby["name_en"], standby["area"]) == ("Desulf accident exhaust", "desulf")
    assert worker.push is not None and worker.push.errors == 0
