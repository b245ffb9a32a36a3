"""Keep the cyclic garbage collector's full passes short in a running gateway.

At 5,000 points the gateway holds about a million long-lived objects (the site config,
the bindings, the alarm engine's points, the devices' decoders). A full collection
(generation 2) walks every one of them, 70-110 ms on the project's machine, and it runs
on the event loop: every poll response waiting in that moment reaches the broker that
much later (the gateway path bench's latency maximum, 160-170 ms, came from these passes).
Those objects live as long as the process, so once the gateway has started they are
collected once and then frozen (``gc.freeze``): later passes walk only what was made
since. Cycles among frozen objects are not collected (there are none to collect: the
structures are kept until exit); everything made later is collected as usual.

Only the ``occmon gateway`` process does this (``occmon/run.py``), not a test process that
builds many gateways.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect what is garbage now, then freeze the survivors; returns how many are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
