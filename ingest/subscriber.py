"""The MQTT subscriber: takes every ``occmon/v1/{site}/#`` message into the sink.

Nothing is lost because nothing is acknowledged early. The session is persistent
(``clean_session=False``, a stable client id) and acks are manual: paho's network thread only
queues each QoS 1 message; the writer thread decodes a group of them, writes the group (one
transaction per record kind), and only then sends the PUBACKs, in arrival order. A kill
before the commit leaves the messages unacknowledged, so the broker redelivers them and the
idempotent upsert on (point, quantity, time) stores each reading exactly once.

A store outage is retried with back-off while nothing is acked; a record the store can never
take (``SinkError``) is retried message by message and the culprit becomes a dead letter.

No poison message: an exception while handling one message makes that message a dead letter
``internal-error`` (committed and acked like any other), and the next message goes on. Should
the writer thread die anyway (a bug outside one message's handling), ``failure`` says why and
``healthy()`` turns false; ``occmon ingest`` then exits non-zero for its supervisor to restart
it (crash-only: the unacked messages come back to the new process).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.daily.worker import DayCloser
from ingest.handler import Outcome, dead, handle
from ingest.health import IngestHealth
from ingest.pushes import AlarmPush, mqtt_publish
from ingest.records import INGEST_POINT, DeadLetter, Event
from ingest.series_fetch import SeriesFetcher
from ingest.sink import Sink, SinkError
from ingest.store import SqliteStore
from ingest.tee import TeeSink
from ingest.validate import Validator
from ingest.workers.alert_push import DoseAlertPush
from occmon import topics
from occmon.config.schema import SiteConfig
from occmon.mqttclient import PublishGate, configure, stop_loop

log = logging.getLogger("occmon.ingest")

STOP_TIMEOUT = 2.0
MAX_BACKOFF = 5.0


@dataclass(frozen=True, slots=True)
class _Message:
    generation: int  # which connection delivered it; an ack is only valid on that one
    mid: int
    qos: int
    topic: str
    payload: bytes
    received: float


_Step = tuple[str, Callable[[Outcome], Sequence[Any]], Callable[..., None]]


def default_sink(config: SiteConfig) -> Sink:
    """The embedded store, teed into InfluxDB when ``OCCMON_INFLUX_URL`` is set."""
    from ingest.influx.settings import InfluxSettings

    store = SqliteStore(config.store.path, dead_letters=config.store.dead_letters)
    influx = InfluxSettings.from_env()
    return store if influx is None else TeeSink(store, influx.sink(config))


class Ingest:
    """One ingest worker for one site. ``start()`` returns at once; ``stop()`` flushes."""

    def __init__(
        self,
        config: SiteConfig,
        *,
        broker_host: str,
        broker_port: int,
        sink: Sink | None = None,
        client_id: str | None = None,
        batch_readings: int | None = None,
        max_wait: float | None = None,
        linger: float = 0.002,
        close_days: bool = False,
        dose_alerts: bool | None = None,
    ) -> None:
        """``close_days``: also close each day's records after it ends (``occmon run`` and
        ``occmon ingest`` do; one ingest worker per site should)."""
        self.site = config.site.id
        self._check = Validator.from_config(config)
        self._sink: Sink = sink if sink is not None else default_sink(config)
        self._own_sink = sink is None
        # alarm pushes (notify:) follow the stored alarm events
        self.push = AlarmPush.from_config(config, mqtt_publish(lambda: self.gate))
        if self.push is not None:
            self._sink = self.push.wrap(self._sink)
        self._batch_readings = batch_readings or max(config.store.batch_size, 2000)
        self._max_wait = max_wait if max_wait is not None else config.store.batch_interval
        self._linger = linger
        broker = config.broker
        prefix = broker.client_id_prefix if broker else "occmon"
        self.client_id = client_id or f"{prefix}-ingest-{self.site}"
        self._host, self._port = broker_host, broker_port
        self._closer = DayCloser(config) if close_days else None
        # dose alerts (ingest/workers/alert_push.py): pushed, and judged at the day close
        self.dose_alerts = DoseAlertPush(config, mqtt_publish(lambda: self.gate),
                                         worker_id=self.client_id) if (
            close_days if dose_alerts is None else dose_alerts) else None
        self._keepalive = broker.keepalive if broker else 30

        self._inbox: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._own: queue.SimpleQueue[Event] = queue.SimpleQueue()  # record_own()
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._generation = 0
        self._accepting = False
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._outage = False
        self._writer: threading.Thread | None = None
        self._ready = threading.Event()
        # why the writer thread died (None while it works): the process is then unhealthy
        self.failure: str | None = None

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        configure(client, broker, "ingest")  # login and TLS (occmon/mqttclient.py)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        # what ingest publishes (pushes, heartbeats, system alarms) from threads of its own
        self.gate = PublishGate(client)
        # payload v2: series this process missed are fetched from the broker's retained ones
        self.series_fetcher = SeriesFetcher(
            self._check.series, self.site, host=broker_host, port=broker_port,
            broker=broker, client_id=f"{self.client_id}-series", keepalive=self._keepalive)
        self._check.series.fetch = self.series_fetcher
        # heartbeat, store watch, early alarm pushes, system alarms, /metrics (ingest/health.py)
        self.health = IngestHealth(self, config)

    # -- paho's network thread ------------------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any = None
    ) -> None:
        if reason.is_failure:
            self._count(f"connect-refused:{reason}")
            log.warning("broker %s:%s refused ingest: %s", self._host, self._port, reason)
            return
        self._generation += 1
        self._count("connects")
        self.gate.flush()
        log.info(
            "ingest %s connected to %s:%s (session present: %s)",
            self.client_id, self._host, self._port, flags.session_present,
        )
        if flags.session_present:
            self._ready.set()  # the broker kept our subscription and queued messages
        else:
            client.subscribe(f"{topics.ROOT}/{self.site}/#", qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if any(code.is_failure for code in codes):
            self._count("subscribe-refused")
            log.error("broker refused the subscription of %s: %s", self.client_id, codes)
            return
        self._ready.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None
    ) -> None:
        if self._accepting:
            self._count("disconnects")
            log.warning("ingest lost the broker %s:%s: %s", self._host, self._port, reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acked: the broker redelivers it to the next session
        message = _Message(
            self._generation, msg.mid, msg.qos, msg.topic, bytes(msg.payload), time.time()
        )
        self.health.arrived(message.topic, message.payload, message.received)
        self._inbox.put(message)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying while the broker is down); never blocks."""
        self._accepting = True
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        self._client.connect_async(self._host, self._port, keepalive=self._keepalive)
        self._client.loop_start()
        if self.push is not None:
            self.push.start()
        if self._closer is not None:
            self._closer.start()
        if self.dose_alerts is not None:
            self.dose_alerts.start()
        self.health.start()

    def stop(self) -> None:
        """Write and ack what has arrived, then disconnect; within STOP_TIMEOUT seconds."""
        deadline = time.monotonic() + STOP_TIMEOUT
        self._accepting = False
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(max(0.1, deadline - time.monotonic() - 0.4))
            if self._writer.is_alive():
                self._abandon.set()  # store still failing: leave the rest unacked
                self._writer.join(0.3)
        if self.push is not None:
            self.push.stop()
        if self._closer is not None:
            self._closer.stop(timeout=0.2)
        if self.dose_alerts is not None:
            self.dose_alerts.stop()
        self.health.stop()
        self._client.disconnect()
        stop_loop(self._client)
        if self._own_sink:
            self._sink.close()

    @property
    def validator(self) -> Validator:
        """The site file's checks every message goes through (shared with early pushes)."""
        return self._check

    def wait_ready(self, timeout: float) -> bool:
        """True once subscribed (or resumed a session): from then on nothing is missed."""
        return self._ready.wait(timeout)

    def healthy(self) -> bool:
        """False once the writer thread has died: nothing would be stored any more."""
        return self.failure is None

    def counters(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def _count(self, key: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[key] += n

    # -- the writer thread ------------------------------------------------------------------
    def _write_loop(self) -> None:
        try:
            self._write_until_stopped()
        except BaseException as exc:
            self.failure = f"ingest writer thread died: {type(exc).__name__}: {exc}"
            self._count("writer-died")
            log.critical("%s; nothing is stored until ingest restarts", self.failure,
                         exc_info=True)

    def _handle(self, msg: _Message) -> Outcome:
        """One message's records; any exception makes it a dead letter, never a stuck queue."""
        try:
            return handle(self._check, msg.topic, msg.payload, msg.received)
        except Exception as exc:
            log.exception("handling a message on %s failed; dead-lettered", msg.topic)
            text = f"{type(exc).__name__}: {exc}"
            return dead(msg.topic, "internal-error", text, msg.payload, msg.received, self.site)

    def _write_until_stopped(self) -> None:
        # First the state of ingest's own system alarms as this run has them (none): the
        # record's open ones of the run before are closed (ingest-restarted).
        if not self._durably("startup-state", partial(
                self._sink.write_events, [self.health.startup_state()]), self._refused_own):
            return
        while True:
            own = self._take_own()
            if own and not self._durably("own-events", partial(self._write_events, own),
                                         self._refused_own):
                return
            group = self._collect()
            if group:
                self._commit(group)
            elif self._stopping.is_set():
                return
            if self._abandon.is_set():
                return

    def _collect(self) -> list[tuple[_Message, Outcome]]:
        """Group what arrives until the readings target, a short lull, or max_wait."""
        try:
            first = self._inbox.get(timeout=0.05)
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._max_wait
        group = [(first, self._handle(first))]
        readings = len(group[0][1].readings)
        while readings < self._batch_readings:
            try:
                msg = self._inbox.get_nowait()
            except queue.Empty:
                wait = min(self._linger, deadline - time.monotonic())
                if wait <= 0:
                    break
                try:
                    msg = self._inbox.get(timeout=wait)
                except queue.Empty:
                    break
            outcome = self._handle(msg)
            group.append((msg, outcome))
            readings += len(outcome.readings)
        return group

    def _steps(self) -> list[_Step]:
        sink = self._sink
        return [
            ("readings", lambda o: o.readings, sink.write_readings),
            ("states", lambda o: o.states, sink.write_device_status),
            ("events", lambda o: o.events, self._write_events),
            ("dead-letters", lambda o: o.dead_letters, sink.write_dead_letters),
        ]

    def record_own(self, event: Event) -> None:
        """Store an event of ingest's own (a system alarm) with the next writes, from any
        thread. Not through the broker: ``events/#`` is the gateway's to write (the broker's
        ACL refuses ingest), and the store may be the failing part, so the push goes out
        on its own, first."""
        self._own.put(event)

    def _refused_own(self, exc: SinkError) -> None:
        """The sink refused ingest's own events (they are not a sender's to fix): counted and
        logged, never retried for ever in front of every message behind them."""
        self._count("own-events-refused")
        log.error("the store refused ingest's own events: %s", exc)

    def _take_own(self) -> list[Event]:
        events: list[Event] = []
        while True:
            try:
                events.append(self._own.get_nowait())
            except queue.Empty:
                return events

    def _write_events(self, events: Sequence[Event]) -> None:
        """Events to the store; a system alarm of an ingest run before this one that comes
        only now (its process died before storing it: the broker redelivers it) is closed
        again by this run's start-up state right after it, which it would otherwise outlive."""
        started = self.health.started
        if any(e.kind == "alarm" and e.body.get("point") == INGEST_POINT and e.time < started
               for e in events):
            events = [*events, self.health.startup_state()]
        self._sink.write_events(events)

    def _commit(self, group: list[tuple[_Message, Outcome]]) -> None:
        total = Outcome()
        for _, outcome in group:
            total.merge(outcome)
        total.counts["messages"] += len(group)
        refused: list[DeadLetter] = []
        for name, records, write in self._steps():
            if name == "dead-letters" and refused:
                total.dead_letters.extend(refused)
                total.counts["dead-letter:store-rejected"] += len(refused)

            def on_refused(exc: SinkError, name: str = name, records: Any = records,
                           write: Any = write) -> None:
                refused.extend(self._one_by_one(name, exc, group, records, write))

            attempt = partial(write, records(total))
            can_refuse = name != "dead-letters"
            if not self._durably(name, attempt, on_refused if can_refuse else None):
                return  # abandoned during stop: nothing acked, the broker redelivers
        if not self._durably("counters", partial(self._sink.add_counters, total.counts), None):
            return
        with self._counts_lock:
            self._counts.update(total.counts)
        self._ack(group)

    def _durably(
        self,
        name: str,
        attempt: Callable[[], None],
        on_refused: Callable[[SinkError], None] | None,
    ) -> bool:
        """Run one write until it succeeds; False only if stop() gave up waiting."""
        delay = 0.05
        while True:
            try:
                attempt()
            except Exception as exc:
                if isinstance(exc, SinkError) and on_refused is not None:
                    on_refused(exc)
                    return True
                self._count(f"store-retry:{name}")
                if not self._outage:
                    self._outage = True
                    log.error("store write of %s failed, retrying (nothing acked): %s", name, exc)
                if self._abandon.wait(delay):
                    return False
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            if self._outage:
                self._outage = False
                log.info("store writes work again")
            return True

    def _one_by_one(
        self,
        name: str,
        exc: SinkError,
        group: list[tuple[_Message, Outcome]],
        records: Callable[[Outcome], Sequence[Any]],
        write: Callable[[Sequence[Any]], None],
    ) -> list[DeadLetter]:
        """The store refused a group: write message by message, dead-letter the culprits.

        A transient failure here raises, and the whole group is retried (writes are upserts
        or not yet done, so the retry stores nothing twice).
        """
        log.error("store refused %s (%s); retrying message by message", name, exc)
        letters: list[DeadLetter] = []
        for msg, outcome in group:
            items = records(outcome)
            if not items:
                continue
            try:
                write(items)
            except SinkError as why:
                text = f"store refused {name}: {why}"
                out = dead(msg.topic, "store-rejected", text, msg.payload, msg.received, self.site)
                letters.extend(out.dead_letters)
        return letters

    def _ack(self, group: list[tuple[_Message, Outcome]]) -> None:
        current = self._generation
        stale = 0
        for msg, _ in group:
            if msg.qos == 0:
                continue
            if msg.generation == current:
                self._client.ack(msg.mid, msg.qos)
            else:
                stale += 1  # that connection is gone: the broker redelivers, we upsert again
        if stale:
            self._count("ack-skipped-reconnected", stale)
