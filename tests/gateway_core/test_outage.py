"""Nothing lost: a broker outage while readings flow, and a publisher killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gateway.committer import Committer
from gateway.publisher import Publisher
from gateway.queue import Queue
from gateway.sink import QueueSink, reading_entry
from occmon.model import Reading
from tests.gateway_core.helpers import Subscriber, key, make_reading
from tests.servers import Mosquitto

pytestmark = pytest.mark.server
SITE = "plant-a"
ROOT = Path(__file__).resolve().parents[2]


async def until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.1)
    return bool(condition())  # type: ignore[operator]


@pytest.mark.slow
def test_broker_outage_loses_nothing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(
        mosquitto.host,
        mosquitto.port,
        f"occmon/v1/{SITE}/readings/#",
        client_id="outage-subscriber",
        clean_session=False,  # its queue survives the outage in the broker's persistence
    ).start()
    queue = Queue(tmp_path / "q.db")
    produced: list[Reading] = []

    async def main() -> dict[str, int]:
        pub = Publisher(
            queue,
            site=SITE,
            host=mosquitto.host,
            port=mosquitto.port,
            client_id="gw-outage",
            publish_batch=50,
            max_inflight=20,
        )
        sink = QueueSink(Committer(queue, on_commit=pub.wake), SITE)
        publishing = asyncio.create_task(pub.run())
        stop_producing = asyncio.Event()

        async def produce() -> None:  # 200 readings/s over 4 points
            i = 0
            while not stop_producing.is_set():
                batch = [make_reading(i + j, point=f"p{(i + j) % 4}") for j in range(10)]
                i += 10
                produced.extend(batch)
                sink.readings(batch)
                await asyncio.sleep(0.05)

        producing = asyncio.create_task(produce())
        assert await until(lambda: pub.connected and len(sub.readings()) > 100, 15)
        await asyncio.to_thread(mosquitto.stop)
        down_at = len(produced)
        await asyncio.sleep(30)
        assert not pub.connected
        assert queue.rows > 0  # the outage's readings wait on disk
        await asyncio.to_thread(mosquitto.start)
        await asyncio.sleep(3)
        stop_producing.set()
        await producing
        assert sink.flush()
        assert len(produced) - down_at >= 30 * 150  # the window really had readings in it
        assert await until(lambda: queue.rows == 0, 60), pub.counters()
        await pub.stop()
        await asyncio.wait_for(publishing, 5)
        return {**pub.counters(), **queue.counters()}

    try:
        counters = asyncio.run(main())
        want = Counter(key(r) for r in produced)
        assert sub.wait_for(lambda: set(Counter(key(r) for r in sub.readings())) >= set(want), 60)
        got = Counter(key(r) for r in sub.readings())
        redelivered = len(sub.readings(dup=True))
    finally:
        sub.stop()
    assert set(got) == set(want)  # nothing lost, nothing invented
    duplicates = sum(got.values()) - len(got)
    # At-least-once, on two legs. Gateway -> broker: a row is sent again only if it was in
    # flight when the connection dropped (``queue.released``). Broker -> subscriber: the
    # broker re-delivers (DUP flag) what it sent just before it stopped if it had not
    # recorded the subscriber's PUBACK. Anything beyond that would be a bug; ingest drops
    # duplicates by key anyway.
    assert counters["publisher.rows_sent"] == counters["queue.appended"] + counters.get(
        "queue.released", 0
    )
    assert duplicates <= counters.get("queue.released", 0) + redelivered, counters
    print(f"\noutage: {len(want)} readings, {duplicates} duplicates ({redelivered} re-delivered)")


CHILD = """
import asyncio, sys
from gateway.publisher import Publisher
from gateway.queue import Queue
queue = Queue(sys.argv[1])
pub = Publisher(queue, site="plant-a", host="127.0.0.1", port=int(sys.argv[2]),
                client_id="gw-kill", publish_batch=10, max_inflight=2)
print("ready", flush=True)
asyncio.run(pub.run())
"""


def test_publisher_killed_mid_stream_loses_nothing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.host, mosquitto.port, f"occmon/v1/{SITE}/readings/#").start()
    path = tmp_path / "q.db"
    sent = [make_reading(i, point=f"p{i % 3}") for i in range(20_000)]
    queue = Queue(path)
    queue.append_many([reading_entry(SITE, r) for r in sent])
    queue.close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(mosquitto.port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        assert sub.wait_for(lambda: len(sub.readings()) >= 500, 30)
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    before = len(sub.readings())
    assert before < len(sent), "the child finished before the kill: nothing was tested"

    async def resume() -> None:
        queue = Queue(path)
        assert 0 < queue.rows <= len(sent) - before + 2 * 10  # acked rows stayed deleted
        pub = Publisher(
            queue, site=SITE, host=mosquitto.host, port=mosquitto.port, client_id="gw-kill"
        )
        task = asyncio.create_task(pub.run())
        assert await until(lambda: queue.rows == 0, 60), pub.counters()
        await pub.stop()
        await asyncio.wait_for(task, 5)
        queue.close()

    try:
        asyncio.run(resume())
        want = {key(r) for r in sent}
        assert sub.wait_for(lambda: {key(r) for r in sub.readings()} >= want, 30)
        got = Counter(key(r) for r in sub.readings())
    finally:
        sub.stop()
    assert set(got) == want
    assert sum(got.values()) - len(got) <= 2 * 10  # at most the kill's in-flight window again
