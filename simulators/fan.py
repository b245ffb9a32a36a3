"""The ventilation fan's starter as a pure state machine (h11 style: no I/O, one table).

The interlock writes the run command coil and expects the running feedback within a
deadline, so the spin-up delay is in **real seconds** (``at`` is ``time.monotonic()``), not
sim seconds: the interlock's deadline must not shrink when the simulation runs fast.

A tripped starter (overload relay, the fan-fails scenario) shows fault, never runs, and
after a reset needs the run command again, as a real three-wire motor control circuit does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

DEFAULT_SPIN_UP_S = 2.0
NOMINAL_CURRENT_A = 12.5
INRUSH_FACTOR = 6.0


class Phase(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    TRIPPED = "tripped"


class Input(StrEnum):
    RUN = "run"  # the run command coil went (or is written) 1
    STOP = "stop"  # the run command coil went 0
    SPUN_UP = "spun-up"  # the spin-up delay has passed while starting
    TRIP = "trip"  # the starter trips (fault injected, fan-fails scenario)
    RESET = "reset"  # the fault is cleared


class FanProtocolError(Exception):
    """An input the state does not accept; the state is left unchanged."""


# (phase, input) -> next phase. Every transition of the starter is in this table.
TRANSITIONS: dict[tuple[Phase, Input], Phase] = {
    (Phase.STOPPED, Input.RUN): Phase.STARTING,
    (Phase.STOPPED, Input.STOP): Phase.STOPPED,
    (Phase.STOPPED, Input.TRIP): Phase.TRIPPED,
    (Phase.STOPPED, Input.RESET): Phase.STOPPED,
    (Phase.STARTING, Input.RUN): Phase.STARTING,
    (Phase.STARTING, Input.STOP): Phase.STOPPED,
    (Phase.STARTING, Input.SPUN_UP): Phase.RUNNING,
    (Phase.STARTING, Input.TRIP): Phase.TRIPPED,
    (Phase.STARTING, Input.RESET): Phase.STARTING,
    (Phase.RUNNING, Input.RUN): Phase.RUNNING,
    (Phase.RUNNING, Input.STOP): Phase.STOPPED,
    (Phase.RUNNING, Input.TRIP): Phase.TRIPPED,
    (Phase.RUNNING, Input.RESET): Phase.RUNNING,
    (Phase.TRIPPED, Input.RUN): Phase.TRIPPED,
    (Phase.TRIPPED, Input.STOP): Phase.TRIPPED,
    (Phase.TRIPPED, Input.TRIP): Phase.TRIPPED,
    (Phase.TRIPPED, Input.RESET): Phase.STOPPED,
}


@dataclass(frozen=True)
class Fan:
    """The starter's state: its phase since when (real seconds), and the commanded coil."""

    phase: Phase = Phase.STOPPED
    since: float = 0.0
    commanded: bool = False
    spin_up: float = DEFAULT_SPIN_UP_S

    @property
    def running(self) -> bool:
        """The running feedback (discrete input)."""
        return self.phase is Phase.RUNNING

    @property
    def fault(self) -> bool:
        """The fault input (discrete input)."""
        return self.phase is Phase.TRIPPED

    @property
    def motor_current(self) -> float:
        """Amps: inrush while starting, nominal running, none otherwise."""
        if self.phase is Phase.RUNNING:
            return NOMINAL_CURRENT_A
        if self.phase is Phase.STARTING:
            return NOMINAL_CURRENT_A * INRUSH_FACTOR
        return 0.0

    def handle(self, event: Input, at: float) -> Fan:
        """Apply one input at real time ``at``; raise FanProtocolError if not accepted."""
        nxt = TRANSITIONS.get((self.phase, event))
        if nxt is None:
            raise FanProtocolError(f"fan {self.phase}: input {event} not accepted")
        commanded = {Input.RUN: True, Input.STOP: False}.get(event, self.commanded)
        since = self.since if nxt is self.phase else at
        return replace(self, phase=nxt, since=since, commanded=commanded)

    def command(self, on: bool, at: float) -> Fan:
        return self.handle(Input.RUN if on else Input.STOP, at)

    def tick(self, at: float) -> Fan:
        """Let time pass: a starting fan runs once the spin-up delay has elapsed."""
        if self.phase is Phase.STARTING and at - self.since >= self.spin_up:
            return self.handle(Input.SPUN_UP, at)
        return self

    def set_failed(self, failed: bool, at: float) -> Fan:
        if failed:
            return self.handle(Input.TRIP, at)
        return self.handle(Input.RESET, at) if self.phase is Phase.TRIPPED else self
