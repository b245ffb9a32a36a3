"""The gateway's heartbeat, its own system alarms, and its Prometheus endpoint.

Every ``health.interval`` s, on the gateway's event loop, ``GatewayHealth.check`` reads the
figures that show real work (queue depth and oldest age, last queue commit, last
acknowledged publish, disk free under the queue, the ingest heartbeat), turns the ones out
of bounds into problems, and publishes the heartbeat on ``status/gateway`` through a link
of its own (``occmon.status_link``), apart from the queue and the publisher it judges.

A problem that means people must act (``SYSTEM_ALARMS``) is raised in the alarm engine as
an alarm of kind ``system``: it is queued for ``events/alarm`` and the retained state like
any alarm, and operators acknowledge it the same way. When the normal way to people is
broken (the queue cannot write, the publisher is stuck, or ingest, which runs the
notifier, is lost) the gateway also publishes the push itself on the annunciator topic,
in the notifier's own format (``ingest.notify.formats.generic``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from gateway.modbus.links import dtu
from gateway.safety.shell import SYSTEM_SOURCE
from ingest.notify.formats import generic
from ingest.notify.message import Message, Notice, PointInfo
from occmon import heartbeat, topics
from occmon.config.notify import MqttChannel
from occmon.eventloop import running_loop_name
from occmon.heartbeat import Problem
from occmon.metrics import CountersCollector, MetricsServer, Snapshot
from occmon.model import iso_utc
from occmon.status_link import StatusLink

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)

# problem code -> the system alarm it raises (alarm id system:gateway:<code>)
SYSTEM_ALARMS = ("queue-write-failing", "disk-low", "publish-stalled", "ingest-lost",
                 "interlock-memory-failing", "clock-behind")
# s the wall clock may lie behind a time the gateway already stamped before that is a
# problem: NTP's small steps are not, a box that starts a day in the past (no RTC battery,
# before NTP) or a clock set back by hand is
CLOCK_BEHIND_TOLERANCE = 60.0
# with one of these, events/alarm may never reach ingest's notifier: push directly too
_PATH_BROKEN = ("queue-write-failing", "publish-stalled", "ingest-lost")


def annunciator_push(config: Any, body: dict[str, Any]) -> tuple[bytes, int] | None:
    """The annunciator message the notifier would send for ``body`` (its generic format), and
    the QoS of the site's mqtt channel; None when the site has no annunciator channel."""
    notify = config.notify
    if notify is None:
        return None
    channel = next((c for c in notify.channels if isinstance(c, MqttChannel)), None)
    if channel is None:
        return None
    group = notify.escalation[0].group
    points = {body["point"]: PointInfo(f"系统 {body['point']}", f"system {body['point']}")}
    message = Message(config.site.id, (Notice.from_event(body, points),), group, 0,
                      config.site.timezone)
    return json.dumps(generic(message), ensure_ascii=False).encode(), channel.qos


class GatewayHealth:
    """Heartbeat + system alarms + /metrics of one ``Gateway``; loop-only apart from MQTT."""

    def __init__(self, gateway: Gateway, *, broker_host: str, broker_port: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.gateway = gateway
        self.config = gateway.config
        self.bounds = gateway.config.health
        self.site = gateway.site
        self._clock = clock
        self.link = StatusLink(gateway.config, "gateway", host=broker_host, port=broker_port,
                               watch=("ingest",))
        self.started = clock()
        self._appended = self._acked = self._failed = -1
        self._last_commit: float | None = None
        self._last_fail: float | None = None
        self._last_publish: float | None = None
        self.active: dict[str, str] = {}  # system alarm code -> cause, while raised
        # the latest wall-clock time stamped so far: the queue's last write by the run before
        # (taken at open), then every check's own time (clock-behind)
        self._stamped: float | None = gateway.queue.last_written
        self.snapshot = Snapshot()
        self.direct_pushes = 0
        self.registry = CollectorRegistry()
        self.registry.register(CountersCollector("gateway", lambda: self.snapshot))
        self.metrics = MetricsServer(self.bounds.gateway_metrics_port, self.registry,
                                     self.bounds.metrics_host)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.link.start()
        self.metrics.start()
        self._task = asyncio.create_task(self._loop(), name="gateway-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.get_running_loop().run_in_executor(None, self.link.stop)
        self.metrics.stop()

    async def _loop(self) -> None:
        while True:
            try:
                self.beat(self._clock())
            except Exception:  # the heartbeat must outlive any bug, or silence looks healthy
                log.exception("gateway health check failed")
            await asyncio.sleep(self.bounds.interval)

    # -- judging --------------------------------------------------------------------------
    def check(self, now: float) -> tuple[list[Problem], dict[str, heartbeat.Figure]]:
        """The problems and figures of this moment (called once per interval)."""
        gw = self.gateway
        counters = gw.counters()
        for hub in {id(d.hub): d.hub for d in gw.drivers}.values():
            for key, value in hub.counters.items():
                counters[f"modbus-connection.{hub.name}.{key}"] = value
        counters.update(dtu.listener_counters(gw.config.devices))
        appended = counters.get("queue.appended", 0)
        acked = counters.get("publisher.rows_acked", 0)
        failed = gw.committer.failed_commits
        if appended != self._appended:
            if self._appended >= 0:
                self._last_commit = now
            self._appended = appended
        if failed != self._failed:
            if self._failed >= 0:
                self._last_fail = now
            self._failed = failed
        if acked != self._acked:
            if self._acked >= 0:
                self._last_publish = now
            self._acked = acked
        problems: list[Problem] = []
        if (gw.committer.buffered and self._last_fail is not None
                and (self._last_commit is None or self._last_fail >= self._last_commit)):
            problems.append(Problem(
                "queue-write-failing", f"the queue cannot write: {gw.committer.buffered} "
                f"entries held in memory, {failed} failed commits ({gw.queue.path})"))
        oldest_age: float | None = None
        try:
            oldest = gw.queue.peek(1)
            oldest_age = max(0.0, now - oldest[0].enqueued) if oldest else 0.0
        except sqlite3.Error as exc:
            problems.append(Problem("queue-read-failing", f"the queue cannot be read: {exc}"))
        rows = gw.queue.rows
        if oldest_age is not None and oldest_age > self.bounds.queue_max_age:
            problems.append(Problem(
                "publish-stalled", f"the oldest queued row waits {oldest_age:.0f} s "
                f"(> {self.bounds.queue_max_age:g} s): nothing reaches the broker"))
        if rows > self.bounds.queue_max_rows:
            problems.append(Problem("queue-depth", f"{rows} rows queued "
                                                   f"(> {self.bounds.queue_max_rows})"))
        free, disk = heartbeat.disk_problem("queue", gw.queue.path, self.bounds.min_free_mb)
        problems += disk
        memory = gw.safety.memory_problem()
        if memory is not None:
            problems.append(Problem("interlock-memory-failing", memory))
        behind = self._clock_behind(now)
        if behind is not None:
            problems.append(behind)
        beat = self.link.last("ingest")
        ingest_age = None if beat is None else beat.age(now)
        lost = heartbeat.lost("ingest", beat, now, self.bounds.stale_after)
        if (self.link.seen_alive("ingest") and lost is not None  # after a sign of life
                and self.link.sees(now, self.bounds.stale_after)):
            problems.append(Problem("ingest-lost", lost.message))
        figures = heartbeat.as_figures({
            "queue_rows": rows, "queue_inflight": gw.queue.inflight,
            "queue_oldest_age_s": oldest_age,
            "last_commit_age_s": None if self._last_commit is None else now - self._last_commit,
            "last_publish_age_s": (None if self._last_publish is None
                                   else now - self._last_publish),
            "failed_commits": failed, "buffered": gw.committer.buffered,
            "publisher_connected": gw.publisher.connected,
            "disk_free_mb": free, "ingest_heartbeat_age_s": ingest_age,
            # how late the alarm tick ran at worst since the last beat: what held the loop
            # held every alarm, interlock decision and poll as long (safety/shell.py)
            "loop_late_max_s": gw.safety.take_loop_late(),
            "event_loop": running_loop_name(),  # uvloop or asyncio (occmon/eventloop.py)
        })
        self.snapshot = Snapshot(counters, figures, tuple(problems))
        return problems, figures

    def _clock_behind(self, now: float) -> Problem | None:
        """The wall clock behind a time already stamped (the run before's last write, or
        this run's before a step back): every reading and event is stamped in the past
        until it is set right, and the record's latest values are not the live ones. Over
        once the clock passes that time again (set right, or caught up)."""
        stamped = self._stamped
        self._stamped = now if stamped is None else max(stamped, now)
        if stamped is None or now >= stamped - CLOCK_BEHIND_TOLERANCE:
            return None
        return Problem("clock-behind", f"the gateway's clock ({iso_utc(now)}) is "
                       f"{stamped - now:.0f} s behind a time it already stamped "
                       f"({iso_utc(stamped)}): readings and events carry times in the past "
                       "until it is set right (NTP, or by hand)")

    def beat(self, now: float) -> None:
        problems, figures = self.check(now)
        self._system_alarms(problems, now)
        self.link.beat(heartbeat.payload(self.site, "gateway", now=now, since=self.started,
                                         problems=problems, figures=figures))

    # -- system alarms --------------------------------------------------------------------
    def _system_alarms(self, problems: list[Problem], now: float) -> None:
        current = {p.code: p.message for p in problems if p.code in SYSTEM_ALARMS}
        direct = any(code in current for code in _PATH_BROKEN)
        for code in SYSTEM_ALARMS:
            was, cause = code in self.active, current.get(code)
            if (cause is not None) == was:
                continue
            if cause is not None:
                self.active[code] = cause
            else:
                cause = f"{code}: back to normal"
                del self.active[code]
            try:
                bodies = self.gateway.safety.system_alarm(
                    f"system:gateway:{code}", SYSTEM_SOURCE, code in self.active, now, cause)
            except Exception:
                log.exception("system alarm %s refused by the engine", code)
                continue
            if code in self.active:
                log.error("system alarm %s: %s", code, cause)
            else:
                log.warning("system alarm %s cleared", code)
            if direct:
                for body in bodies:
                    if body.get("event") in ("raised", "escalated"):
                        self._annunciate(body)

    def _annunciate(self, body: dict[str, Any]) -> None:
        push = annunciator_push(self.config, body)
        if push is None:
            return
        payload, qos = push
        if self.link.publish(topics.annunciator(self.site), payload, qos):
            self.direct_pushes += 1
        else:
            log.error("direct annunciator push of %s failed: no broker", body.get("alarm_id"))
