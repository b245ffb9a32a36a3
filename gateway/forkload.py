"""Load the site file in a short-lived child process, so its scratch memory dies with it.

Reading, validating and checking a 5,000-point site allocates about a million objects
(YAML nodes, intermediate dicts, the checks' indexes) of which a fifth stay: the config
itself. The rest is freed, but CPython keeps the partly used memory pools and glibc keeps
its heap, so the gateway carried ~55-60 MB it never used again for as long as it ran
(RSS 170 MB after the load against 116 MB with the config received from a child;
``malloc_trim`` gives back almost nothing). ``run_forked`` runs the load in a ``fork``ed
child and sends the result back pickled (2.2 MB at 5,000 points); the gateway unpickles
only what it keeps.

Nothing else changes: when ``fork`` is not available, other threads run (a forked child
would inherit their locks), or the child fails in any way (a bad site file, an object that
does not pickle), the function runs here, so the same error is raised by the same code as
without the child.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from typing import TypeVar

from occmon.config.gcpause import collector_paused

T = TypeVar("T")


def run_forked(function: Callable[..., T], *args: object) -> T:
    """``function(*args)``, computed in a forked child when it can be (see the module)."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return function(*args)
    data = _from_child(function, args)
    if data is None:
        return function(*args)
    with collector_paused():  # a million-object unpickle need not be walked by collections
        result: T = pickle.loads(data)
    return result


def _from_child(function: Callable[..., object], args: tuple[object, ...]) -> bytes | None:
    """The pickled result computed by a forked child; None if it failed."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without atexit handlers or buffers
        status = 1
        try:
            os.close(read_end)
            data = pickle.dumps(function(*args), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        except BaseException:  # the parent runs it again and raises the error itself
            pass
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as received:
        data = received.read()
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or not data:
        return None
    return data
