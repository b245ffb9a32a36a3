"""Is a reading physically possible, and is its time believable? Pure: no clock, no I/O.

Gateway and ingest both judge what arrives with these rules (docs/security.md), so a
forged or broken value is refused the same way wherever it enters. Ranges are in each
quantity's canonical unit (``occmon.quantities``) and are physical bounds, not limits:
anything outside them cannot be a measurement, whatever the instrument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from occmon.config.trust import TrustConfig

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float
    why: str


# Canonical units as in occmon.quantities. The reasons are the physics behind each bound.
RANGES: dict[str, Range] = {
    # no gas or aerosol at ambient pressure is denser than ~10 kg/m3 (pure SF6 is 6 kg/m3)
    "concentration": Range(0.0, 1e7, "0 to 1e7 mg/m3 (no gas at ambient pressure is denser)"),
    # ~194 dB is the loudest undistorted sound in air at 1 atm; meters stop far below it
    "laeq": Range(0.0, 194.0, "0 to 194 dB(A) (the loudest undistorted sound in air)"),
    "lcpeak": Range(0.0, 194.0, "0 to 194 dB(C) (the loudest undistorted sound in air)"),
    # 194 dB for 8 h at 85 dB/3 dB exchange is ~9e37 %; 1e9 % (140 dB for ~2.5 h) is beyond
    # any instrument's range
    "noise_dose": Range(0.0, 1e9, "0 to 1e9 % (beyond any noise dosimeter's range)"),
    # 100 Sv: far above a lethal whole-body dose; no personal dosimeter reads more
    "hp10": Range(0.0, 1e8, "0 to 1e8 uSv (100 Sv, far above a lethal dose)"),
    "dose_rate": Range(0.0, 1e9, "0 to 1e9 uSv/h (1000 Sv/h)"),
}


class Implausible(ValueError):
    """A value or time that cannot be right; ``code`` is the stable dead-letter code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_value(quantity: str, value: float | None) -> None:
    """Raise ``Implausible('implausible-value', ...)`` for a value outside physics."""
    if value is None:
        return
    bound = RANGES.get(quantity)
    if bound is None:
        raise Implausible("bad-quantity", f"quantity {quantity!r} has no plausibility range")
    if not math.isfinite(value) or not bound.low <= value <= bound.high:
        raise Implausible("implausible-value",
                          f"{quantity} {value!r} is outside {bound.why}")


def check_time(time: float, now: float, trust: TrustConfig) -> None:
    """Raise ``Implausible`` for a time ahead of ``now`` by more than the allowed skew
    (``clock-skew``) or older than ``max_age_days`` (``too-old``)."""
    if not math.isfinite(time):
        raise Implausible("bad-time", "time is not finite")
    ahead = time - now
    if ahead > trust.max_future_skew:
        raise Implausible("clock-skew", f"time is {ahead:.1f} s ahead of the receiver's clock "
                                        f"(more than trust.max_future_skew = "
                                        f"{trust.max_future_skew:g} s)")
    age_days = (now - time) / DAY
    if age_days > trust.max_age_days:
        raise Implausible("too-old", f"time is {age_days:.1f} days old (more than "
                                     f"trust.max_age_days = {trust.max_age_days:g})")
