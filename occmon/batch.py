"""A poll's good readings kept as columns: what a polled device hands over most of the time.

At 500 devices x 10 values a second the gateway would otherwise build 5,000 ``Reading``
objects a second only for the encoder and the alarm engine to take them apart again. In
the usual poll every value is good, has no reason and carries the poll's time, and what
is fixed per sensor (point, agent, unit, quantity, sensor, device, raw unit) is the same in
every poll. ``GoodBatch`` keeps that: the device's ``SeriesTable`` once, and per poll the
time, the canonical values and the raw values. It is a ``Sequence[Reading]``: anyone who
indexes or iterates it gets the very ``Reading`` objects the per-reading path makes (made
on demand), so a consumer that knows nothing of it loses nothing; the gateway's own hot
consumers (``occmon.payload_v2.Encoder.group``, ``gateway.safety.Safety.readings``) read
the columns instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from occmon.model import Quality, Reading

# (point, agent, unit, quantity, sensor, device, raw unit): a v2 series (occmon.payload_v2)
SeriesKey = tuple[str, str, str, str, str, str, str | None]


class SeriesTable:
    """The fixed fields of a device's sensors, in poll order; made once per device.

    Consumers may keep derived data per table (series ids, alarm points) keyed by the
    table's identity: a table never changes after it is made.
    """

    __slots__ = ("__weakref__", "keys", "points", "quantities")

    def __init__(self, keys: Sequence[SeriesKey]) -> None:
        self.keys: tuple[SeriesKey, ...] = tuple(keys)
        self.points: tuple[str, ...] = tuple(k[0] for k in self.keys)
        self.quantities: tuple[str, ...] = tuple(k[3] for k in self.keys)

    def __len__(self) -> int:
        return len(self.keys)


class GoodBatch(Sequence[Reading]):
    """Readings of one poll, every one good, with no reason, at ``time``: ``values[i]`` of
    ``table.keys[i]`` (canonical unit) from ``raws[i]`` (in the raw unit)."""

    __slots__ = ("raws", "table", "time", "values")

    def __init__(self, table: SeriesTable, time: float, values: list[float],
                 raws: list[float]) -> None:
        if not len(values) == len(raws) == len(table):
            raise ValueError(f"a batch of {len(table)} series got {len(values)} values and "
                             f"{len(raws)} raw values")
        self.table = table
        self.time = time
        self.values = values
        self.raws = raws

    def __len__(self) -> int:
        return len(self.values)

    def _reading(self, i: int) -> Reading:
        point, agent, unit, quantity, sensor, device, raw_unit = self.table.keys[i]
        return Reading(point, agent, self.time, self.values[i], unit, Quality.GOOD, quantity,
                       None, sensor, device, self.raws[i], raw_unit)

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> list[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | list[Reading]:
        if isinstance(index, slice):
            return [self._reading(i) for i in range(len(self.values))[index]]
        if index < 0:
            index += len(self.values)
        if not 0 <= index < len(self.values):
            raise IndexError("batch index out of range")
        return self._reading(index)

    def __iter__(self) -> Iterator[Reading]:
        return (self._reading(i) for i in range(len(self.values)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GoodBatch | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable columns, like a list

    def __repr__(self) -> str:
        return f"GoodBatch({list(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as what it stands for
        return list, (list(self),)
