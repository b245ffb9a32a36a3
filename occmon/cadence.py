"""How often an MQTT device should be heard from, and so when its silence is a fault.

A polled device is expected every poll interval; a pushing device every ``interval`` of its
config. When none is configured the interval is learnt from the device's own rate: the
median of the gaps between the sample times of its last ``HISTORY`` messages, once
``MIN_GAPS`` gaps are known. Until then, and whenever the learnt rate is slower, the
default (``occmon.config.schema.DEFAULT_MQTT_INTERVAL``, 40 s) holds: learning only ever
*tightens* the window, so a device that slows down or dies can never teach the gateway to
accept a longer silence. A device that truly sends less often than the default must say so
with ``interval``, or its gaps are faults (loud, not silent).

Gaps that say nothing about the rate are left out: a zero or negative gap (a duplicate, a
message out of order, several messages for one sample) and, for a device without a time
field, a gap under ``MIN_INTERVAL`` (a backlog the broker replays after a restart arrives
in a burst, and its arrival times are all the intake knows). The learnt interval is at
least ``MIN_INTERVAL``, so a device sending ten times a second is not declared dead by one
scheduling hiccup of the event loop.

Pure: times in, seconds out.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

from occmon.config.schema import MqttDevice

HISTORY = 8  # gaps kept: the median of the last 8 follows a re-configured device quickly
MIN_GAPS = 3  # gaps needed before the learnt rate is used
MIN_INTERVAL = 1.0  # s: the shortest interval learnt


@dataclass(slots=True)
class Cadence:
    """The observed rate of one device."""

    config: MqttDevice
    last_time: float | None = None  # sample time of the last message
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def observe(self, moment: float, *, timed: bool) -> None:
        """A message with sample time ``moment`` (``timed``: the device sent it, not the
        arrival time) was accepted."""
        previous, self.last_time = self.last_time, moment
        if previous is None:
            return
        gap = moment - previous
        if gap <= 0 or (not timed and gap < MIN_INTERVAL):
            if gap < 0:
                self.last_time = previous  # an older sample: keep the newest time
            return
        self.gaps.append(gap)

    @property
    def learnt(self) -> float | None:
        """The learnt interval, or None while too few gaps are known."""
        if len(self.gaps) < MIN_GAPS:
            return None
        return max(MIN_INTERVAL, statistics.median(self.gaps))

    @property
    def interval(self) -> float:
        """The expected interval: configured, else learnt, never longer than the default."""
        if self.config.interval is not None:
            return self.config.interval
        learnt = self.learnt
        default = self.config.expected_interval
        return default if learnt is None else min(learnt, default)

    def window(self, polls: int) -> float:
        """Seconds of silence after which the device is offline and its sensors stale:
        ``polls`` expected intervals, or ``expire_after`` when given outright."""
        if self.config.expire_after is not None:
            return self.config.expire_after
        return self.interval * polls
