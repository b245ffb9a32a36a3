"""Turning a stream of values into alarm conditions: deadband, on/off delays, faults.

Each level is its own debounced comparator. It turns on once the value has been at or above
the set-point and has not dropped out of the deadband below it for ``on_delay`` (so a value
wobbling around the set-point still raises, once, instead of resetting the timer for ever);
it turns off once the value has stayed below set-point minus deadband for ``off_delay``.
A level turning on turns on the levels below it; one turning off turns off those above.

The fault detector says whether the sensor can be trusted at all; while it cannot, the
level detector is frozen: a dead sensor neither raises nor clears a gas alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.alarms.levels import Level


@dataclass(slots=True)
class _Comparator:
    level: Level
    setpoint: float
    deadband: float
    on_delay: float
    on: bool = False
    armed_since: float | None = None  # first time at/above set-point, not yet disarmed
    low_since: float | None = None  # first time below set-point minus deadband

    def observe(self, value: float, time: float) -> None:
        if value >= self.setpoint:
            if self.armed_since is None:
                self.armed_since = time
            self.low_since = None
        elif value >= self.setpoint - self.deadband:
            self.low_since = None
        else:
            self.armed_since = None
            if self.low_since is None:
                self.low_since = time

    def due_on(self, value: float, time: float) -> bool:
        return (not self.on and self.armed_since is not None and value >= self.setpoint
                and time - self.armed_since >= self.on_delay)

    def due_off(self, time: float, off_delay: float) -> bool:
        return self.on and self.low_since is not None and time - self.low_since >= off_delay

    def rewind(self, time: float) -> None:
        self.armed_since = at_most(self.armed_since, time)
        self.low_since = at_most(self.low_since, time)


def at_most(value: float | None, limit: float) -> float | None:
    """``value`` capped at ``limit``: times ahead of the engine's clock are pulled back."""
    return value if value is None or value <= limit else limit


@dataclass(slots=True)
class LevelDetector:
    """The debounced alarm level of one point."""

    comparators: list[_Comparator]
    off_delay: float
    value: float | None = None

    @classmethod
    def build(cls, levels: list[tuple[Level, float, float, float]],
              off_delay: float) -> LevelDetector:
        """``levels``: (level, set-point, deadband, on-delay), any order."""
        ordered = sorted(levels, key=lambda row: row[0].rank)
        return cls([_Comparator(*row) for row in ordered], off_delay)

    @property
    def level(self) -> Level | None:
        on = [c.level for c in self.comparators if c.on]
        return on[-1] if on else None

    def setpoint(self, level: Level | None) -> float | None:
        for comp in self.comparators:
            if comp.level == level:
                return comp.setpoint
        return None

    def sample(self, value: float, time: float) -> None:
        self.value = value
        for comp in self.comparators:
            comp.observe(value, time)
        self.evaluate(time)

    def rewind(self, time: float) -> None:
        for comp in self.comparators:
            comp.rewind(time)

    def evaluate(self, time: float) -> None:
        """Confirm pending rises and falls at ``time`` (the last value is assumed to hold).

        Runs for every sample and tick of every point, so ``due_on`` / ``due_off`` are
        inlined (the same tests) and a quiet comparator (off, not armed) is passed over at
        the cost of two attribute reads.
        """
        value = self.value
        if value is None:
            return
        comparators = self.comparators
        for index, comp in enumerate(comparators):
            armed = comp.armed_since
            if (armed is not None and not comp.on and value >= comp.setpoint
                    and time - armed >= comp.on_delay):  # due_on
                for lower in comparators[: index + 1]:
                    lower.on, lower.low_since = True, None
        off_delay = self.off_delay
        for index, comp in enumerate(comparators):
            low = comp.low_since
            if comp.on and low is not None and time - low >= off_delay:  # due_off
                for higher in comparators[index:]:
                    higher.on = False

    def quiet(self) -> bool:
        """No level is on (``level`` is None), without building the list of those on."""
        return all(not comp.on for comp in self.comparators)


@dataclass(slots=True)
class FaultDetector:
    """Whether a point's sensor can be trusted: fresh, in range, good quality.

    A bad sample faults the point at once (the driver already retried); staleness is judged
    on ticks; a fault clears after ``off_delay`` of good samples.
    """

    stale_after: float  # seconds: stale_after_polls x poll interval
    off_delay: float
    started: float | None = None
    last_good: float | None = None
    bad_reason: str | None = None  # reason of the last sample if it was bad
    good_since: float | None = None
    faulted: bool = False
    reason: str | None = None
    marked_at: float | None = None  # time of the last bad sample

    def stale(self, time: float) -> bool:
        reference = self.last_good if self.last_good is not None else self.started
        return reference is not None and time - reference >= self.stale_after

    def sample(self, good: bool, reason: str | None, time: float) -> None:
        if self.started is None:
            self.started = time
        if good:
            self.last_good, self.bad_reason = time, None
            if self.good_since is None:
                self.good_since = time
        else:
            self.bad_reason, self.good_since = reason or "bad-quality", None
            self.marked_at = time

    def tick(self, time: float) -> None:
        if self.started is None:
            self.started = time

    def hold(self, time: float) -> None:
        """The instrument answers but is under test: not stale, and a fault neither starts
        nor clears (``good_since`` and ``bad_reason`` stay as they were)."""
        if self.started is None:
            self.started = time
        if self.last_good is not None:
            self.last_good = time

    def rewind(self, time: float) -> None:
        self.started = at_most(self.started, time)
        self.last_good = at_most(self.last_good, time)
        self.good_since = at_most(self.good_since, time)

    def start_grace(self, time: float) -> bool:
        """Start-up grace (docs/alarms.md, "Start-up"): the sensor has never given a good
        sample and ``stale_after`` has not passed since supervision started. Only then is a
        device-offline sample left to the staleness rule instead of faulting at once; once
        a sample was good, every bad one faults at once."""
        start = self.started if self.started is not None else time
        return self.last_good is None and time - start < self.stale_after

    def evaluate(self, time: float) -> tuple[bool, str | None]:
        """Update and return (faulted, reason)."""
        present = self.bad_reason if self.bad_reason is not None else (
            "stale" if self.stale(time) else None)
        if present is not None:
            self.faulted, self.reason, self.good_since = True, present, None
        elif self.faulted and self.good_since is not None and (
                time - self.good_since >= self.off_delay):
            self.faulted, self.reason = False, None
        return self.faulted, self.reason

    def marked_silent(self) -> float | None:
        """Seconds from the last good sample to the driver's BAD ``stale`` mark, when that
        mark is the fault (the driver judged the silence on the device's own interval,
        which may be shorter than this point's ``stale_after``); else None."""
        if self.bad_reason != "stale" or self.last_good is None or self.marked_at is None:
            return None
        return self.marked_at - self.last_good

    def fresh(self, time: float) -> bool:
        """The last value may be assumed to hold at ``time``: it was good and is not stale."""
        return self.bad_reason is None and self.last_good is not None and not self.stale(time)
