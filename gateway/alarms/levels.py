"""Alarm levels (GBZ/T 223-2009) and the set-point shape the engine needs.

The engine does not import ``thresholds``: it takes any object with the attribute names of
``thresholds.SetPoints`` (a Protocol), so the pure core has no dependency on the catalogue
and a test can hand it literal numbers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Level(StrEnum):
    """预报 pre-alarm < 警报 alarm < 高报 high alarm. Stable strings: they go on the wire."""

    PRE_ALARM = "pre_alarm"
    ALARM = "alarm"
    HIGH_ALARM = "high_alarm"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.PRE_ALARM: 1, Level.ALARM: 2, Level.HIGH_ALARM: 3}
LEVELS: tuple[Level, ...] = (Level.PRE_ALARM, Level.ALARM, Level.HIGH_ALARM)


def rank(level: Level | None) -> int:
    """0 for no alarm, then 1..3; lets callers compare ``None`` with a level."""
    return 0 if level is None else level.rank


class SetPointsLike(Protocol):
    """What the engine reads from ``thresholds.SetPoints`` (values in canonical units)."""

    @property
    def pre_alarm(self) -> float | None: ...

    @property
    def alarm(self) -> float | None: ...

    @property
    def high_alarm(self) -> float | None: ...

    @property
    def unit(self) -> str: ...

    @property
    def profile(self) -> str: ...
