"""The ``ventilation:`` section of the site configuration.

The models live in ``occmon.config.ventilation`` (``SiteConfig.ventilation`` uses them);
re-exported here for the interlock core.
"""

from __future__ import annotations

from occmon.config.ventilation import (
    FEEDBACK_TIMEOUT_S,
    HOLD_TIME_S,
    RETRY_INITIAL_S,
    RETRY_MAX_S,
    Annunciator,
    Fan,
    UnitNames,
    VentilationConfig,
    VentilationUnitConfig,
    bound_points,
)

__all__ = [
    "FEEDBACK_TIMEOUT_S",
    "HOLD_TIME_S",
    "RETRY_INITIAL_S",
    "RETRY_MAX_S",
    "Annunciator",
    "Fan",
    "UnitNames",
    "VentilationConfig",
    "VentilationUnitConfig",
    "bound_points",
]
