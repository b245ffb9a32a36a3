"""The safety shell: the alarm engine and the ventilation interlock, wired into the gateway.

``Safety`` feeds the pure cores (``gateway/alarms``, ``gateway/interlock``) from the gateway's
own readings and fan polls, executes coil writes on the Modbus devices, takes operator
commands over MQTT and commits every event to the never-dropped queue. See docs/alarms.md.
"""

from __future__ import annotations

from gateway.safety.shell import Safety
from gateway.safety.sink import ObservedSink

__all__ = ["ObservedSink", "Safety"]
