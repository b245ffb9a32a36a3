"""Turn a raw sensor value into a canonical Reading with a quality flag.

Shared by the Modbus and MQTT drivers so a value gets the same checks whatever carried it:
the 4-20 mA loop limits (NAMUR NE 43: under 3.8 mA or over 20.5 mA is a fault), the
sensor's measuring range, and finiteness. Bad readings keep their raw value for the record
but never a canonical value that could be shown as live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import thresholds
from occmon.config.schema import Point, Sensor
from occmon.model import Quality, Reading, Reason
from occmon.quantities import QUANTITIES, convert

LOOP_LOW_MA = 3.8
LOOP_HIGH_MA = 20.5


@dataclass(frozen=True, slots=True)
class Binding:
    """A sensor with everything needed to normalise its values, resolved once at start-up."""

    sensor: Sensor
    point: Point
    agent: thresholds.Agent
    reference: thresholds.ReferenceConditions

    @property
    def canonical_unit(self) -> str:
        if self.sensor.quantity == "concentration":
            return thresholds.canonical_unit(self.agent)
        return QUANTITIES[self.sensor.quantity].unit


def loop_to_value(milliamps: float, span: tuple[float, float]) -> float:
    """Linear 4-20 mA scaling onto the sensor's range."""
    low, high = span
    return low + (milliamps - 4.0) * (high - low) / 16.0


def _to_canonical(binding: Binding, value: float, unit: str) -> float:
    if binding.sensor.quantity == "concentration":
        return float(thresholds.to_canonical(value, unit, binding.agent, binding.reference))
    return convert(binding.sensor.quantity, value, unit)


def normalise(
    binding: Binding,
    value: float | None,
    time: float,
    *,
    unit: str,
    loop_ma: float | None = None,
    fault: str | None = None,
) -> Reading:
    """Build the Reading for one sample.

    ``value`` is in ``unit``; pass ``loop_ma`` instead for a 4-20 mA input (scaled onto the
    sensor range). ``fault`` is a Reason already known from the wire (Modbus exception,
    device status word) and makes the reading bad.
    """
    sensor = binding.sensor
    raw_value, raw_unit = value, unit
    reason: str | None = fault
    if reason is None and loop_ma is not None:
        raw_value, raw_unit = loop_ma, "mA"
        if not math.isfinite(loop_ma):
            reason = Reason.NOT_A_NUMBER
        elif loop_ma < LOOP_LOW_MA:
            reason = Reason.LOOP_UNDER_RANGE
        elif loop_ma > LOOP_HIGH_MA:
            reason = Reason.LOOP_OVER_RANGE
        elif sensor.range is None:
            reason = Reason.OUT_OF_RANGE  # cannot scale a loop without a range
        else:
            value = loop_to_value(loop_ma, sensor.range)
    if reason is None and value is not None and not math.isfinite(value):
        reason, value = Reason.NOT_A_NUMBER, None
    if reason is None and value is None:
        reason = Reason.DEVICE_OFFLINE
    if reason is None and value is not None and sensor.range is not None:
        low, high = sensor.range
        # A loop scaled within 3.8-20.5 mA may sit slightly outside the range: clamp it, as
        # transmitters signal under/over-range inside that band (NE 43).
        if loop_ma is not None:
            value = min(max(value, low), high)
        elif not low <= value <= high:
            reason = Reason.OUT_OF_RANGE
    canonical: float | None = None
    quality = Quality.GOOD
    if reason is not None:
        quality = Quality.BAD
    elif value is not None:
        canonical = _to_canonical(binding, value, unit)
    return Reading(
        point=binding.point.id,
        agent=binding.agent.id,
        time=time,
        value=canonical,
        unit=binding.canonical_unit,
        quality=quality,
        quantity=sensor.quantity,
        reason=str(reason) if reason is not None else None,
        sensor=sensor.id,
        device=sensor.device,
        raw_value=raw_value if raw_value is None or math.isfinite(raw_value) else None,
        raw_unit=raw_unit,
    )
