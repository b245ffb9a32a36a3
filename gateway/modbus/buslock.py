"""One request on the wire at a time, and a queued write goes before every queued read.

A Modbus hub is one TCP connection or one half-duplex RS-485 bus, so its requests are
serialised. With a plain FIFO lock, the write that starts an accident-ventilation fan
would wait behind every poll already queued on the bus: on a 9,600 baud line with a dozen
detectors that is hundreds of milliseconds. Here a write still never interrupts the request
on the wire, but it is the next one sent.
"""

from __future__ import annotations

import asyncio
from collections import deque


class BusLock:
    """A FIFO lock with two classes of waiters: urgent (writes) first, then the rest."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()
        self._holds = (_Hold(self, False), _Hold(self, True))  # built once: polls are hot

    @property
    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._normal)

    def hold(self, *, urgent: bool = False) -> _Hold:
        """``async with lock.hold(urgent=...)``: the bus, for one request."""
        return self._holds[urgent]

    async def _acquire(self, urgent: bool) -> None:
        if not self._held and not self._urgent and not self._normal:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._urgent if urgent else self._normal
        line.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the lock just as we were cancelled: pass it on
            else:
                line.remove(waiter)
            raise

    def _release(self) -> None:
        for line in (self._urgent, self._normal):
            while line:
                waiter = line.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # ownership passes straight to the waiter
                    return
        self._held = False


class _Hold:
    """The async context manager ``BusLock.hold`` returns (one per class of waiter)."""

    __slots__ = ("_lock", "_urgent")

    def __init__(self, lock: BusLock, urgent: bool) -> None:
        self._lock, self._urgent = lock, urgent

    async def __aenter__(self) -> None:
        lock = self._lock
        if not lock._held and not lock._urgent and not lock._normal:
            lock._held = True  # the usual case, without a second coroutine
            return
        await lock._acquire(self._urgent)

    async def __aexit__(self, *exc: object) -> None:
        self._lock._release()
