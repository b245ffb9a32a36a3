"""Push alarms to people: grouping, escalation, retries with back-off, a delivery log.

``Notifier.submit(event_body)`` takes alarm events as ingest stores them (``to_dict()``
bodies). An alarm to notify is sent at once to the first escalation group. Grouping
(``grouping.py``) holds back only follow-ups of equal or lower priority within the area's
``group_window``: a first push, an escalation to a higher priority and a ventilation failure
always leave at once. While an alarm stays unacknowledged, each later escalation step's
group is told when its ``after`` has passed since the alarm was raised.

Every channel has its own worker thread, so a dead endpoint only delays itself. A failed
attempt is retried with exponential back-off; every attempt becomes a ``DeliveryRecord``
handed to ``on_delivery`` (the store persists them).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from ingest.notify.channels import DeliveryError, Sender
from ingest.notify.config import CLOSE_ON, NotifyConfig
from ingest.notify.grouping import Grouping, Send
from ingest.notify.message import Message, Notice, PointInfo

Status = Literal["sent", "failed", "gave-up"]


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery attempt on one channel."""

    channel: str
    kind: str  # webhook | wecom | dingtalk | email | mqtt
    target: str  # URL without query, addresses, or topic
    alarm_ids: tuple[str, ...]
    group: str
    step: int
    status: Status
    attempt: int
    error: str
    code: str
    time: float


@dataclass(slots=True)
class _Job:
    sender: str
    message: Message
    emails: tuple[str, ...]
    attempt: int
    due: float


@dataclass(slots=True)
class _Open:
    notice: Notice
    since: float
    next_step: int = 0


class Notifier:
    def __init__(self, config: NotifyConfig, senders: Mapping[str, Sender], *, site: str,
                 timezone: str = "Asia/Shanghai", points: Mapping[str, PointInfo] | None = None,
                 clock: Callable[[], float] = time.time,
                 on_delivery: Callable[[DeliveryRecord], None] | None = None) -> None:
        missing = {c.id for c in config.channels} - set(senders)
        if missing:
            raise ValueError(f"no sender for channels {sorted(missing)}")
        self._config = config
        self._senders = dict(senders)
        self._site, self._tz = site, timezone
        self._points = dict(points or {})
        self._clock = clock
        self._on_delivery = on_delivery
        self._lock = threading.Lock()
        self._open: dict[str, _Open] = {}
        self._grouping = Grouping(config.group_window)
        self._jobs: list[_Job] = []
        self._inflight: set[Future[None]] = set()
        self._workers = {name: ThreadPoolExecutor(1, thread_name_prefix=f"notify-{name}")
                         for name in self._senders}
        self.counters: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- input --------------------------------------------------------------------------------
    def submit(self, body: Mapping[str, Any], now: float | None = None) -> None:
        """Take one alarm event body; sends what is due at once."""
        now = self._clock() if now is None else now
        notice = Notice.from_event(body, self._points)
        with self._lock:
            if notice.event in CLOSE_ON:
                self._open.pop(notice.alarm_id, None)
                self._grouping.forget(notice.alarm_id)
                return
            if notice.event not in self._config.notify_on:
                return
            entry = self._open.get(notice.alarm_id)
            if entry is None:
                entry = self._open[notice.alarm_id] = _Open(notice, min(notice.time, now))
            else:  # news of an alarm already out, for every group told so far: grouping
                # sends an escalation to a higher priority at once, holds an equal follow-up
                entry.notice = notice
                for step in range(entry.next_step):
                    self._queue(notice, step, now)
            self._escalate(entry, now)
        self.pump(now)

    def open_alarms(self) -> list[str]:
        with self._lock:
            return sorted(self._open)

    # -- time ---------------------------------------------------------------------------------
    def pump(self, now: float | None = None) -> None:
        """Flush grouping windows, escalate, and start every delivery that is due."""
        now = self._clock() if now is None else now
        with self._lock:
            for send in self._grouping.due(now):
                self._send(send, now)
            for entry in self._open.values():
                self._escalate(entry, now)
            due = [j for j in self._jobs if j.due <= now]
            self._jobs = [j for j in self._jobs if j.due > now]
            for job in due:
                future = self._workers[job.sender].submit(self._attempt, job)
                self._inflight.add(future)
                future.add_done_callback(self._done)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait for deliveries in progress (not for retries scheduled later)."""
        with self._lock:
            running = list(self._inflight)
        _finished, pending = wait(running, timeout=timeout)
        return not pending

    def start(self, interval: float = 0.2) -> None:
        """Pump on a background thread until ``stop()``."""
        def loop() -> None:
            while not self._stop.wait(interval):
                self.pump()
        self._thread = threading.Thread(target=loop, name="notify-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for worker in self._workers.values():
            worker.shutdown(wait=True, cancel_futures=False)
        for sender in self._senders.values():
            sender.close()

    # -- internals (called with the lock held) ------------------------------------------------
    def _escalate(self, entry: _Open, now: float) -> None:
        steps = self._config.escalation
        while entry.next_step < len(steps) and now >= entry.since + steps[entry.next_step].after:
            self._queue(entry.notice, entry.next_step, now)
            entry.next_step += 1

    def _queue(self, notice: Notice, step: int, now: float) -> None:
        for send in self._grouping.offer(notice, step, now):
            self._send(send, now)

    def _send(self, send: Send, now: float) -> None:
        step, notices = send.step, send.notices
        group = self._config.group(self._config.escalation[step].group)
        contacts = [self._config.contact(c) for c in group.contacts]
        emails = tuple(c.email for c in contacts if c.email)
        mobiles = tuple(c.mobile for c in contacts if c.mobile)
        message = Message(self._site, tuple(notices), group.id, step, self._tz, mobiles)
        for channel in group.channels:
            self._jobs.append(_Job(channel, message, emails, 1, now))

    # -- on worker threads --------------------------------------------------------------------
    def _attempt(self, job: _Job) -> None:
        sender = self._senders[job.sender]
        status: Status = "sent"
        error, code = "", ""
        try:
            sender.send(job.message, job.emails)
        except DeliveryError as exc:
            status, error, code = "failed", str(exc), exc.code
            retry = exc.retry
        except Exception as exc:  # a sender bug must not kill the worker; log and retry
            status, error, code, retry = "failed", f"{type(exc).__name__}: {exc}", "error", True
        now = self._clock()
        if status == "failed":
            if retry and job.attempt < self._config.retry.attempts:
                due = now + self._config.retry.delay(job.attempt)
                with self._lock:
                    self._jobs.append(_Job(job.sender, job.message, job.emails,
                                           job.attempt + 1, due))
            else:
                status = "gave-up"
        record = DeliveryRecord(
            channel=sender.id, kind=sender.kind, target=sender.targets(job.message, job.emails),
            alarm_ids=job.message.alarm_ids, group=job.message.group, step=job.message.step,
            status=status, attempt=job.attempt, error=error, code=code, time=now)
        with self._lock:
            self.counters[f"notify.{status}" + (f".{code}" if code else "")] += 1
        if self._on_delivery is not None:
            self._on_delivery(record)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._inflight.discard(future)
