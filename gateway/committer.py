"""Group commit: everything handed over in one event-loop turn goes to the queue together.

A reading is *accepted* when its row is committed. One SQLite transaction per reading
would cap the gateway at a few thousand readings a second, and waiting to collect a batch
adds up to that wait to a reading's way to the broker. So what arrives
during one turn of the loop (a burst of poll responses, a run of MQTT messages) is
committed in one transaction at the end of that turn, and under load the batches grow by
themselves. A turn that handles a burst of 50 poll responses lasts about 10 ms, so a
commit also happens inside a turn once the oldest entry has waited ``max_wait`` (2 ms):
with the publisher sending right after each commit, a reading leaves for the broker a few
milliseconds after it was read, wherever it fell in the burst.

The gateway lingers instead (``linger``, ``GATEWAY_LINGER`` in ``gateway.app``: 4 ms): the
first entry waits up to 4 ms for the others of its burst, so a burst of ~25 poll responses
becomes one or two commits and messages instead of three or four. Committing and publishing
at the end of every turn interleaves that work with the burst's later responses, which then
wait for it: measured at 500 devices (``bench/gateway_path.py``, docs/benchmarks.md), the
linger takes the p99 from poll response to subscriber from 13.6-14.9 ms to 6.7-9.5 ms (in
five runs of six; one gave 38.6 ms and did not come back) and the CPU down by about a
tenth, for a p50 of 4.5 ms instead of 2.5 ms.

The commit runs on the loop. It stays short: poll batches are one ``write()`` to the
queue's reading log, and the WAL checkpoints of its SQLite half (events, statuses), the one
slow part of a write there, run on the queue's own checkpoint thread (``gateway.queue``).

Polls in flight (``hold``, ``GATEWAY_HOLD`` in ``gateway.app``: 10 ms). The polls that
wake in one slot of the wake-up grid (``gateway.polling``: 25 at 500 devices and 1 Hz) go
out together and their answers come back over a few milliseconds. The poller says when a
poll starts and when its readings are handed over (``poll_started``/``poll_finished``);
while any poll is in flight, what is buffered waits for the last of them, up to ``hold``
from the oldest entry, and is committed at the end of the turn that finishes the burst. So
a slot is one commit and one message instead of two or three cut by the linger's clock,
and a reading waits for its burst's last answer, not for a fixed 4 ms: measured at 500
devices (docs/benchmarks.md, tenth pass), 250 readings a message instead of ~122, the p50
from poll response to subscriber ~2.3 ms instead of ~4.0, the p99 a third lower and the
worst case two thirds lower, for a few per cent less CPU. A poll that hangs (a unit timing
out) costs the others at most ``hold``.

An alarm or ventilation event is handed over with ``prompt=True``: it is committed at the
end of the turn that raised it, with whatever is buffered, never held for the burst.

``after_commit`` runs a callback once everything handed over so far is on disk: the MQTT
intake holds its PUBACK to the sensor until then. On a disk error nothing is dropped: the
entries stay buffered, in order, and are retried after ``retry_after`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from gateway.queue import Entry, Queue

log = logging.getLogger(__name__)


class Committer:
    """Commits entries to a ``Queue`` once per event-loop turn, or once per ``linger``
    seconds from the first entry waiting. ``max_wait`` caps the wait inside one long turn;
    by default it is ``linger`` (2 ms without one). With ``hold``, entries wait for the
    polls in flight instead, up to ``hold`` seconds. Event-loop only."""

    def __init__(
        self,
        queue: Queue,
        *,
        on_commit: Callable[[], None] | None = None,
        max_wait: float | None = None,
        retry_after: float = 1.0,
        linger: float = 0.0,
        hold: float = 0.0,
    ) -> None:
        self.queue = queue
        self.on_commit = on_commit
        self._max_wait = max_wait if max_wait is not None else (linger or 0.002)
        self._linger = linger
        self._hold = hold
        self._retry_after = retry_after
        self._retrying = False
        self._oldest = 0.0  # monotonic time the first buffered entry came
        self._buffer: list[Entry] = []
        self._waiting: list[Callable[[], None]] = []
        self._scheduled: asyncio.Handle | asyncio.TimerHandle | None = None
        self._soon = False  # _scheduled is for the end of this turn (not a timer)
        self.in_flight = 0  # polls started and not finished (poll_started/poll_finished)
        self.failed_commits = 0

    def add(self, entries: Sequence[Entry], *, prompt: bool = False) -> None:
        """Take entries; committed at the end of this loop turn (``prompt``), when the polls
        in flight have finished, after the linger, or now if others waited long enough."""
        if not entries:
            return
        now = time.monotonic()
        if not self._buffer:
            self._oldest = now
        self._buffer.extend(entries)
        if self._retrying:
            return
        if prompt:
            self._commit_soon()
            return
        held = self._hold and self.in_flight
        if now - self._oldest >= (self._hold if held else self._max_wait):
            self._commit()
        elif self._scheduled is None:
            wait = self._hold if held else self._linger
            loop = asyncio.get_running_loop()
            if wait:
                self._scheduled = loop.call_later(wait, self._commit)
            else:
                self._scheduled, self._soon = loop.call_soon(self._commit), True

    def poll_started(self) -> None:
        """A poll went out: with ``hold``, what is buffered waits for it (at most ``hold``)."""
        self.in_flight += 1

    def poll_finished(self) -> None:
        """That poll's readings (or its failure) are handed over; the last poll in flight
        to finish has the buffer committed at the end of this turn."""
        self.in_flight = max(0, self.in_flight - 1)
        if not self.in_flight and self._hold and self._buffer and not self._retrying:
            self._commit_soon()

    def _commit_soon(self) -> None:
        """Commit at the end of this loop turn, instead of a timer set for later."""
        if self._soon:
            return
        if self._scheduled is not None:
            self._scheduled.cancel()
        self._scheduled, self._soon = asyncio.get_running_loop().call_soon(self._commit), True

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything handed over so far is committed."""
        if self._buffer:
            self._waiting.append(callback)
        else:
            callback()

    def flush(self) -> bool:
        """Commit the buffer now (at stop); False if the disk refused it."""
        self._commit()
        return not self._buffer

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _commit(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled, self._soon = None, False
        self._retrying = False
        if not self._buffer:
            return
        try:
            self.queue.append_many(self._buffer)
        except Exception as exc:
            self.failed_commits += 1
            log.error("queue commit of %d entries failed (%s); kept, retrying in %.1f s",
                      len(self._buffer), exc, self._retry_after)
            self._retrying = True
            self._scheduled = asyncio.get_running_loop().call_later(self._retry_after, self._commit)
            return
        self._buffer = []
        waiting, self._waiting = self._waiting, []
        for callback in waiting:
            try:
                callback()
            except Exception:  # one caller's bug must not keep the others waiting
                log.exception("after-commit callback failed")
        if self.on_commit is not None:
            try:
                self.on_commit()  # the publisher sends at once: its errors are its own
            except Exception:
                log.exception("on-commit callback failed")
