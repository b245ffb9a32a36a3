"""A recorded poll sequence through the old path (payload v1, a queue row per reading) and
the new one (payload v2, a log record per poll batch), each through a real Mosquitto into
a real ingest: the readings ingest stores must be the same, field by field.

Also: an ingest restarted between a series' announcement and the batches that name it
fetches the series from the broker's retained messages and loses nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import struct
import time
from pathlib import Path

import pytest

from gateway.committer import Committer
from gateway.publisher import Publisher
from gateway.queue import Queue
from gateway.sink import QueueSink
from ingest.subscriber import Ingest
from occmon.config.schema import SiteConfig, Store
from occmon.model import Quality, Reading
from tests.ingest.helpers import SITE, T0, site_config
from tests.servers import Mosquitto

pytestmark = pytest.mark.server
COLUMNS = ("point, quantity, time, value, unit, quality, reason, agent, sensor, device, "
           "raw_value, raw_unit")


def f32(x: float) -> float:
    """What a FLOAT32 register holds for ``x``."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def recorded_polls(rounds: int) -> list[list[Reading]]:
    """Poll batches as the demo plant's devices hand them over, with every quality, reasons,
    raw values (float32 and not), several agents and quantities, and odd sample times."""
    polls: list[list[Reading]] = []
    for i in range(rounds):
        t = T0 + i + 0.123
        ppm = f32(3.5 + (i % 13) * 0.7)
        gas = Reading("desulf-h2s-1", "h2s", t, ppm * 34.08 / 24.04, "mg/m3",
                      sensor="gp1-h2s", device="gas-panel-1", raw_value=ppm, raw_unit="ppm")
        if i % 7 == 3:
            gas = Reading("desulf-h2s-1", "h2s", t, ppm * 1.4, "mg/m3", Quality.UNCERTAIN,
                          reason="calibration-overdue", sensor="gp1-h2s",
                          device="gas-panel-1", raw_value=ppm, raw_unit="ppm")
        if i % 11 == 5:
            gas = Reading("desulf-h2s-1", "h2s", t, None, "mg/m3", Quality.BAD,
                          reason="device-offline", sensor="gp1-h2s", device="gas-panel-1")
        polls.append([gas])
        ma = f32(4.0 + (i % 17))
        loop = Reading("ammonia-nh3-1", "nh3", t + 0.0004, (ma - 4) / 16 * 100 * 0.708,
                       "mg/m3", sensor="gl1-nh3", device="gas-loop-1", raw_value=ma,
                       raw_unit="mA")
        if i % 9 == 2:
            loop = Reading("ammonia-nh3-1", "nh3", t + 0.0004, None, "mg/m3", Quality.BAD,
                           reason="loop-under-range", sensor="gl1-nh3", device="gas-loop-1",
                           raw_value=f32(3.2), raw_unit="mA")
        polls.append([loop])
        dust = [Reading("mill-dust-total", "cement-dust", t + 0.2, f32(1.25 + i % 5),
                        "mg/m3", sensor="d1-total", device="dust-1",
                        raw_value=f32(1.25 + i % 5), raw_unit="mg/m3"),
                Reading("mill-dust-resp", "cement-dust", t + 0.2, 0.0 if i % 4 else 0.4,
                        "mg/m3", Quality.UNCERTAIN if i % 6 == 1 else Quality.GOOD,
                        reason="check-function:bump-test" if i % 6 == 1 else None,
                        sensor="d1-resp", device="dust-1")]
        noise = [Reading("mill-noise-1", "noise", t + 0.5, 80 + (i % 10) / 10, "dB(A)",
                         quantity="laeq", sensor="s1-laeq", device="slm-1"),
                 Reading("mill-noise-1", "noise", t + 0.75, 120 + i % 3, "dB(C)",
                         quantity="lcpeak", sensor="s1-peak", device="slm-1")]
        dose = [Reading("mill-worker-noise", "noise", t, 50.0 + i / 3, "%",
                        quantity="noise_dose", sensor="nd1-dose", device="noisedos-1"),
                Reading("ndt-worker-dose", "ionising-radiation", t, i * 0.01, "uSv",
                        quantity="hp10", sensor="rd1-hp10", device="raddos-1"),
                Reading("ndt-worker-dose", "ionising-radiation", t, 1.5e-3 * i, "uSv/h",
                        quantity="dose_rate", reason="clock-skew", sensor="rd1-rate",
                        device="raddos-1")]
        polls += [dust, noise, dose]
    return polls


def with_store(config: SiteConfig, path: Path) -> SiteConfig:
    return config.model_copy(update={"store": Store(path=path, batch_size=500,
                                                    batch_interval=0.05)})


def stored(path: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT {COLUMNS} FROM readings ORDER BY point, quantity, time"
                          ).fetchall()
    finally:
        db.close()


def count(path: Path) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def wait(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


async def through_gateway(queue_path: Path, broker: Mosquitto, version: int,
                          polls: list[list[Reading]], client_id: str) -> dict[str, int]:
    queue = Queue(queue_path)
    pub = Publisher(queue, site=SITE, host=broker.host, port=broker.port,
                    client_id=client_id, publish_batch=40, max_inflight=10)
    sink = QueueSink(Committer(queue, on_commit=pub.wake), SITE, payload_version=version)
    task = asyncio.create_task(pub.run())
    for n, batch in enumerate(polls):
        sink.readings(batch)
        if n % 5 == 4:
            await asyncio.sleep(0.001)  # a burst of polls, then the next loop turns
    assert sink.flush()
    deadline = time.monotonic() + 60
    while queue.rows and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert queue.rows == 0, pub.counters()
    await pub.stop()
    await asyncio.wait_for(task, 5)
    counters = {**pub.counters(), **queue.counters()}
    queue.close()
    return counters


def test_old_and_new_path_store_the_same_readings(tmp_path: Path, mosquitto: Mosquitto) -> None:
    polls = recorded_polls(60)
    total = sum(len(batch) for batch in polls)
    config = site_config(tmp_path, mosquitto.port)
    rows: dict[int, list[tuple[object, ...]]] = {}
    wire: dict[int, dict[str, int]] = {}
    for version in (1, 2):
        store = tmp_path / f"store-v{version}.db"
        ingest = Ingest(with_store(config, store), broker_host=mosquitto.host,
                        broker_port=mosquitto.port, client_id=f"ingest-replay-v{version}")
        ingest.start()
        try:
            assert ingest.wait_ready(20)
            wire[version] = asyncio.run(through_gateway(
                tmp_path / f"queue-v{version}.db", mosquitto, version, polls,
                f"gw-replay-v{version}"))
            assert wait(lambda store=store: count(store) >= total, 30), ingest.counters()
            counters = ingest.counters()
        finally:
            ingest.stop()
        assert not [k for k in counters if k.startswith(("dead-letter", "rejected"))], counters
        rows[version] = stored(store)
    assert len(rows[1]) == total  # every reading of the recording, once
    for old, new in zip(rows[1], rows[2], strict=True):
        assert old == new  # point, quantity, time, value, unit, quality, reason, agent, ...
    assert {r[5] for r in rows[2]} == {"good", "uncertain", "bad"}
    assert {r[1] for r in rows[2]} >= {"concentration", "laeq", "lcpeak", "hp10", "dose_rate"}
    assert wire[1]["publisher.rows_acked"] == wire[2]["publisher.rows_acked"] == total


def test_an_ingest_restarted_mid_stream_fetches_the_series_it_missed(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The series go out before the first batch; ingest stops after taking them, batches
    queue up in its session, and a new ingest process (knowing no series) takes them."""
    polls = recorded_polls(20)
    first, rest = polls[:25], polls[25:]
    config = with_store(site_config(tmp_path, mosquitto.port), tmp_path / "store.db")
    queue = Queue(tmp_path / "queue.db")

    async def send(batches: list[list[Reading]], pub: Publisher, sink: QueueSink) -> None:
        for batch in batches:
            sink.readings(batch)
        assert sink.flush()
        deadline = time.monotonic() + 30
        while queue.rows and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert queue.rows == 0

    async def gateway(ingest_down: Ingest) -> dict[str, int]:
        pub = Publisher(queue, site=SITE, host=mosquitto.host, port=mosquitto.port,
                        client_id="gw-refetch")
        sink = QueueSink(Committer(queue, on_commit=pub.wake), SITE)
        task = asyncio.create_task(pub.run())
        await send(first, pub, sink)
        n = sum(len(b) for b in first)
        assert await asyncio.to_thread(wait, lambda: count(tmp_path / "store.db") >= n, 30)
        await asyncio.to_thread(ingest_down.stop)
        await send(rest, pub, sink)  # same connection: no series announced again
        counters = pub.counters()
        await pub.stop()
        await asyncio.wait_for(task, 5)
        return counters

    ingest = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port,
                    client_id="ingest-refetch")
    ingest.start()
    assert ingest.wait_ready(20)
    counters = asyncio.run(gateway(ingest))
    assert counters["publisher.series_announced"] == len(queue.encoder.bodies) == 10
    queue.close()
    again = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port,
                   client_id="ingest-refetch")
    again.start()
    try:
        total = sum(len(b) for b in polls)
        assert wait(lambda: count(tmp_path / "store.db") >= total, 30), again.counters()
        assert again.series_fetcher.fetches == 1 and again.series_fetcher.learnt == 10
        assert not [k for k in again.counters() if k.startswith("dead-letter")]
    finally:
        again.stop()
    assert len(stored(tmp_path / "store.db")) == total
