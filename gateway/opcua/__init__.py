"""OPC UA intake: subscribe to the values a gas-detection panel or DCS already serves.

``OpcUaIntake`` (``intake.py``) is the PushedDriver; ``OpcUaHub`` (``hub.py``) owns one
server's session and subscription; ``mapping.py`` is the pure status/value/time decoding.
See README.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.opcua.intake import OpcUaIntake

__all__ = ["OpcUaIntake"]


def __getattr__(name: str) -> Any:
    """``OpcUaIntake`` on first use: ``occmon config check`` imports ``validate`` from this
    package and must not pay for asyncua (a quarter of a second) to check a site file."""
    if name == "OpcUaIntake":
        from gateway.opcua.intake import OpcUaIntake

        return OpcUaIntake
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
