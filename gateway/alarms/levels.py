"""Alarm levels (GBZ/T 223-2009) and the set-point shape the engine needs.

The engine does not import ``thresholds``: it takes any object with the attribute names of
``thresholds.SetPoints`` (a Protocol), so the pure core has no dependency on the catalogue
and a test can hand it literal numbers.
"""

from __future__ import annotations

from typing import Protocol

from occmon.config.alarms import LEVELS, Level

__all__ = ["LEVELS", "Level", "SetPointsLike", "rank"]


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
