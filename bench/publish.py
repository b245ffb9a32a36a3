"""Publisher throughput: readings/s from the on-disk queue to Mosquitto, counted on PUBACK.

    .venv/bin/python bench/publish.py [--readings 100000] [--batch 200] [--inflight 200]

Starts a private Mosquitto (persistence on, as in production), fills a fresh queue, then
times the publisher until every row is acknowledged and deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.publisher import Publisher
from gateway.queue import Queue
from gateway.sink import reading_entry
from occmon.model import Reading
from tests.servers import running_mosquitto

SITE = "bench"


def readings(n: int, points: int) -> list[Reading]:
    base = time.time() - n / 1000
    return [
        Reading(f"p{i % points}", "h2s", base + i / 1000, float(i % 50), "mg/m3", sensor="s")
        for i in range(n)
    ]


async def drain(queue: Queue, host: str, port: int, batch: int, inflight: int) -> float:
    pub = Publisher(
        queue,
        site=SITE,
        host=host,
        port=port,
        client_id="bench-gw",
        publish_batch=batch,
        max_inflight=inflight,
    )
    start = time.perf_counter()
    task = asyncio.create_task(pub.run())
    while queue.rows:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    await pub.stop()
    await task
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--inflight", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        queue = Queue(Path(tmp) / "queue.db")
        entries = [reading_entry(SITE, r) for r in readings(args.readings, args.points)]
        start = time.perf_counter()
        for i in range(0, len(entries), 500):  # the sink's commit size
            queue.append_many(entries[i : i + 500])
        appended = time.perf_counter() - start
        broker_dir = Path(tmp) / "mosquitto"
        broker_dir.mkdir()
        with running_mosquitto(broker_dir) as broker:
            elapsed = asyncio.run(drain(queue, broker.host, broker.port, args.batch, args.inflight))
        queue.close()
    n = args.readings
    print(
        f"queue append  : {n} readings in {appended:.2f} s = {n / appended:,.0f} readings/s "
        "(500 per transaction)"
    )
    print(
        f"publish+PUBACK: {n} readings in {elapsed:.2f} s = {n / elapsed:,.0f} readings/s "
        f"(batch {args.batch}, inflight {args.inflight}, QoS 1)"
    )


if __name__ == "__main__":
    main()
