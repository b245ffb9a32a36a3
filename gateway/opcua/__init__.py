"""OPC UA intake: subscribe to the values a gas-detection panel or DCS already serves.

``OpcUaIntake`` (``intake.py``) is the PushedDriver; ``OpcUaHub`` (``hub.py``) owns one
server's session and subscription; ``mapping.py`` is the pure status/value/time decoding.
See README.md.
"""

from __future__ import annotations

from gateway.opcua.intake import OpcUaIntake

__all__ = ["OpcUaIntake"]
