"""Alarm pushes from ingest: stored alarm events go to the ``Notifier`` (``notify:``).

Alarm events are pushed as they arrive (``ingest.health.IngestHealth.arrived``, on paho's
thread), not after the store took them: a store that cannot write (disk full) must not
silence a gas alarm. ``AlarmPush.wrap(sink)`` still hands alarm events to the notifier after
the store wrote them, as a backstop; each event id is pushed once, so neither that nor the
broker's redeliveries (nothing is acked until stored) push anything twice. Every delivery
attempt is written to the store's ``deliveries`` table from the notifier's worker threads,
on a connection of its own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ingest.notify import DeliveryError, DeliveryRecord, Notifier, PointInfo, build_senders
from ingest.records import DeadLetter, DeviceState, Event
from ingest.sink import Sink
from ingest.store import SqliteStore
from occmon import topics
from occmon.config.schema import SiteConfig
from occmon.model import Reading
from occmon.mqttclient import PublishGate

log = logging.getLogger("occmon.ingest.push")

SEEN = 10_000  # event ids remembered against redelivery


def mqtt_publish(gate: Callable[[], PublishGate]) -> Callable[[str, bytes, int], None]:
    """The annunciator's publish hook on ingest's own paho client (through its gate: held
    while the client reconnects); raises when it can be neither sent nor held."""

    def publish(topic: str, payload: bytes, qos: int) -> None:
        if not gate().publish(topic, payload, qos):
            raise DeliveryError("mqtt-error", f"publish to {topic} failed: not connected")

    return publish


def point_infos(config: SiteConfig) -> dict[str, PointInfo]:
    """Names and areas of points, and of ventilation units (the 'point' of their failure
    alarms), so a fan failure is told by name and in its zone's area."""
    areas = {a.id: a for a in config.areas}
    out = {}
    for p in config.points:
        area = areas.get(p.area)
        out[p.id] = PointInfo(p.name.zh, p.name.en, p.area, area.name.zh if area else p.area,
                              area.name.en if area else p.area, p.agent)
    point_areas = {p.id: p.area for p in config.points}
    for unit in config.ventilation.units if config.ventilation else []:
        zone = next(iter(unit.areas), None) or next(
            (point_areas[q] for q in unit.points if q in point_areas), "")
        area = areas.get(zone)
        names = (unit.name.zh, unit.name.en) if unit.name else (unit.id, unit.id)
        out.setdefault(unit.id, PointInfo(*names, zone, area.name.zh if area else zone,
                                          area.name.en if area else zone))
    return out


class AlarmPush:
    """The notifier of one ingest worker, its delivery log, and the sink wrapper."""

    def __init__(self, config: SiteConfig, publish: Callable[[str, bytes, int], None], *,
                 store_path: Path | None = None, environ: Mapping[str, str] = os.environ) -> None:
        notify = config.notify
        if notify is None:
            raise ValueError("no notify: section")
        site = config.site.id
        senders = build_senders(notify.channels, environ,
                                annunciator_topic=topics.annunciator(site), publish=publish,
                                clock_ms=lambda: int(time.time() * 1000))
        self._log_store = SqliteStore(store_path or config.store.path)
        self._log_lock = threading.Lock()
        self.notifier = Notifier(notify, senders, site=site, timezone=config.site.timezone,
                                 points=point_infos(config), on_delivery=self._delivered)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()  # submit runs on paho's and the writer's threads
        self.errors = 0
        self._log_failing = False
        self.observers: list[Callable[[DeliveryRecord], None]] = []  # e.g. latency metrics

    @classmethod
    def from_config(cls, config: SiteConfig, publish: Callable[[str, bytes, int], None],
                    store_path: Path | None = None) -> AlarmPush | None:
        """None without a ``notify:`` section; raises MissingSecret naming an unset variable."""
        if config.notify is None:
            return None
        return cls(config, publish, store_path=store_path)

    def start(self) -> None:
        self.notifier.start()

    def stop(self) -> None:
        self.notifier.stop()
        with self._log_lock:
            self._log_store.close()

    def wrap(self, sink: Sink) -> Sink:
        return _PushingSink(sink, self)

    def submit(self, events: Sequence[Event]) -> None:
        """Hand stored alarm events to the notifier (once per event id); never raises."""
        for event in events:
            if event.kind != "alarm":
                continue
            event_id = str(event.body.get("id", ""))
            if event_id:
                with self._seen_lock:
                    if event_id in self._seen:
                        continue
                    self._seen[event_id] = None
                    if len(self._seen) > SEEN:
                        self._seen.popitem(last=False)
            try:
                self.notifier.submit(event.body)
            except Exception:  # a push problem must never hold up storing
                self.errors += 1
                log.exception("alarm push of %s failed", event_id or event.body.get("alarm_id"))

    def _delivered(self, record: DeliveryRecord) -> None:
        for observe in self.observers:
            try:
                observe(record)
            except Exception:
                log.exception("delivery observer failed")
        try:
            with self._log_lock:
                self._log_store.write_deliveries([record])
        except Exception as exc:  # the push went out; only its log entry is lost
            self.errors += 1
            if not self._log_failing:  # once per outage: a full disk fails every write
                log.error("delivery log write failed (logged once until it works): %s", exc)
            self._log_failing = True
        else:
            self._log_failing = False


class _PushingSink:
    """A sink that pushes alarm events after the inner sink has stored them."""

    def __init__(self, inner: Sink, push: AlarmPush) -> None:
        self.inner, self._push = inner, push

    def write_readings(self, readings: Sequence[Reading], received: float | None = None) -> None:
        self.inner.write_readings(readings, received)

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.inner.write_dead_letters(letters)

    def write_device_status(self, states: Sequence[DeviceState]) -> None:
        self.inner.write_device_status(states)

    def write_events(self, events: Sequence[Event]) -> None:
        self.inner.write_events(events)
        self._push.submit(events)

    def add_counters(self, counts: Mapping[str, int]) -> None:
        self.inner.add_counters(counts)

    def close(self) -> None:
        self.inner.close()
