"""The safety shell: the alarm engine and the ventilation interlock, wired into the gateway.

``Safety`` feeds the pure cores (``gateway/alarms``, ``gateway/interlock``) from the gateway's
own readings and fan polls, executes coil writes on the Modbus devices, takes operator
commands over MQTT and commits every event to the never-dropped queue. See docs/alarms.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.safety.shell import Safety
    from gateway.safety.sink import ObservedSink

__all__ = ["ObservedSink", "Safety"]


def __getattr__(name: str) -> Any:
    """``Safety`` and ``ObservedSink`` on first use: ``occmon config check`` imports
    ``check`` from this package and must not pay for the shell (the queue, paho, the
    interlock) to check a site file."""
    if name == "Safety":
        from gateway.safety.shell import Safety

        return Safety
    if name == "ObservedSink":
        from gateway.safety.sink import ObservedSink

        return ObservedSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
