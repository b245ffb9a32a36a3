"""Many timeouts on one timer: the bound of every poll and every Modbus request try.

At 500 devices a second the gateway starts ~1,000 timeouts a second (one per poll, one per
request try) and cancels nearly all of them a few milliseconds later, when the answer
comes. As ``asyncio`` timers each is a ``TimerHandle`` pushed on the loop's heap and left
there cancelled until it surfaces: heap work with a Python-level comparison at every step
(``bench/gateway_path.py`` profiles). Here a timeout is a dict entry; one loop timer waits
for the earliest deadline. Removing an entry touches no timer: when the timer comes up it
expires what is due, and waits again for the earliest deadline left. With answers coming
in milliseconds and timeouts of a second, that is about one timer a second instead of a
thousand.

A deadline fires at its time or after, never before (the timer is set at the earliest
deadline; an entry not yet due is left for the next one), like ``loop.call_at``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)


class Deadlines:
    """Deadlines on one event loop's clock, each with a callback given its key."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._due: dict[Hashable, tuple[float, Callable[[Any], None]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self.timers = 0  # loop timers set so far (bench and tests: ~1 a timeout period)

    def __len__(self) -> int:
        return len(self._due)

    def add(self, key: Hashable, delay: float, callback: Callable[[Any], None]) -> None:
        """Call ``callback(key)`` ``delay`` s from now unless ``discard(key)`` comes first;
        a key already waiting gets the new deadline."""
        when = self.loop.time() + delay
        self._due[key] = (when, callback)
        if when < self._timer_at:
            self._arm(when)

    def discard(self, key: Hashable) -> None:
        self._due.pop(key, None)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.loop.call_at(when, self._fire)
        self.timers += 1

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        now = self.loop.time()
        expired = [key for key, (when, _) in self._due.items() if when <= now]
        for key in expired:
            entry = self._due.pop(key, None)
            if entry is None:  # an earlier callback discarded it
                continue
            try:
                entry[1](key)
            except Exception:  # one owner's bug must not leave the other deadlines unfired
                log.exception("deadline callback failed")
        if self._due and self._timer is None:
            self._arm(min(when for when, _ in self._due.values()))


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = (
    weakref.WeakKeyDictionary())


def deadlines(loop: asyncio.AbstractEventLoop | None = None) -> Deadlines:
    """The deadlines of ``loop`` (default: the running loop), shared by its users."""
    loop = loop or asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        found = _by_loop[loop] = Deadlines(loop)
    return found
