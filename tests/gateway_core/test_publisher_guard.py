"""A bug in the publisher's send loop or keep-alive must never silence it for good.

Against a real Mosquitto: the send loop raises on its first rounds (a fault injected into
the queue's read), or the keep-alive call raises once; the traceback goes to the log,
``publisher.crashes`` counts it, the publisher reconnects after a pause and every reading
still arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTErrorCode

from gateway import publisher as publisher_module
from gateway.publisher import Publisher
from gateway.queue import Queue, Row
from gateway.sink import reading_entry
from tests.gateway_core.helpers import Subscriber, key, make_reading
from tests.servers import Mosquitto

pytestmark = pytest.mark.server
SITE = "plant-a"


class FaultyQueue(Queue):
    """The real queue, whose first ``faults`` lane reads raise a bug-like error."""

    faults = 0

    def peek_lanes(self, limit: int, status_limit: int) -> tuple[list[Row], list[Row]]:
        if self.faults > 0:
            self.faults -= 1
            raise KeyError("injected fault in the send round")
        return super().peek_lanes(limit, status_limit)


async def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


def make_publisher(queue: Queue, broker: Mosquitto) -> Publisher:
    return Publisher(queue, site=SITE, host=broker.host, port=broker.port, client_id="gw-guard",
                     publish_batch=10, max_inflight=5, min_backoff=0.1, max_backoff=0.5)


def test_a_send_loop_that_raises_is_logged_and_restarted(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    sub = Subscriber(mosquitto.host, mosquitto.port, f"occmon/v1/{SITE}/readings/#").start()
    queue = FaultyQueue(tmp_path / "q.db")
    queue.faults = 2  # two rounds fail in a row: pauses 0.1 s, then 0.2 s
    sent = [make_reading(i, point=f"p{i % 3}") for i in range(120)]
    queue.append_many([reading_entry(SITE, r) for r in sent])
    caplog.set_level(logging.ERROR, logger="gateway.publisher")

    async def main() -> dict[str, int]:
        pub = make_publisher(queue, mosquitto)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: queue.rows == 0, 20), pub.counters()
        assert not task.done()  # still running, not dead
        await pub.stop()
        await asyncio.wait_for(task, 5)
        return pub.counters()

    try:
        counters = asyncio.run(main())
        assert sub.wait_for(lambda: len(sub.readings()) >= 120, 20)
        got = sub.readings()
    finally:
        sub.stop()
    assert counters["publisher.crashes"] == 2
    assert counters["publisher.connects"] == 3  # the first and two restarts
    failures = [r for r in caplog.records if "send loop failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info and r.exc_info[0] is KeyError for r in failures)  # traceback kept
    assert sorted(set(map(key, got))) == sorted(map(key, sent))


def test_a_keepalive_call_that_raises_is_logged_and_the_connection_renewed(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """paho's ``loop_misc`` raising once (any bug on that path) must not leave a connection
    that never pings again: it is logged, dropped and made anew, and readings flow."""
    calls = [0]
    real = mqtt.Client.loop_misc

    def loop_misc(self: mqtt.Client) -> MQTTErrorCode:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("injected fault in loop_misc")
        return real(self)

    monkeypatch.setattr(mqtt.Client, "loop_misc", loop_misc)
    monkeypatch.setattr(publisher_module, "MISC_INTERVAL", 0.1)
    caplog.set_level(logging.ERROR, logger="gateway.publisher")
    queue = Queue(tmp_path / "q.db")

    async def main() -> dict[str, int]:
        pub = make_publisher(queue, mosquitto)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: pub.counters().get("publisher.connects", 0) >= 2, 10)
        queue.append_many([reading_entry(SITE, make_reading(i)) for i in range(7)])
        pub.wake()
        assert await wait_until(lambda: queue.rows == 0, 10), pub.counters()
        # the new connection's keep-alive ticks every 0.1 s: give it the time to run once
        assert await wait_until(lambda: calls[0] >= 2, 5), calls
        await pub.stop()
        await asyncio.wait_for(task, 5)
        return pub.counters()

    counters = asyncio.run(main())
    assert counters["publisher.crashes"] == 1
    assert calls[0] >= 2  # the keep-alive ran again on the new connection
    assert any("keep-alive failed" in r.getMessage() and r.exc_info for r in caplog.records)
