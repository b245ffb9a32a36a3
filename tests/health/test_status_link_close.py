"""Stopping a status link gives back every descriptor it took (paho's wake-up socket pair too).

paho's ``loop_start`` opens a socket pair that only ``Client.__del__`` closes; a component
that starts and stops its links (each test, each restart of an embedded part) kept two
descriptors per link until a full garbage collection.
"""

from __future__ import annotations

import os
import time

from occmon.status_link import StatusLink
from tests.gateway_core.helpers import site_config
from tests.servers import Mosquitto


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_stopped_link_keeps_no_descriptor(mosquitto: Mosquitto) -> None:
    config = site_config()
    before = open_descriptors()
    links = []  # all held: no garbage collection can close what stop left open
    for _ in range(3):
        link = StatusLink(config, "gateway", host=mosquitto.host, port=mosquitto.port)
        links.append(link)
        link.start()
        deadline = time.monotonic() + 5
        while not link.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert link.connected
        link.stop()
    assert open_descriptors() == before
