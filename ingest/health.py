"""Ingest's heartbeat, its own system alarms, early alarm pushes and its /metrics.

* The store is watched from the outside: ``WatchedSink`` wraps ingest's sink and notes
  every write that returned and every one that raised, so the figures are real work (the
  age of the last successful store write), not a probe. Heartbeats arrive on ingest's own
  subscription and pass through the writer, so even an idle plant writes every interval.
* Alarm pushes do not wait for the store: ``arrived`` (paho's thread, as each message comes)
  hands alarm events to the notifier at once. The writer may be stuck retrying a full disk
  for minutes, and a gas alarm must reach people meanwhile. ``AlarmPush`` pushes each event
  id once, so the store's later write (and the broker's redeliveries while nothing is
  acked) push nothing twice.
* Ingest's own system alarms (the store cannot write, writes stopped, the writer died, the
  disk is nearly full, the gateway is lost) go straight to the notifier, not through the
  store that may be the failing part; ingest's writer also stores them
  (``Ingest.record_own``: ``events/#`` is the gateway's to write, the broker's ACL refuses
  ingest), so the alarm history has them once the store takes writes again. A starting
  ingest closes the ones its run before left open (``startup_state``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram

from ingest.handler import handle
from ingest.records import INGEST_ALARMS, INGEST_POINT, DeadLetter, DeviceState, Event
from ingest.sink import Sink
from occmon import heartbeat, topics
from occmon.config.schema import SiteConfig
from occmon.heartbeat import Problem
from occmon.metrics import CountersCollector, MetricsServer, Snapshot
from occmon.model import Reading

if TYPE_CHECKING:
    from ingest.notify import DeliveryRecord
    from ingest.subscriber import Ingest

log = logging.getLogger("occmon.ingest.health")

SYSTEM_ALARMS = ("store-write-failing", "store-write-stale", "writer-dead", "disk-low",
                 "gateway-lost")


class WatchedSink:
    """A sink that notes when writes last worked and why they last failed."""

    def __init__(self, inner: Sink, clock: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self._clock = clock
        self.last_ok: float | None = None
        self.last_error: str | None = None  # set on failure, cleared by the next success
        self.failing_since: float | None = None

    def _run(self, write: Callable[[], None]) -> None:
        try:
            write()
        except Exception as exc:
            if self.failing_since is None:
                self.failing_since = self._clock()
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise
        self.last_ok, self.last_error, self.failing_since = self._clock(), None, None

    def write_readings(self, readings: Sequence[Reading], received: float | None = None) -> None:
        self._run(lambda: self.inner.write_readings(readings, received))

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self._run(lambda: self.inner.write_dead_letters(letters))

    def write_device_status(self, states: Sequence[DeviceState]) -> None:
        self._run(lambda: self.inner.write_device_status(states))

    def write_events(self, events: Sequence[Event]) -> None:
        self._run(lambda: self.inner.write_events(events))

    def add_counters(self, counts: Mapping[str, int]) -> None:
        self._run(lambda: self.inner.add_counters(counts))

    def close(self) -> None:
        self.inner.close()


def _outbox_rows(sink: Any) -> int | None:
    """Rows waiting in an InfluxDB outbox anywhere in the sink chain (None: no InfluxDB)."""
    seen = 0
    found = False
    todo = [sink]
    while todo:
        item = todo.pop()
        stats = getattr(item, "stats", None)
        if callable(stats) and hasattr(item, "outbox"):
            got = stats()
            seen += int(got.get("pending_telemetry", 0)) + int(got.get("pending_events", 0))
            found = True
        todo += [s for s in (getattr(item, "inner", None), *getattr(item, "sinks", ())) if s]
    return seen if found else None


def next_boot(store: Path, now_ms: int) -> int:
    """The run number of this ingest's event ids: the wall clock's ms, or one past the last
    run's in the store if that is not behind. The record takes an alarm's latest event by
    its id, and a clock that starts in the past (no RTC battery, before NTP) would otherwise
    sort every event of this run below the run before's (``gateway.queue.Queue.next_boot``
    is the gateway's)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT MAX(event_id) FROM alarm_events "
                               "WHERE event_id LIKE 'ingest-%'").fetchone()
        last = int(str(row[0]).split("-")[1]) if row and row[0] else None
    except (sqlite3.Error, IndexError, ValueError):  # no store yet, or not one of ours
        return now_ms
    if last is None or last < now_ms:
        return now_ms
    log.warning("the wall clock (%d ms) is behind ingest's last run (%d ms): this run's event "
                "ids take %d, after it", now_ms, last, last + 1)
    return last + 1


class IngestHealth:
    """Wired into one ``Ingest`` by one line; ``start()``/``stop()`` follow the worker's."""

    def __init__(self, ingest: Ingest, config: SiteConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.ingest, self.config = ingest, config
        self.bounds = config.health
        self.site = config.site.id
        self._clock = clock
        self.store_path = config.store.path
        self.watched = WatchedSink(ingest._sink, clock)
        ingest._sink = self.watched
        self.topic = topics.component_status(self.site, "ingest")
        ingest._client.will_set(self.topic, heartbeat.offline_payload(self.site, "ingest"),
                                1, True)
        self.started = clock()
        self._boot = next_boot(self.store_path, int(self.started * 1000))
        self._ids = 0
        self._lock = threading.Lock()
        self._gateway: heartbeat.Beat | None = None
        self._gateway_seen = False
        self._connected_at: float | None = None  # our own link: a broker outage is no lost peer
        self._arrivals: dict[str, float] = {}  # alarm id -> when its event arrived
        self.active: dict[str, str] = {}
        self.occurrences: dict[str, int] = {}
        self.system_pushes = 0
        self.snapshot = Snapshot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry = CollectorRegistry()
        self.registry.register(CountersCollector("ingest", lambda: self.snapshot))
        self.push_latency = Histogram(
            "occmon_push_latency_seconds", "alarm event arrival to a sent push",
            ["channel"], registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        if ingest.push is not None:
            ingest.push.observers.append(self._delivered)
        self.metrics = MetricsServer(self.bounds.ingest_metrics_port, self.registry,
                                     self.bounds.metrics_host)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.metrics.start()
        self._thread = threading.Thread(target=self._loop, name="ingest-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Before ingest disconnects: say offline ourselves (a clean stop has no will)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        client = self.ingest._client
        if client.is_connected():
            info = client.publish(
                self.topic, heartbeat.offline_payload(self.site, "ingest", self._clock()), 1, True)
            try:
                info.wait_for_publish(0.5)
            except (RuntimeError, ValueError):
                log.warning("ingest offline status not confirmed by the broker")
        self.metrics.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat(self._clock())
            except Exception:  # the heartbeat must outlive any bug
                log.exception("ingest health check failed")
            self._stop.wait(self.bounds.interval)

    # -- paho's network thread: every message as it arrives ---------------------------------
    def arrived(self, topic: str, payload: bytes, received: float) -> None:
        """Push alarm events now (not after the store); note the gateway's heartbeat."""
        try:
            if topic == topics.events(self.site, "alarm"):
                push = self.ingest.push
                if push is None:
                    return
                outcome = handle(self.ingest.validator, topic, payload, received)
                for event in outcome.events:
                    alarm_id = str(event.body.get("alarm_id", ""))
                    with self._lock:
                        self._arrivals.setdefault(alarm_id, received)
                        while len(self._arrivals) > 1000:
                            self._arrivals.pop(next(iter(self._arrivals)))
                push.submit(outcome.events)
            elif topic == topics.gateway_status(self.site):
                beat = heartbeat.parse("gateway", payload)
                if beat is not None:
                    with self._lock:
                        self._gateway = heartbeat.merge(self._gateway, beat, received)
                        self._gateway_seen |= beat.online and beat.time is not None
        except Exception:  # never in the way of taking the message in
            log.exception("early handling of %s failed", topic)

    def _delivered(self, record: DeliveryRecord) -> None:
        if record.status != "sent" or not record.alarm_ids:
            return
        with self._lock:
            arrived = self._arrivals.get(record.alarm_ids[0])
        if arrived is not None:
            self.push_latency.labels(record.channel).observe(max(0.0, record.time - arrived))

    # -- judging --------------------------------------------------------------------------
    def check(self, now: float) -> tuple[list[Problem], dict[str, heartbeat.Figure]]:
        ingest, watched, bounds = self.ingest, self.watched, self.bounds
        problems: list[Problem] = []
        if watched.last_error is not None:
            since = watched.failing_since or now
            problems.append(Problem(
                "store-write-failing", f"store writes fail for {now - since:.0f} s, nothing "
                f"acknowledged meanwhile: {watched.last_error}"))
        reference = watched.last_ok if watched.last_ok is not None else self.started
        write_age = now - reference
        if write_age > bounds.store_write_max_age:
            problems.append(Problem(
                "store-write-stale", f"no successful store write for {write_age:.0f} s "
                f"(> {bounds.store_write_max_age:g} s)"))
        writer = ingest._writer
        alive = writer is not None and writer.is_alive()
        failure = getattr(ingest, "failure", None)
        if ingest._accepting and (not alive or failure):
            problems.append(Problem("writer-dead", f"the ingest writer thread stopped: "
                                                   f"{failure or 'thread not running'}"))
        free, disk = heartbeat.disk_problem("store", self.store_path, bounds.min_free_mb)
        problems += disk
        outbox = _outbox_rows(ingest._sink)
        if outbox is not None and outbox > bounds.outbox_max_rows:
            problems.append(Problem("outbox-backlog", f"{outbox} rows wait for InfluxDB "
                                                      f"(> {bounds.outbox_max_rows})"))
        with self._lock:
            gateway = self._gateway
        lost = heartbeat.lost("gateway", gateway, now, bounds.stale_after)
        if ingest._client.is_connected():
            self._connected_at = self._connected_at or now
        else:
            self._connected_at = None
        sees = self._connected_at is not None and now - self._connected_at >= bounds.stale_after
        if self._gateway_seen and lost is not None and sees:  # after a first sign of life
            problems.append(Problem("gateway-lost", lost.message))
        counters = ingest.counters()
        if ingest.push is not None:
            counters.update(dict(ingest.push.notifier.counters))
        figures = heartbeat.as_figures({
            "store_write_age_s": None if watched.last_ok is None else write_age,
            "writer_alive": alive, "inbox": ingest._inbox.qsize(), "outbox_rows": outbox,
            "disk_free_mb": free,
            "gateway_heartbeat_age_s": None if gateway is None else gateway.age(now),
        })
        self.snapshot = Snapshot(counters, figures, tuple(problems))
        return problems, figures

    def beat(self, now: float) -> None:
        problems, figures = self.check(now)
        self._system_alarms(problems, now)
        payload = heartbeat.payload(self.site, "ingest", now=now, since=self.started,
                                    problems=problems, figures=figures)
        self.ingest.gate.publish(self.topic, payload, 1, True, hold=False)

    # -- system alarms --------------------------------------------------------------------
    def _system_alarms(self, problems: list[Problem], now: float) -> None:
        current = {p.code: p.message for p in problems if p.code in SYSTEM_ALARMS}
        for code in SYSTEM_ALARMS:
            cause = current.get(code)
            if (cause is not None) == (code in self.active):
                continue
            if cause is not None:
                self.active[code] = cause
                self.occurrences[code] = self.occurrences.get(code, 0) + 1
                log.error("system alarm %s: %s", code, cause)
            else:
                del self.active[code]
                cause = f"{code}: back to normal"
                log.warning("system alarm %s cleared", code)
            self._send(code, cause, now)

    def startup_state(self) -> Event:
        """The snapshot a starting ingest writes first (``Ingest``'s writer thread): its own
        system alarms as this run has them, none yet. The record's alarms of the run before
        that are still open are closed (``ingest-restarted``, ``ingest.alarm_log.reconcile``):
        nothing of this run would ever clear them, and a problem still there is raised again
        by this run's first check."""
        body = {"v": 1, "site": self.site, "point": INGEST_POINT, "by": "ingest",
                "startup": True, "alarms": [], "time": self.started}
        return Event("state", self.started, body, self.site)

    def _send(self, code: str, cause: str, now: float) -> None:
        raised = code in self.active
        self._ids += 1
        body: dict[str, Any] = {
            "alarm_id": f"{INGEST_ALARMS}{code}", "point": INGEST_POINT, "kind": "system",
            "level": "high_alarm", "value": None, "setpoint": None, "unit": "", "time": now,
            "state": "active-unacknowledged" if raised else "normal",
            "occurrence": self.occurrences.get(code, 0), "cause": cause,
            "event": "raised" if raised else "returned",
            # fixed width: in order within a run and across runs (by boot), as the gateway's
            "id": f"ingest-{self._boot:013d}-{self._ids:09d}",
        }
        event = Event("alarm", now, {"v": 1, "site": self.site, **body}, self.site)
        push = self.ingest.push
        if push is not None:
            push.submit([event])  # not via the store, which may be the failing part
            self.system_pushes += int(raised)
        self.ingest.record_own(event)  # the history, once the store takes writes
