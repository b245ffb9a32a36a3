"""The publisher against a real Mosquitto: everything arrives, deletion waits for PUBACK."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from gateway.publisher import Publisher, build_messages, join_readings
from gateway.queue import Queue
from gateway.sink import reading_entry
from occmon import topics
from occmon.payload import decode_batch, encode_batch
from tests.gateway_core.helpers import Subscriber, key, make_reading
from tests.servers import Mosquitto

pytestmark = pytest.mark.server
SITE = "plant-a"


def publisher(
    queue: Queue, broker: Mosquitto, *, publish_batch: int = 200, max_inflight: int = 200
) -> Publisher:
    return Publisher(
        queue,
        site=SITE,
        host=broker.host,
        port=broker.port,
        client_id="gw-test",
        publish_batch=publish_batch,
        max_inflight=max_inflight,
    )


async def wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


def test_joined_rows_are_exactly_encode_batch() -> None:
    readings = [make_reading(i) for i in range(5)]
    bodies = [reading_entry(SITE, r).payload for r in readings]
    assert join_readings(SITE, bodies) == encode_batch(SITE, readings)


def test_messages_batch_readings_of_all_points_on_the_site_topic(tmp_path: Path) -> None:
    """One message carries a poll round of many points: 7 readings, batch 3 -> 3, 3, 1."""
    queue = Queue(tmp_path / "q.db")
    readings = [make_reading(i, point=f"p{i % 2}") for i in range(7)]
    queue.append_many([reading_entry(SITE, r) for r in readings])
    messages = build_messages(SITE, queue.peek(100), batch=3)
    assert [(m.topic, len(m.seqs)) for m in messages] == [
        (topics.readings(SITE), 3),
        (topics.readings(SITE), 3),
        (topics.readings(SITE), 1),
    ]
    carried = [r.point for m in messages for r in decode_batch(m.payload)[1]]
    assert carried == [r.point for r in readings]  # oldest first, points mixed
    assert not any(m.retain for m in messages)


def test_five_thousand_readings_arrive_as_sent(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.host, mosquitto.port, f"occmon/v1/{SITE}/readings/#").start()
    queue = Queue(tmp_path / "q.db")
    sent = [make_reading(i, point=f"p{i % 4}") for i in range(5000)]
    queue.append_many([reading_entry(SITE, r) for r in sent])

    async def main() -> None:
        pub = publisher(queue, mosquitto, publish_batch=100, max_inflight=20)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: queue.rows == 0, 60), pub.counters()
        await pub.stop()
        await asyncio.wait_for(task, 5)

    try:
        asyncio.run(main())
        assert sub.wait_for(lambda: len(sub.readings()) >= 5000, 30)
        got = sub.readings()
    finally:
        sub.stop()
    assert sorted(got, key=key) == sorted(sent, key=key)  # whole readings, not only keys


def test_rows_leave_the_queue_only_after_puback(tmp_path: Path, mosquitto: Mosquitto) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> None:
        pub = publisher(queue, mosquitto, publish_batch=50, max_inflight=10)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: pub.connected, 10)
        assert mosquitto.process is not None
        mosquitto.process.send_signal(signal.SIGSTOP)  # the broker takes nothing, acks nothing
        try:
            queue.append_many([reading_entry(SITE, make_reading(i)) for i in range(2000)])
            pub.wake()
            assert await wait_until(lambda: queue.inflight > 0, 10)
            await asyncio.sleep(1.0)
            assert queue.rows == 2000  # sent, maybe in the broker's socket, but not acked
            assert queue.inflight <= 10 * 50  # the window holds
        finally:
            mosquitto.process.send_signal(signal.SIGCONT)
        assert await wait_until(lambda: queue.rows == 0, 30), pub.counters()
        counters = pub.counters()
        assert counters["publisher.rows_acked"] == 2000
        await pub.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())


def test_gateway_status_online_retained_then_offline_on_stop(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> None:
        pub = publisher(queue, mosquitto)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: pub.connected, 10)
        await asyncio.sleep(0.3)
        late = Subscriber(
            mosquitto.host, mosquitto.port, f"occmon/v1/{SITE}/status/gateway", client_id="late"
        ).start()
        try:
            assert late.wait_for(lambda: len(late.snapshot()) >= 1, 5)
            first = late.snapshot()[0]
            assert first.retain and json.loads(first.payload)["online"] is True
            await pub.stop()
            await asyncio.wait_for(task, 5)
            assert late.wait_for(lambda: len(late.snapshot()) >= 2, 5)
            assert json.loads(late.snapshot()[-1].payload)["online"] is False
        finally:
            late.stop()

    asyncio.run(main())


def test_rows_in_flight_when_the_broker_dies_are_sent_again(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> dict[str, int]:
        pub = publisher(queue, mosquitto, publish_batch=50, max_inflight=10)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: pub.connected, 10)
        assert mosquitto.process is not None
        mosquitto.process.send_signal(signal.SIGSTOP)
        queue.append_many([reading_entry(SITE, make_reading(i)) for i in range(2000)])
        pub.wake()
        assert await wait_until(lambda: queue.inflight == 500, 10)  # a full window, no acks
        mosquitto.process.send_signal(signal.SIGKILL)  # dies holding them
        await asyncio.to_thread(mosquitto.process.wait)
        mosquitto.process = None
        assert await wait_until(lambda: queue.inflight == 0, 10)  # all pending again
        assert queue.rows == 2000 and not pub.connected
        await asyncio.to_thread(mosquitto.start)
        assert await wait_until(lambda: queue.rows == 0, 30), pub.counters()
        await pub.stop()
        await asyncio.wait_for(task, 5)
        return {**pub.counters(), **queue.counters()}

    counters = asyncio.run(main())
    assert counters["queue.released"] == 500  # the window the dead broker never acked
    assert counters["publisher.rows_sent"] == 2000 + 500  # sent again, and only those
    assert counters["queue.acked"] == 2000


def test_wake_sends_at_once_from_the_event_loop(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """paho runs on the loop: a wake after a commit publishes before the loop turns again."""
    queue = Queue(tmp_path / "q.db")

    async def main() -> None:
        pub = publisher(queue, mosquitto, publish_batch=10, max_inflight=5)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: pub.connected, 10)
        threads = threading.active_count()
        queue.append_many([reading_entry(SITE, make_reading(i)) for i in range(100)])
        pub.wake()
        assert queue.inflight == 5 * 10  # sent within wake(): a full window, no await
        assert await wait_until(lambda: queue.rows == 0, 30), pub.counters()
        assert threading.active_count() == threads  # no network thread of paho's
        await pub.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    queue.close()


def test_a_frozen_broker_is_dropped_by_the_keepalive(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """No PINGRESP within the keep-alive: the connection counts as lost, rows wait again."""
    queue = Queue(tmp_path / "q.db")

    async def main() -> dict[str, int]:
        pub = Publisher(queue, site=SITE, host=mosquitto.host, port=mosquitto.port,
                        client_id="gw-keepalive", keepalive=1)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: pub.connected, 10)
        assert mosquitto.process is not None
        mosquitto.process.send_signal(signal.SIGSTOP)
        try:
            queue.append_many([reading_entry(SITE, make_reading(i)) for i in range(10)])
            pub.wake()
            assert await wait_until(lambda: not pub.connected, 15), pub.counters()
            assert await wait_until(lambda: queue.inflight == 0, 5)  # released, pending
            assert queue.rows == 10
        finally:
            mosquitto.process.send_signal(signal.SIGCONT)
        assert await wait_until(lambda: queue.rows == 0, 30), pub.counters()
        await pub.stop()
        await asyncio.wait_for(task, 5)
        return pub.counters()

    counters = asyncio.run(main())
    queue.close()
    assert counters["publisher.disconnects"] >= 1 and counters["publisher.connects"] >= 2


def test_a_locked_queue_file_delays_deletes_without_resending(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Another process holds the write lock while PUBACKs come: the deletes wait and are
    counted, the publisher keeps running, and no row is sent twice."""
    path = tmp_path / "q.db"
    queue = Queue(path, busy_timeout=0.05)

    async def main() -> dict[str, int]:
        pub = publisher(queue, mosquitto, publish_batch=10, max_inflight=5)
        task = asyncio.create_task(pub.run())
        assert await wait_until(lambda: pub.connected, 10)
        queue.append_many([reading_entry(SITE, make_reading(i)) for i in range(100)])
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            pub.wake()
            assert await wait_until(lambda: pub.counters().get("publisher.ack_errors", 0) > 0,
                                    10), pub.counters()
            assert queue.rows == 100 and not task.done()
        finally:
            other.execute("ROLLBACK")
            other.close()
        pub.wake()
        assert await wait_until(lambda: queue.rows == 0, 30), pub.counters()
        await pub.stop()
        await asyncio.wait_for(task, 5)
        return pub.counters()

    counters = asyncio.run(main())
    queue.close()
    assert counters["publisher.rows_sent"] == counters["publisher.rows_acked"] == 100
