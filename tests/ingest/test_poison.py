"""No poison message, through a real Mosquitto into the real SQLite store.

A message ingest cannot take becomes a dead letter and is acknowledged like any other: the
next message is stored at once, and a restarted ingest does not get the culprit again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest import main as ingest_main
from ingest import subscriber
from ingest.handler import Outcome
from ingest.reader import StoreReader
from ingest.subscriber import Ingest
from ingest.validate import Validator
from occmon import topics
from occmon.config.schema import SiteConfig
from occmon.model import iso_utc
from tests.ingest.helpers import DEMO, SITE, Publisher
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

READINGS = topics.readings(SITE)


def doc(i: int, **change: Any) -> dict[str, Any]:
    """A good H2S reading ``i`` seconds after a minute ago (inside the trusted window)."""
    out: dict[str, Any] = {"point": "desulf-h2s-1", "agent": "h2s",
                           "time": iso_utc(round(time.time()) - 60 + i), "value": 1.0 + i,
                           "unit": "mg/m3", "quality": "good"}
    out.update(change)
    return out


def batch(*items: dict[str, Any]) -> bytes:
    return json.dumps({"v": 1, "site": SITE, "readings": list(items)}).encode()


def letters(config: SiteConfig) -> list[tuple[str, str, bytes]]:
    with StoreReader(config.store.path) as reader:
        return [(d.code, d.message, d.payload) for d in reader.dead_letters(limit=1000)]


def stored(config: SiteConfig) -> list[tuple[str, float, float]]:
    with StoreReader(config.store.path) as reader:
        return reader._all("SELECT point, time, value FROM readings ORDER BY time")


def started(config: SiteConfig, mosquitto: Mosquitto) -> Ingest:
    worker = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port)
    worker.start()
    assert worker.wait_ready(20), "ingest did not subscribe within 20 s"
    return worker


def test_deeply_nested_json_is_dead_lettered_once_and_never_redelivered(
    config: SiteConfig, mosquitto: Mosquitto, publisher: Publisher
) -> None:
    poison = b'{"v":1,"site":"demo-plant","readings":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    worker = started(config, mosquitto)
    try:
        publisher.publish(READINGS, poison)
        wait_for(lambda: letters(config), timeout=10, what="the poison's dead letter")
        first = doc(0)
        began = time.monotonic()
        publisher.publish(READINGS, batch(first))
        wait_for(lambda: stored(config), timeout=2, what="the next good reading within 2 s")
        assert time.monotonic() - began < 2
        assert worker.healthy() and worker.failure is None
    finally:
        worker.stop()
    ((code, message, payload),) = letters(config)
    assert code == "too-deep" and "16 levels" in message
    cap = config.store.dead_letters.max_payload_bytes
    assert payload == poison[:cap] and f"of {len(poison)} bytes kept" in message

    again = started(config, mosquitto)  # same client id: the broker's session resumes
    try:
        publisher.publish(READINGS, batch(doc(1)))
        wait_for(lambda: len(stored(config)) == 2, timeout=10, what="the marker after restart")
        time.sleep(0.5)  # a redelivery would have come before the newer marker; be generous
        assert [c for c, _, _ in letters(config)] == ["too-deep"]
        assert again.counters().get("dead-letter:too-deep", 0) == 0
    finally:
        again.stop()
    with StoreReader(config.store.path) as reader:
        assert reader.counters()["dead-letter:too-deep"] == 1


BAD = [
    ("implausible-value", doc(0, value=-5)),
    ("implausible-value", doc(0, value=1e308)),
    ("unit-mismatch", doc(0, unit="ppm")),
    ("unknown-point", doc(0, point="nowhere-1")),
    ("agent-mismatch", doc(0, agent="nh3")),
    ("too-old", doc(0, time="0001-01-01T00:00:00Z")),
    ("too-old", doc(0, time="1970-01-01T00:00:00Z")),
    ("clock-skew", doc(0, time="3000-01-01T00:00:00Z")),
    ("clock-skew", doc(0, time=iso_utc(time.time() + 3_600))),
]


def test_each_bad_reading_is_dead_lettered_and_a_mixed_batch_keeps_the_good_one(
    config: SiteConfig, ingest: Ingest, publisher: Publisher
) -> None:
    messages = [batch(bad) for _, bad in BAD]
    for message in messages:
        publisher.publish(READINGS, message)
    good, bad = doc(5, value=2.25), doc(6, value=-1)
    mixed = batch(bad, good)
    publisher.publish(READINGS, mixed)

    found = wait_for(lambda: len(letters(config)) == len(BAD) + 1 and letters(config),
                     what="a dead letter per bad reading")
    expected = [(code, message) for (code, _), message in zip(BAD, messages, strict=True)]
    # the mixed batch's letter holds just the reading that was not stored
    expected.append(("implausible-value", json.dumps(
        {"v": 1, "site": SITE, "readings": [bad]}, separators=(",", ":")).encode()))
    assert sorted((c, p) for c, _, p in found) == sorted(expected)
    # only the good reading of the mixed batch reached the store
    good_time = round(time.time()) - 60 + 5  # doc(5): may be a second off doc()'s rounding
    ((point, when, value),) = wait_for(lambda: stored(config), what="the good reading")
    assert (point, value) == ("desulf-h2s-1", 2.25) and abs(when - good_time) <= 1
    def readings_messages() -> int:  # ingest also takes in its own heartbeat (status/ingest)
        c = ingest.counters()
        return c.get("messages", 0) - sum(v for k, v in c.items() if k.startswith("heartbeat:"))

    wait_for(lambda: readings_messages() == len(BAD) + 1, what="the counters")
    counts = ingest.counters()
    assert counts["rejected-readings:implausible-value"] == 3
    assert counts["readings"] == 1


def test_an_internal_error_is_dead_lettered_and_the_next_message_stored(
    config: SiteConfig, mosquitto: Mosquitto, publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in handling one message (simulated: the core raises for one topic)."""
    real = subscriber.handle
    cursed = topics.readings(SITE, "desulf-h2s-1")

    def buggy(check: Validator, topic: str, payload: bytes, received: float) -> Outcome:
        if topic == cursed:
            raise KeyError("a bug that only this topic reaches")
        return real(check, topic, payload, received)

    monkeypatch.setattr(subscriber, "handle", buggy)
    worker = started(config, mosquitto)
    try:
        culprit = batch(doc(0))
        publisher.publish(cursed, culprit)
        publisher.publish(READINGS, batch(doc(1)))
        wait_for(lambda: stored(config), what="the message after the failing one")
        ((code, message, payload),) = wait_for(lambda: letters(config), what="the dead letter")
        assert (code, message, payload) == (
            "internal-error", "KeyError: 'a bug that only this topic reaches'", culprit)
        assert worker.healthy()
    finally:
        worker.stop()


@pytest.fixture
def config_file(tmp_path: Path, mosquitto: Mosquitto) -> Path:
    site = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    site["broker"] = {"host": "127.0.0.1", "port": mosquitto.port}
    site["store"] = {"path": str(tmp_path / "occmon.db")}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def broken_ack(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A bug outside one message's handling: acknowledging raises while the event is set."""
    breaking = threading.Event()
    breaking.set()
    real = Ingest._ack

    def ack(self: Ingest, group: Any) -> None:
        if breaking.is_set():
            raise RuntimeError("acknowledging broke")
        real(self, group)

    monkeypatch.setattr(Ingest, "_ack", ack)
    yield breaking


def test_a_dead_writer_fails_health_and_the_process_exits_for_a_restart(
    config_file: Path, mosquitto: Mosquitto, publisher: Publisher, broken_ack: threading.Event
) -> None:
    from occmon.config import load

    config = load(config_file)
    worker = started(config, mosquitto)
    try:
        publisher.publish(READINGS, batch(doc(0)))
        failure = wait_for(lambda: worker.failure, what="the writer's failure")
        assert failure == "ingest writer thread died: RuntimeError: acknowledging broke"
        assert not worker.healthy()
    finally:
        worker.stop()

    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(ingest_main.run(config_file)))
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "ingest.main.run did not return after its writer died"
    assert result == [ingest_main.FAILED]  # the queued message killed the writer again

    broken_ack.clear()  # the restarted process: what was never acked comes back, once
    again = started(config, mosquitto)
    try:
        wait_for(lambda: again.counters().get("readings", 0) >= 1, what="the redelivery")
        assert again.healthy()
    finally:
        again.stop()
    with StoreReader(config.store.path) as reader:
        assert reader.count_readings() == 1  # upserted on its key each time it came


def test_a_dead_letter_sqlite_cannot_encode_does_not_stall_ingest(
    config: SiteConfig, ingest: Ingest, publisher: Publisher
) -> None:
    """A forwarded dead letter whose message is a lone surrogate (legal as a JSON escape)
    once made SQLite refuse the dead-letter row, which was retried forever."""
    forwarded = (b'{"v":1,"site":"demo-plant","source":"gateway","topic":"vendor/x",'
                 b'"reason":"malformed-json","message":"\\ud800","payload_b64":"AA=="}')
    publisher.publish(topics.events(SITE, "dead-letter"), forwarded)
    publisher.publish(READINGS, batch(doc(0)))
    wait_for(lambda: stored(config), what="the reading after the odd dead letter")
    ((code, message, payload),) = wait_for(lambda: letters(config), what="the dead letter")
    assert (code, message, payload) == ("malformed-json", "\\ud800", b"\x00")


def test_occmon_ingest_exits_1_when_its_writer_dies(
    config_file: Path, mosquitto: Mosquitto, publisher: Publisher, broken_ack: threading.Event
) -> None:
    """The ``occmon ingest CONFIG`` entry point (asyncio, signal handlers: main thread)."""
    import os
    import signal

    from occmon.config import load
    from occmon.run import component_main

    config = load(config_file)
    broken_ack.clear()
    started(config, mosquitto).stop()  # the persistent session exists: messages queue
    broken_ack.set()
    publisher.publish(READINGS, batch(doc(0)))
    rescue = threading.Timer(30, lambda: os.kill(os.getpid(), signal.SIGTERM))
    rescue.start()  # should it never fail, SIGTERM ends it with 0 and the test fails
    try:
        status = component_main("ingest", [str(config_file)])
    finally:
        rescue.cancel()
    assert status == ingest_main.FAILED
