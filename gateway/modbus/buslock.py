"""One request on the wire at a time, and a queued write goes before every queued read.

A Modbus hub is one TCP connection or one half-duplex RS-485 bus, so its requests are
serialised. With a plain FIFO lock, the write that starts an accident-ventilation fan
would wait behind every poll already queued on the bus: on a 9,600 baud line with a dozen
detectors that is hundreds of milliseconds. Here a write still never interrupts the request
on the wire, but it is the next one sent.

A third class, background, waits behind both: the requests of a unit that has stopped
answering. Its timeout still holds the wire once it is sent, but it never makes an
answering unit wait in the queue behind it.
"""

from __future__ import annotations

import asyncio
from collections import deque


class BusLock:
    """A FIFO lock with three classes of waiters: urgent (writes), normal, background."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        # built once: polls are hot
        self._holds = (_Hold(self, self._normal), _Hold(self, self._urgent),
                       _Hold(self, self._background))

    @property
    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._normal) + len(self._background)

    def hold(self, *, urgent: bool = False, background: bool = False) -> _Hold:
        """``async with lock.hold(urgent=...)``: the bus, for one request."""
        return self._holds[2 if background and not urgent else int(urgent)]

    async def acquire(self, *, urgent: bool = False, background: bool = False) -> None:
        """The bus until ``release`` (for a holder that keeps it past one request)."""
        await self.hold(urgent=urgent, background=background).__aenter__()

    def take(self) -> bool:
        """The bus now if it is free and nobody waits for it (True), without a coroutine;
        False: ``acquire`` it."""
        if self._held or self._urgent or self._normal or self._background:
            return False
        self._held = True
        return True

    def release(self) -> None:
        self._release()

    async def _acquire(self, line: deque[asyncio.Future[None]]) -> None:
        if not self._held and not self._urgent and not self._normal and not self._background:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
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
        for line in (self._urgent, self._normal, self._background):
            while line:
                waiter = line.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # ownership passes straight to the waiter
                    return
        self._held = False


class _Hold:
    """The async context manager ``BusLock.hold`` returns (one per class of waiter)."""

    __slots__ = ("_line", "_lock")

    def __init__(self, lock: BusLock, line: deque[asyncio.Future[None]]) -> None:
        self._lock, self._line = lock, line

    async def __aenter__(self) -> None:
        lock = self._lock
        if not lock._held and not lock._urgent and not lock._normal and not lock._background:
            lock._held = True  # the usual case, without a second coroutine
            return
        await lock._acquire(self._line)

    async def __aexit__(self, *exc: object) -> None:
        self._lock._release()
