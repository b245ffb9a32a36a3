"""Coil writes that must eventually land: desired value, attempts and back-off.

A failed write (Modbus exception, timeout, read-back mismatch) is counted and retried after
``initial`` seconds, doubling up to ``maximum``, for as long as the value is still wanted. A
result for a value no longer wanted is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Coil:
    value: bool
    purpose: str
    cause: str
    attempt: int = 0
    retry_at: float | None = None
    delay: float = 0.0


@dataclass(slots=True)
class CoilOutputs:
    initial: float
    maximum: float
    coils: dict[tuple[str, str], _Coil] = field(default_factory=dict)
    failures: int = 0  # all failed writes of this unit, for the counter

    def want(self, device: str, coil: str, value: bool, purpose: str, cause: str) -> None:
        self.coils[(device, coil)] = _Coil(value, purpose, cause, delay=self.initial)

    def failed(self, device: str, coil: str, value: bool, time: float) -> _Coil | None:
        """Record a failed write; returns the coil with its next retry, or None if stale."""
        entry = self.coils.get((device, coil))
        if entry is None or entry.value != value:
            return None
        self.failures += 1
        entry.attempt += 1
        entry.retry_at = time + entry.delay
        entry.delay = min(entry.delay * 2, self.maximum)
        return entry

    def succeeded(self, device: str, coil: str, value: bool) -> None:
        entry = self.coils.get((device, coil))
        if entry is not None and entry.value == value:
            entry.attempt, entry.retry_at, entry.delay = 0, None, self.initial

    def due(self, time: float) -> list[tuple[str, str, _Coil]]:
        """Coils whose retry is due now; their retry time is cleared until the next result."""
        out = []
        for (device, coil), entry in self.coils.items():
            if entry.retry_at is not None and time >= entry.retry_at:
                entry.retry_at = None
                out.append((device, coil, entry))
        return out
