"""The reference conditions a site's ppm <-> mg/m3 conversions use.

Its own module so that ``occmon config check`` can resolve them without importing the
gateway process (``gateway.app``: paho, the queue, health's HTTP client and the rest).
"""

from __future__ import annotations

import thresholds
from occmon.config.schema import SiteConfig


def site_reference(config: SiteConfig) -> thresholds.ReferenceConditions:
    """The standard's 24.04 L/mol at 20 C / 101.3 kPa; the ideal-gas Vm at any other site."""
    ref = config.reference
    standard = thresholds.STANDARD_REFERENCE
    if (ref.temperature_c, ref.pressure_kpa) == (standard.temperature_c, standard.pressure_kpa):
        return standard
    return thresholds.ReferenceConditions.ideal(ref.temperature_c, ref.pressure_kpa)
