"""Ingest throughput: readings/s from MQTT QoS 1 publish to rows in the SQLite store.

A private Mosquitto (tests/servers.py), N point topics fed by a publisher process as the
gateway does (reading batches, QoS 1), one Ingest worker with the embedded store. The clock
runs from the first publish until the last reading is committed (and acked).

    .venv/bin/python bench/ingest.py [--readings 200000] [--points 500] [--batch 20]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from ingest.reader import StoreReader  # noqa: E402
from ingest.subscriber import Ingest  # noqa: E402
from occmon import topics  # noqa: E402
from occmon.config import load  # noqa: E402
from occmon.config.schema import Broker, Point, Sensor, SiteConfig, Store  # noqa: E402
from occmon.model import Quality, Reading  # noqa: E402
from occmon.payload import encode_batch  # noqa: E402
from tests.servers import running_mosquitto  # noqa: E402

SITE = "demo-plant"
Flag = EventType  # a multiprocessing.Event, shared with the publisher process
T0 = float(int(time.time()) - 86_400)  # yesterday: inside ingest's trusted time window


def payloads(readings: int, points: int, batch: int) -> list[tuple[str, bytes]]:
    """Round-robin over points; each message is one point's next ``batch`` readings."""
    out: list[tuple[str, bytes]] = []
    per_point = readings // points
    for start in range(0, per_point, batch):
        for p in range(points):
            point = f"bench-p{p:04d}"
            rows = [
                Reading(
                    point=point,
                    agent="h2s",
                    time=T0 + i,
                    value=1.0 + (i % 50) / 10,
                    unit="mg/m3",
                    quality=Quality.GOOD,
                    sensor=f"s{p}",
                    device=f"d{p % 20}",
                    raw_value=0.7 + (i % 50) / 14,
                    raw_unit="ppm",
                )
                for i in range(start, min(start + batch, per_point))
            ]
            out.append((topics.readings(SITE, point), encode_batch(SITE, rows)))
    return out


def with_bench_points(config: SiteConfig, points: int) -> SiteConfig:
    """The demo plant plus the bench's H2S points, each with a sensor: ingest stores only
    readings of configured points."""
    extra = [
        Point.model_validate({"id": f"bench-p{p:04d}", "name": {"zh": "测", "en": "bench"},
                              "area": "desulf", "agent": "h2s"})
        for p in range(points)
    ]
    sensors = [
        Sensor.model_validate({"id": f"s{p}", "point": f"bench-p{p:04d}",
                               "device": "gas-panel-1", "register": "gas_ppm", "unit": "ppm"})
        for p in range(points)
    ]
    return config.model_copy(
        update={"points": [*config.points, *extra], "sensors": [*config.sensors, *sensors]}
    )


def publish(port: int, messages: list[tuple[str, bytes]], ready: Flag, go: Flag) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.set()
    go.wait()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=120)
    client.disconnect()
    client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--batch", type=int, default=20, help="readings per MQTT message")
    args = parser.parse_args()

    messages = payloads(args.readings, args.points, args.batch)
    total = (args.readings // args.points) * args.points
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp)) as broker:
        demo = with_bench_points(load(ROOT / "examples" / "demo-plant.yaml"), args.points)
        config = demo.model_copy(
            update={
                "store": Store(path=Path(tmp) / "bench.db"),
                "broker": Broker(host=broker.host, port=broker.port),
            }
        )
        ready, go = mp.Event(), mp.Event()
        sender = mp.Process(target=publish, args=(broker.port, messages, ready, go))
        sender.start()  # forked before any thread of ours exists
        ingest = Ingest(config, broker_host=broker.host, broker_port=broker.port)
        ingest.start()
        if not (ingest.wait_ready(20) and ready.wait(20)):
            raise SystemExit("ingest or publisher did not connect")
        began = time.perf_counter()
        cpu_began = time.process_time()  # this process: ingest's threads, not the publisher
        go.set()
        while ingest.counters().get("readings", 0) < total:
            time.sleep(0.01)
            if time.perf_counter() - began > 600:
                raise SystemExit(f"timed out: {ingest.counters()}")
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
        sender.join(60)
        counts = ingest.counters()
        ingest.stop()
        with StoreReader(config.store.path) as reader:
            rows = reader.count_readings()
    print(
        f"ingest: {total} readings from {args.points} points in {len(messages)} messages "
        f"of {args.batch}: {elapsed:.2f} s = {total / elapsed:,.0f} readings/s "
        f"({len(messages) / elapsed:,.0f} messages/s); rows in store {rows}; "
        f"commits ~{counts.get('messages', 0)} messages, retries "
        f"{sum(v for k, v in counts.items() if k.startswith('store-retry'))}; "
        f"ingest CPU {cpu:.2f} s = {cpu / total * 1e6:.2f} us/reading (steadier than the "
        f"wall clock on a shared machine)"
    )
    if rows != total:
        raise SystemExit(f"LOST: {total - rows} readings are not in the store")


if __name__ == "__main__":
    main()
