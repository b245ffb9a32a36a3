"""Look-ups by id over a site config's lists, each list indexed once.

A 5,000-point site asks "which point does this sensor feed?" 5,000 times at start-up (the
gateway's bindings, the alarm engine's point specs, ``config check``'s unit checks); a scan
of the list for each made start-up quadratic (25 million comparisons, seconds of CPU). The
first look-up on a list builds a dict over it; every later one is a dict access.

The index is kept here, not on the model: the models are frozen and compare their private
state too (an index on one of two equal configs would make them unequal), and
``model_copy(update=...)`` would hand the copy an index of the old list. It is keyed by the
list object itself (held, so its id cannot be reused while cached) and its length, and a
config's lists are not changed in place (the model is frozen; a changed config is a copy).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

T = TypeVar("T")

KEEP = 64  # indexes kept: a process holds a handful of configs (tests: one per site file)
SMALL = 16  # shorter lists are indexed afresh each time, never cached: as cheap as a scan,
# and a default section made per call (``AlarmsConfig()``) cannot push a site's out

_lock = threading.Lock()
_cache: dict[tuple[int, str], tuple[Sequence[Any], int, Any]] = {}
_builds = 0


def builds() -> int:
    """How many indexes were built since the process started (tests: a look-up that is
    called once per point must not rebuild its index each time)."""
    return _builds


def _cached(items: Sequence[T], kind: str, build: Callable[[], Any]) -> Any:
    global _builds
    if len(items) < SMALL:
        return build()
    slot = (id(items), kind)
    hit = _cache.get(slot)  # a read needs no lock: one dict access under the GIL
    if hit is not None and hit[0] is items and hit[1] == len(items):
        return hit[2]
    index = build()  # two threads may both build; either result is right
    with _lock:
        _builds += 1
        _cache.pop(slot, None)
        _cache[slot] = (items, len(items), index)
        while len(_cache) > KEEP:  # the oldest index goes first
            del _cache[next(iter(_cache))]
    return index


def first_by(items: Sequence[T], kind: str, key: Callable[[T], str]) -> dict[str, T]:
    """``key(item) -> item`` over ``items``; of items sharing a key the first wins, as a scan
    from the start would find (duplicate ids are reported by ``validators.py``).
    ``kind`` names the key (one index per list and kind)."""

    def build() -> dict[str, T]:
        index: dict[str, T] = {}
        for item in items:
            index.setdefault(key(item), item)
        return index

    return cast(dict[str, T], _cached(items, kind, build))


def grouped_by(items: Sequence[T], kind: str, key: Callable[[T], str]) -> dict[str, list[T]]:
    """``key(item) -> [items]`` over ``items``, each list in the order of ``items``.
    Callers get the shared lists: copy before changing one."""

    def build() -> dict[str, list[T]]:
        index: dict[str, list[T]] = {}
        for item in items:
            index.setdefault(key(item), []).append(item)
        return index

    return cast(dict[str, list[T]], _cached(items, kind, build))
