"""Prometheus exposition of the counters the processes already keep.

Nothing is counted twice: ``CountersCollector`` turns a snapshot of ``Gateway.counters()``
or ``Ingest.counters()`` (plus the heartbeat's figures and problems) into metric families
at scrape time. The snapshot is taken by the component's own health loop (on the gateway's
event loop, whose objects are not thread-safe), so a scrape never touches them.

Families (``component`` is gateway | ingest | api):

* ``occmon_modbus_total{device, counter}``: per-device Modbus outcomes (``timeout``,
  ``modbus-exception`` ...), from ``modbus.{device}.{counter}``;
* ``occmon_modbus_connection_total{connection, counter}``: per connection (hub)
  ``requests``, ``timeout``, ``connect-failed`` ..., from ``modbus-connection.{hub}.{counter}``;
* ``occmon_dead_letters_total{code}`` from ``dead-letter:{code}``;
* ``occmon_pushes_total{status, code}`` from the notifier's ``notify.{status}[.{code}]``;
* ``occmon_readings_total{component, direction}``: readings in (ingest ``readings``,
  gateway ``queue.appended``) and out (gateway ``publisher.rows_acked``);
* ``occmon_counter{component, name}``: every counter as the process reports it;
* ``occmon_{component}_{figure}``: the heartbeat figures (queue depth, oldest age, disk
  free, last store write age ...), ``occmon_{component}_ok`` and
  ``occmon_{component}_problem{code}``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from occmon.heartbeat import Figure, Problem

_READINGS = {"readings": "in", "queue.appended": "in", "publisher.rows_acked": "out"}


@dataclass(slots=True)
class Snapshot:
    counters: Mapping[str, int] = field(default_factory=dict)
    figures: Mapping[str, Figure] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()


def _name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)


class CountersCollector(Collector):
    """A custom collector over ``snapshot()``; register it in the component's registry."""

    def __init__(self, component: str, snapshot: Callable[[], Snapshot]) -> None:
        self.component = component
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        snap = self._snapshot()
        modbus = CounterMetricFamily("occmon_modbus", "Modbus outcomes per device",
                                     labels=["device", "counter"])
        connection = CounterMetricFamily(
            "occmon_modbus_connection", "Modbus requests, timeouts, reconnects per connection",
            labels=["connection", "counter"])
        dtus = CounterMetricFamily(
            "occmon_modbus_dtu", "DTU listener: connections accepted, registered, replaced, "
            "lost and refused", labels=["listener", "counter"])
        dead = CounterMetricFamily("occmon_dead_letters", "dead letters by code",
                                   labels=["code"])
        pushes = CounterMetricFamily("occmon_pushes", "alarm push attempts",
                                     labels=["status", "code"])
        readings = CounterMetricFamily("occmon_readings", "readings in and out",
                                       labels=["component", "direction"])
        raw = GaugeMetricFamily("occmon_counter", "every counter the process keeps",
                                labels=["component", "name"])
        for name, value in sorted(snap.counters.items()):
            raw.add_metric([self.component, name], value)
            if name.startswith("modbus.") and name.count(".") >= 2:
                device, counter = name[len("modbus."):].rsplit(".", 1)
                modbus.add_metric([device, counter], value)
            elif name.startswith("modbus-connection.") and name.count(".") >= 2:
                hub, counter = name[len("modbus-connection."):].rsplit(".", 1)
                connection.add_metric([hub, counter], value)
            elif name.startswith("modbus-dtu.") and name.count(".") >= 2:
                listener, counter = name[len("modbus-dtu."):].rsplit(".", 1)
                dtus.add_metric([listener, counter], value)
            elif name.startswith("dead-letter:"):
                dead.add_metric([name.split(":", 1)[1]], value)
            elif name.startswith("notify."):
                status, _, code = name[len("notify."):].partition(".")
                pushes.add_metric([status, code], value)
            if name in _READINGS:
                readings.add_metric([self.component, _READINGS[name]], value)
        yield from (modbus, connection, dtus, dead, pushes, readings, raw)
        prefix = f"occmon_{self.component}"
        for key, figure in sorted(snap.figures.items()):
            if isinstance(figure, bool):
                figure = int(figure)
            if isinstance(figure, int | float):
                gauge = GaugeMetricFamily(f"{prefix}_{_name(key)}", f"heartbeat figure {key}")
                gauge.add_metric([], float(figure))
                yield gauge
        ok = GaugeMetricFamily(f"{prefix}_ok", "1 when the component reports no problem")
        ok.add_metric([], 0.0 if snap.problems else 1.0)
        problem = GaugeMetricFamily(f"{prefix}_problem", "a problem the component reports",
                                    labels=["code"])
        for p in snap.problems:
            problem.add_metric([p.code], 1.0)
        yield from (ok, problem)


class MetricsServer:
    """``/metrics`` on ``port`` (0: off) in a thread of its own; ``stop()`` closes it."""

    def __init__(self, port: int, registry: CollectorRegistry, host: str = "0.0.0.0") -> None:
        self.port, self.host, self.registry = port, host, registry
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.port:
            self._server, self._thread = start_http_server(
                self.port, addr=self.host, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(2)
