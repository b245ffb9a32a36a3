"""A backlog of retained state rows (one per point at start) never holds readings or alarm
events back, and is itself delivered whole, retained, and deleted only after PUBACK.

Ordering, not timing: the messages are counted in the order a real Mosquitto subscriber
receives them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from gateway.publisher import Publisher
from gateway.queue import Entry, Queue
from gateway.sink import reading_entry
from occmon import topics
from tests.gateway_core.helpers import Received, Subscriber, make_reading
from tests.servers import Mosquitto

pytestmark = pytest.mark.server
SITE = "plant-a"
STATES = 3000


def state(i: int) -> Entry:
    doc = {"v": 1, "point": f"p{i}", "state": "normal", "n": i}
    return Entry(topics.point_state(SITE, f"p{i}"), json.dumps(doc).encode(), "status")


def alarm_event(i: int) -> Entry:
    doc = {"v": 1, "kind": "alarm", "point": "p1", "event": "raised", "n": i}
    return Entry(topics.events(SITE, "alarm"), json.dumps(doc).encode(), "event")


async def wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


def kinds(messages: list[Received]) -> list[str]:
    return [topics.parse(m.topic).kind for m in messages]


def before(order: list[str], kind: str) -> int:
    """How many state messages arrived before the first message of ``kind``."""
    return order[: order.index(kind)].count("state")


def new_publisher(queue: Queue, broker: Mosquitto) -> Publisher:
    return Publisher(queue, site=SITE, host=broker.host, port=broker.port,
                     client_id="gw-backlog", publish_batch=200, max_inflight=200)


def test_pending_state_backlog_does_not_hold_back_readings_or_alarms(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """As at a gateway's start: the state rows were committed first, the reading and the
    alarm event after them, and more state after those; all pending when it connects."""
    queue = Queue(tmp_path / "q.db")
    queue.append_many(state(i) for i in range(STATES))
    queue.append_many([reading_entry(SITE, make_reading(0)), alarm_event(0)])
    queue.append_many(state(i) for i in range(STATES, STATES + 500))
    total = STATES + 500
    sub = Subscriber(mosquitto.host, mosquitto.port, f"occmon/v1/{SITE}/#").start()

    async def main() -> Publisher:
        pub = new_publisher(queue, mosquitto)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: kinds(sub.snapshot()).count("state") == total, 60), \
            pub.counters()
        assert await wait_until(lambda: queue.rows == 0, 10), queue.counters()
        await pub.stop()
        await asyncio.wait_for(task, 5)
        return pub

    try:
        pub = asyncio.run(main())
        order = kinds(sub.snapshot())
    finally:
        sub.stop()
    assert order.count("readings") == 1 and order.count("events") == 1
    # Both were committed after 3,000 state rows, yet at most the status lane's share of the
    # window (half) went out before them: they did not wait for the backlog.
    assert before(order, "readings") <= pub.status_cap < STATES
    assert before(order, "events") <= pub.status_cap
    assert queue.counters()["queue.acked"] == total + 2
    # Every state document is retained at the broker, in its latest version.
    late = Subscriber(mosquitto.host, mosquitto.port, f"occmon/v1/{SITE}/state/+",
                      client_id="late").start()
    try:
        assert late.wait_for(lambda: len(late.snapshot()) == total, 20), len(late.snapshot())
        retained = late.snapshot()
    finally:
        late.stop()
    assert all(m.retain for m in retained)
    assert sorted(json.loads(m.payload)["n"] for m in retained) == list(range(total))


def test_state_appended_while_connected_leaves_room_for_readings(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The status lane holds at most half the window: a reading committed just after a burst
    of state goes out at once, ahead of all but the state already on the wire."""
    queue = Queue(tmp_path / "q.db")
    sub = Subscriber(mosquitto.host, mosquitto.port, f"occmon/v1/{SITE}/#").start()

    async def main() -> Publisher:
        pub = new_publisher(queue, mosquitto)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: pub.connected, 10)
        await asyncio.sleep(0.2)  # the drain loop is waiting for rows
        queue.append_many(state(i) for i in range(STATES))
        pub.wake()  # as the committer does after its commit
        queue.append_many([reading_entry(SITE, make_reading(1)), alarm_event(1)])
        pub.wake()
        assert await wait_until(lambda: queue.rows == 0, 60), queue.counters()
        await pub.stop()
        await asyncio.wait_for(task, 5)
        return pub

    try:
        pub = asyncio.run(main())
        assert sub.wait_for(lambda: kinds(sub.snapshot()).count("state") == STATES, 10)
        order = kinds(sub.snapshot())
    finally:
        sub.stop()
    assert before(order, "readings") <= pub.status_cap
    assert before(order, "events") <= pub.status_cap
