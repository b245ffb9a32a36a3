"""glibc malloc told to keep freed memory while days are closed.

Analysing a point allocates and frees a few dozen numpy temporaries the size of its day
(86,400 readings x 8 bytes = 691 kB). By default glibc serves an allocation that size with a
fresh ``mmap``, or trims the top of the heap back to the system as soon as ~1.4 MB of it is
free; either way the next temporary page-faults on every 4 kB page. That was half the compute
of closing a day (docs/benchmarks.md). With the thresholds below, allocations up to
16 MB come from the heap and up to 64 MB of freed heap is kept for the next point.

Process-wide and lasting (malloc has no per-call setting): the process running the closer
keeps up to ``TRIM_THRESHOLD`` bytes it no longer uses. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import threading

log = logging.getLogger("occmon.records")

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 16 << 20  # glibc caps it at 32 MB on 64-bit
TRIM_THRESHOLD = 64 << 20

_lock = threading.Lock()
_state: list[bool] = []  # the outcome of the one attempt


def keep_freed_memory() -> bool:
    """Set the thresholds once per process; True when glibc accepted them."""
    with _lock:
        if not _state:
            _state.append(_apply())
        return _state[0]


def _apply() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not ok:
        log.warning("glibc refused the malloc thresholds; closing days will be slower")
    return ok
