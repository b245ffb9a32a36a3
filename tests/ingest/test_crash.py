"""Nothing lost: ingest killed with SIGKILL mid-stream, the broker restarted, the store down."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from ingest.reader import StoreReader, StoreUnavailable
from ingest.store import SqliteStore
from ingest.subscriber import Ingest
from occmon import topics
from occmon.config.schema import SiteConfig
from occmon.model import Reading
from occmon.payload import encode_batch
from tests.ingest.helpers import DEMO, SITE, T0, Publisher, reading
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
POINTS = ["desulf-h2s-1", "ammonia-nh3-1", "mill-dust-total", "mill-dust-resp"]


def stored_keys(path: Path) -> set[tuple[str, float]]:
    try:
        with StoreReader(path) as reader:
            return {(p, t) for p, t in reader._all("SELECT point, time FROM readings")}
    except StoreUnavailable:  # the subprocess has not created the file or schema yet
        return set()


Keys = set[tuple[str, float]]


def messages(count: int, per_message: int) -> tuple[list[tuple[str, bytes]], Keys]:
    """``count`` batches of ``per_message`` readings, round-robin over POINTS."""
    out: list[tuple[str, bytes]] = []
    keys: Keys = set()
    for m in range(count):
        point = POINTS[m % len(POINTS)]
        batch = [reading(point, m * per_message + i, value=float(i)) for i in range(per_message)]
        out.append((topics.readings(SITE, point), encode_batch(SITE, batch)))
        keys.update((r.point, r.time) for r in batch)
    return out, keys


@pytest.fixture
def config_file(tmp_path: Path, mosquitto: Mosquitto) -> Path:
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc["broker"] = {"host": "127.0.0.1", "port": mosquitto.port}
    doc["store"] = {"path": str(tmp_path / "occmon.db"), "batch_size": 500}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def spawn(config_file: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_ingest(config_file: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "ingest", str(config_file)]
    procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL))


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing(
    tmp_path: Path, config_file: Path, spawn: list[subprocess.Popen[bytes]], publisher: Publisher
) -> None:
    db = tmp_path / "occmon.db"
    start_ingest(config_file, spawn)
    # Until the first subscription exists the broker drops messages; after it, it queues them.
    probe = [reading("desulf-h2s-1", -1)]  # a time no batch below uses
    probe_msg = (topics.readings(SITE, "desulf-h2s-1"), encode_batch(SITE, probe))

    def probed() -> bool:
        publisher.publish(*probe_msg)
        return bool(stored_keys(db))

    wait_for(probed, timeout=30, what="the ingest subprocess to subscribe")
    batch, expected = messages(count=800, per_message=25)  # 20,000 readings
    sender = threading.Thread(target=publisher.publish_many, args=(batch,))
    sender.start()
    wait_for(lambda: len(stored_keys(db)) > 2000, what="ingest to be mid-stream")
    spawn[0].send_signal(signal.SIGKILL)
    spawn[0].wait()
    killed_at = len(stored_keys(db))
    sender.join(60)
    assert not sender.is_alive()

    start_ingest(config_file, spawn)
    want = expected | {(probe[0].point, probe[0].time)}
    wait_for(lambda: stored_keys(db) >= want, timeout=60, what="every reading after restart")
    assert stored_keys(db) == want
    assert killed_at < len(want), "the kill came too late to test anything"
    with StoreReader(db) as reader:
        assert reader.count_readings() == len(want)  # exactly once: no duplicate rows
        assert reader.dead_letter_counts() == {}


def test_broker_restart_loses_nothing(
    config: SiteConfig, ingest: Ingest, publisher: Publisher, mosquitto: Mosquitto
) -> None:
    first, keys1 = messages(count=40, per_message=10)
    publisher.publish_many(first)
    wait_for(lambda: stored_keys(config.store.path) >= keys1, what="the first half")

    publisher.close()
    mosquitto.stop()
    mosquitto.start()
    again = Publisher(mosquitto.port)
    try:
        second, keys2 = messages(count=80, per_message=10)
        again.publish_many(second[40:])
        wait_for(
            lambda: stored_keys(config.store.path) == keys1 | keys2,
            timeout=60,
            what="the second half after the broker restart",
        )
    finally:
        again.close()
    assert ingest.counters()["connects"] >= 2


class FlakyStore(SqliteStore):
    """The real store, whose disk fails while ``failing`` is set (a full disk, an I/O error)."""

    failing = threading.Event()

    def write_readings(self, readings: Sequence[Reading], received: float | None = None) -> None:
        if self.failing.is_set():
            raise sqlite3.OperationalError("disk I/O error")
        super().write_readings(readings, received)


def test_store_outage_is_retried_and_nothing_acked_until_it_heals(
    config: SiteConfig, mosquitto: Mosquitto, publisher: Publisher
) -> None:
    store = FlakyStore(config.store.path)
    store.failing.set()
    worker = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port, sink=store)
    worker.start()
    try:
        assert worker.wait_ready(20)
        batch, keys = messages(count=20, per_message=5)
        publisher.publish_many(batch)
        wait_for(lambda: worker.counters().get("store-retry:readings", 0) >= 3, what="retries")
        assert stored_keys(config.store.path) == set()
        store.failing.clear()
        wait_for(lambda: stored_keys(config.store.path) == keys, timeout=30, what="the backlog")
    finally:
        worker.stop()
        store.close()


def test_unacked_messages_come_back_after_a_stop_during_an_outage(
    config: SiteConfig, mosquitto: Mosquitto, publisher: Publisher
) -> None:
    """stop() while the store is down: the backlog stays with the broker, not in memory."""
    store = FlakyStore(config.store.path)
    store.failing.set()
    worker = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port, sink=store)
    worker.start()
    assert worker.wait_ready(20)
    batch, keys = messages(count=10, per_message=5)
    publisher.publish_many(batch)
    wait_for(lambda: worker.counters().get("store-retry:readings", 0) >= 1, what="a retry")
    began = time.monotonic()
    worker.stop()
    assert time.monotonic() - began < 5, "stop() must not hang on a failing store"
    store.failing.clear()

    healthy = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port, sink=store)
    healthy.start()
    try:
        wait_for(lambda: stored_keys(config.store.path) == keys, timeout=30, what="redelivery")
    finally:
        healthy.stop()
        store.close()
    assert T0 in {t for _, t in keys}
