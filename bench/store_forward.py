"""The gateway's store-and-forward path alone: sink -> queue -> publisher -> Mosquitto.

500 devices x 10 readings at 1 Hz (one poll batch every 2 ms, each in its own loop turn,
as polls spread over the interval arrive), a FLOAT32 raw value each, one reading in ten
uncertain with a reason. Measured in steady state (after ``--warmup`` s) in this process:
disk writes (/proc/self/io ``write_bytes``, and ``cancelled_write_bytes``: pages deleted
before write-back), bytes per reading at a subscriber (PUBLISH with its MQTT header, plus
the PUBACK), and reading time -> subscriber arrival (same clock) p50/p99/max.

    .venv/bin/python bench/store_forward.py [--payload 1|2] [--seconds 20] [--warmup 3]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.committer import Committer
from gateway.publisher import Publisher
from gateway.queue import Queue
from gateway.sink import QueueSink
from occmon import payload_v2
from occmon.model import Quality, Reading
from occmon.payload import decode_batch
from tests.servers import running_mosquitto

SITE = "plant-a"


def io() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def poll(device: int, k: int, now: float) -> list[Reading]:
    return [Reading(f"d{device:03d}-p{j}", "h2s", now, device * 0.37 + j + (k % 7) * 0.1,
                    "mg/m3", Quality.UNCERTAIN if j == 3 else Quality.GOOD, "concentration",
                    "calibration-overdue" if j == 3 else None, f"d{device:03d}-s{j}",
                    f"dev-{device:03d}", f32(4 + j * 1.3 + device * 0.01), "mA")
            for j in range(10)]


class Meter:
    """A subscriber on the site: wire bytes and latency of what arrives after ``start``."""

    def __init__(self, port: int) -> None:
        self.book = payload_v2.SeriesBook()
        self.lock = threading.Lock()
        self.measuring = False
        self.wire = 0
        self.latencies: list[float] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="store-forward-meter")
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"occmon/v1/{SITE}/#", 1)
        self.client.loop_start()

    def on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        now = time.time()
        topic, payload = msg.topic, bytes(msg.payload)
        if "/series/" in topic:
            self.book.learn(topic.rsplit("/", 1)[-1], payload)
        rest = 2 + len(topic.encode()) + 2 + len(payload)
        size = 1 + (1 if rest < 128 else 2 if rest < 16384 else 3) + rest + 4  # + PUBACK
        readings: list[Reading] = []
        if topic.endswith("/readings"):
            if payload_v2.is_v2(payload):
                readings = [r for r in payload_v2.decode_items(payload, self.book)[2]
                            if isinstance(r, Reading)]
            else:
                readings = decode_batch(payload)[1]
        with self.lock:
            if self.measuring:
                self.wire += size
                self.latencies.extend(now - r.time for r in readings)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def run(work: Path, port: int, meter: Meter, args: argparse.Namespace) -> dict[str, float]:
    queue = Queue(work / "q.db", checkpoint_thread=True)
    pub = Publisher(queue, site=SITE, host="127.0.0.1", port=port, client_id="store-forward")
    sink = QueueSink(Committer(queue, on_commit=pub.wake), SITE, payload_version=args.payload)
    task = asyncio.create_task(pub.run())
    while not pub.connected:
        await asyncio.sleep(0.05)
    devices, step = 500, 1 / 500
    t0 = time.monotonic()
    k = sent = 0
    start: dict[str, int] = {}
    t_start = 0.0
    while time.monotonic() - t0 < args.seconds:
        sink.readings(poll(k % devices, k, time.time()))
        k += 1
        if k == int(args.warmup * devices):
            start, t_start, sent = io(), time.monotonic(), 0
            with meter.lock:
                meter.measuring = True
        sent += 10
        await asyncio.sleep(max(0.0, t0 + k * step - time.monotonic()))
    while queue.rows:
        await asyncio.sleep(0.05)
    end, elapsed = io(), time.monotonic() - t_start
    await asyncio.sleep(0.5)
    await pub.stop()
    await asyncio.wait_for(task, 5)
    queue.close()
    return {"readings": sent, "seconds": elapsed,
            "write": (end["write_bytes"] - start["write_bytes"]) / elapsed,
            "cancelled": (end["cancelled_write_bytes"] - start["cancelled_write_bytes"])
            / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payload", type=int, choices=(1, 2), default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "mosquitto").mkdir()
        with running_mosquitto(work / "mosquitto") as broker:
            meter = Meter(broker.port)
            time.sleep(0.3)
            r = asyncio.run(run(work, broker.port, meter, args))
            meter.stop()
    lat = sorted(meter.latencies)
    print(f"payload v{args.payload}: {r['readings'] / r['seconds']:.0f} readings/s over "
          f"{r['seconds']:.1f} s")
    print(f"disk write_bytes {r['write'] / 1024:.1f} KiB/s "
          f"(deleted before write-back: {r['cancelled'] / 1024:.1f} KiB/s)")
    print(f"wire {meter.wire / max(1, len(lat)):.1f} B/reading (PUBLISH + PUBACK)")
    if lat:
        print(f"reading -> subscriber p50 {lat[len(lat) // 2] * 1000:.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
