"""Bounded steps for ``Gateway.stop``: the whole stop fits in ``STOP_TIMEOUT`` seconds.

A service manager kills a process that does not stop in time, and the queue must be closed
cleanly before that happens. With 500 devices, one bound per device, closed in turn (0.2 s
each), added up to 100 s when devices did not answer. So every step that concerns many
parts runs them concurrently under one bound, and each step gets at most what is left of
the gateway's deadline: a part that does not finish in time is abandoned (the process is
exiting) and counted in the log, never waited for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)


class Closable(Protocol):
    @property
    def device_id(self) -> str: ...

    async def close(self) -> None: ...


class Deadline:
    """What is left of one overall bound, shared by the steps of a stop."""

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._end = self._loop.time() + seconds

    def left(self, cap: float | None = None) -> float:
        left = max(0.0, self._end - self._loop.time())
        return left if cap is None else min(left, cap)

    async def run(self, step: Awaitable[object], what: str, cap: float | None = None) -> bool:
        """Await ``step`` for at most ``left(cap)`` s; False (logged) if it did not finish or
        raised. It never raises: a stop goes on to the next step whatever happened."""
        try:
            await asyncio.wait_for(step, self.left(cap))
        except TimeoutError:
            log.warning("stop: %s did not finish in time; abandoned", what)
            return False
        except Exception:
            log.exception("stop: %s failed", what)
            return False
        return True


async def close_all(drivers: Sequence[Closable], deadline: Deadline, cap: float) -> int:
    """Close every driver concurrently under one bound; return how many did not close."""
    if not drivers:
        return 0
    tasks = [asyncio.ensure_future(d.close()) for d in drivers]
    _, pending = await asyncio.wait(tasks, timeout=deadline.left(cap))
    for task in pending:
        task.cancel()
    failed = [d.device_id for d, t in zip(drivers, tasks, strict=True)
              if t in pending or t.cancelled() or t.exception() is not None]
    if failed:
        log.warning("stop: %d of %d devices not closed cleanly (%s%s)", len(failed),
                    len(drivers), ", ".join(failed[:5]), ", ..." if len(failed) > 5 else "")
    if pending:
        await asyncio.wait(pending, timeout=0.05)  # let the cancellations run
    return len(failed)

