"""The event loop the gateway runs on: uvloop where it is installed, asyncio's own otherwise.

The gateway's CPU at 500 devices is mostly the event loop and its transports: a request out
and its answer in, one ``epoll`` wake shared by a slot's answers, timers and futures
(docs/benchmarks.md, "Gateway path"). asyncio's selector loop and socket transports are
Python code; uvloop's are C on libuv, the same API. On the issue's rig the gateway takes
about a tenth less CPU on uvloop, with a lower response -> broker latency, and every reading
delivered (docs/benchmarks.md, "eighth pass").

``gateway.event_loop`` in the site file chooses:

- ``auto`` (the default): uvloop if it can be imported, else asyncio (a platform without a
  uvloop wheel still runs, on the slower loop, and says so in its log);
- ``uvloop``: uvloop or a clear error at start;
- ``asyncio``: the standard library's loop (the fallback should uvloop ever misbehave on a
  plant's box).

Both run the same code: ``make test`` runs the gateway's suites once more on uvloop
(``OCCMON_TEST_LOOP=uvloop``, tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

log = logging.getLogger(__name__)

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
T = TypeVar("T")


class EventLoopUnavailable(RuntimeError):
    """``event_loop: uvloop`` on a machine where uvloop cannot be imported."""


def loop_factory(choice: EventLoopChoice) -> tuple[Callable[[], asyncio.AbstractEventLoop],
                                                    str]:
    """The factory of the loop ``choice`` names, and a name for logs (``uvloop 0.21.0``)."""
    if choice == "asyncio":
        return asyncio.new_event_loop, "asyncio"
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        if choice == "uvloop":
            raise EventLoopUnavailable(
                f"gateway.event_loop is uvloop but uvloop cannot be imported ({exc}); "
                "install it (pip install uvloop) or set gateway.event_loop: asyncio"
            ) from None
        return asyncio.new_event_loop, "asyncio (uvloop not installed)"
    return uvloop.new_event_loop, f"uvloop {getattr(uvloop, '__version__', '?')}"


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice = "auto") -> T:
    """``asyncio.run(main)`` on the loop ``choice`` names."""
    try:
        factory, name = loop_factory(choice)
    except EventLoopUnavailable:
        main.close()  # never awaited: no "coroutine was never awaited" warning on top
        raise
    if choice == "auto" and name.startswith("asyncio"):
        log.warning("event loop: %s; the gateway runs on asyncio's slower loop", name)
    else:
        log.info("event loop: %s", name)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def running_loop_name() -> str | None:
    """What the running loop is, for health: ``uvloop``, ``asyncio``, None outside a loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
