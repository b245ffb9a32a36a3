"""Pause the cyclic garbage collector while a site config is read, validated and checked.

Loading a 5,000-point site allocates about a million objects (YAML nodes, dicts, models)
that all stay alive until the load ends. Each collection those allocations set off walks
every one of them again, which made up two thirds of libyaml's parse time and a third of
``occmon config check``'s. Reference counting still frees memory meanwhile; the collector's
state is restored afterwards (and stays off where the process had turned it off).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
