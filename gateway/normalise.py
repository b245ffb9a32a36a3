"""Turn a raw sensor value into a canonical Reading with a quality flag.

Shared by the Modbus and MQTT drivers so a value gets the same checks whatever carried it:
the 4-20 mA loop limits (NAMUR NE 43: under 3.8 mA or over 20.5 mA is a fault), the
sensor's measuring range, finiteness, and physics (``occmon.plausibility.check_value`` on
the canonical value: a value no instrument can measure is BAD ``implausible``, never good,
never shown live, never fed to an alarm as a process value). Bad readings keep their raw
value for the record but never a canonical value that could be shown as live.

This runs once per value (5,000 times a second for 500 devices x 10 values), so a Binding
resolves at start-up everything that does not change between samples: the canonical unit,
the range, the ids a Reading carries, and per input unit the conversion factor to the
canonical unit (every conversion ``thresholds`` and ``occmon.quantities`` make is a
constant factor; one that is not, checked when the factor is made, is called each time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from operator import mul

import thresholds
from occmon.batch import SeriesKey
from occmon.config.schema import Point, Sensor
from occmon.model import Quality, Reading, Reason
from occmon.plausibility import RANGES, Implausible, check_value
from occmon.quantities import QUANTITIES, convert

LOOP_LOW_MA = 3.8
LOOP_HIGH_MA = 20.5

_GOOD = Quality.GOOD
_BAD = Quality.BAD
_UNCERTAIN = Quality.UNCERTAIN
_isfinite = math.isfinite

Converter = Callable[[float], float]


@dataclass(frozen=True, slots=True)
class Binding:
    """A sensor with everything needed to normalise its values, resolved once at start-up."""

    sensor: Sensor
    point: Point
    agent: thresholds.Agent
    reference: thresholds.ReferenceConditions
    canonical_unit: str = field(init=False, compare=False)
    # unit -> converter to the canonical unit, filled on first use of each unit
    _converters: dict[str, Converter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sensor.quantity == "concentration":
            unit = thresholds.canonical_unit(self.agent)
        else:
            unit = QUANTITIES[self.sensor.quantity].unit
        object.__setattr__(self, "canonical_unit", unit)
        object.__setattr__(self, "_converters", {})

    def converter(self, unit: str) -> Converter:
        """The function from ``unit`` to the canonical unit; raises if they do not convert."""
        found = self._converters.get(unit)
        if found is None:
            found = self._converters[unit] = self._make_converter(unit)
        return found

    def to_canonical(self, value: float, unit: str) -> float:
        """The exact conversion (no cached factor): the reference the cache is checked by."""
        if self.sensor.quantity == "concentration":
            return float(thresholds.to_canonical(value, unit, self.agent, self.reference))
        return convert(self.sensor.quantity, value, unit)

    def _make_converter(self, unit: str) -> Converter:
        factor = self.to_canonical(1.0, unit)  # raises UnitError / QuantityError if it can't
        probes = (0.0, 3.7, 1234.5, -42.0)
        if all(math.isclose(self.to_canonical(x, unit), factor * x, rel_tol=1e-12,
                            abs_tol=1e-300) for x in probes):
            return partial(mul, factor)  # all C: no Python frame per value
        return lambda value: self.to_canonical(value, unit)


def loop_to_value(milliamps: float, span: tuple[float, float]) -> float:
    """Linear 4-20 mA scaling onto the sensor's range."""
    low, high = span
    return low + (milliamps - 4.0) * (high - low) / 16.0


def normalise(
    binding: Binding,
    value: float | None,
    time: float,
    *,
    unit: str,
    loop_ma: float | None = None,
    fault: str | None = None,
    uncertain: str | None = None,
) -> Reading:
    """Build the Reading for one sample.

    ``value`` is in ``unit``; pass ``loop_ma`` instead for a 4-20 mA input (scaled onto the
    sensor range). ``fault`` is a Reason already known from the wire (Modbus exception,
    device status word, an instrument state) and makes the reading bad; ``uncertain`` is one
    that keeps the value but makes a good reading uncertain (``maintenance-required``).
    """
    sensor = binding.sensor
    span = sensor.range
    if fault is None and uncertain is None and loop_ma is None and value is not None and (
        _isfinite(value)) and (
        span is None or span[0] <= value <= span[1]
    ):  # the common case: a good digital value
        canonical_value = binding.converter(unit)(value)
        if plausible(sensor.quantity, canonical_value):
            # Positional: a keyword call to the frozen Reading's __init__ costs ~25 % more.
            return Reading(binding.point.id, binding.agent.id, time, canonical_value,
                           binding.canonical_unit, _GOOD, sensor.quantity, None, sensor.id,
                           sensor.device, value, unit)
    raw_value, raw_unit = value, unit
    reason: str | None = fault
    if reason is None and loop_ma is not None:
        raw_value, raw_unit = loop_ma, "mA"
        if not _isfinite(loop_ma):
            reason = Reason.NOT_A_NUMBER
        elif loop_ma < LOOP_LOW_MA:
            reason = Reason.LOOP_UNDER_RANGE
        elif loop_ma > LOOP_HIGH_MA:
            reason = Reason.LOOP_OVER_RANGE
        elif span is None:
            reason = Reason.OUT_OF_RANGE  # cannot scale a loop without a range
        else:
            value = loop_to_value(loop_ma, span)
    if reason is None and value is not None and not _isfinite(value):
        reason, value = Reason.NOT_A_NUMBER, None
    if reason is None and value is None:
        reason = Reason.DEVICE_OFFLINE
    if reason is None and value is not None and span is not None:
        low, high = span
        # A loop scaled within 3.8-20.5 mA may sit slightly outside the range: clamp it, as
        # transmitters signal under/over-range inside that band (NE 43).
        if loop_ma is not None:
            value = min(max(value, low), high)
        elif not low <= value <= high:
            reason = Reason.OUT_OF_RANGE
    canonical: float | None = None
    quality = _GOOD
    if reason is not None:
        quality = _BAD
    elif value is not None:
        canonical = binding.converter(unit)(value)
        if not plausible(sensor.quantity, canonical):
            canonical, quality, reason = None, _BAD, Reason.IMPLAUSIBLE
        elif uncertain is not None:
            quality, reason = _UNCERTAIN, uncertain
    return Reading(
        binding.point.id, binding.agent.id, time, canonical, binding.canonical_unit, quality,
        sensor.quantity, str(reason) if reason is not None else None, sensor.id,
        sensor.device, raw_value if raw_value is None or _isfinite(raw_value) else None,
        raw_unit,
    )


class Prepared:
    """``normalise(binding, value, time, unit=unit)`` for one sensor and input unit, with
    every constant of the good path resolved once: range, conversion, plausibility bounds
    and the ids the Reading carries. A polled device makes one per plain sensor (fixed
    unit, not a 4-20 mA loop) and calls it with each poll's value.

    A value that is not a good one in range (NaN, infinite, out of range, implausible)
    goes to ``normalise`` itself, as does every value when the unit does not convert (so
    the same error is raised at the same moment as before). The Readings are equal to
    ``normalise``'s (``tests/gateway/test_fast_paths.py``).
    """

    __slots__ = ("_convert", "_fields", "_high", "_low", "_plausible", "binding", "unit")

    def __init__(self, binding: Binding, unit: str) -> None:
        self.binding, self.unit = binding, unit
        sensor = binding.sensor
        span = sensor.range
        self._low, self._high = span if span is not None else (-math.inf, math.inf)
        try:
            self._convert: Converter | None = binding.converter(unit)
        except Exception:  # normalise raises it at poll time, as it always did
            self._convert = None
        bound = RANGES.get(sensor.quantity)
        self._plausible = (bound.low, bound.high) if bound is not None else None
        self._fields = (binding.point.id, binding.agent.id, binding.canonical_unit,
                        sensor.quantity, sensor.id, sensor.device)

    @property
    def key(self) -> SeriesKey:
        """The series of this sensor's Readings (``occmon.batch``): what every poll repeats."""
        point, agent, unit, quantity, sensor, device = self._fields
        return point, agent, unit, quantity, sensor, device, self.unit

    def good(self, value: float) -> float | None:
        """The canonical value when ``value`` takes the good path (the Reading ``__call__``
        would make is good, with no reason), else None."""
        convert, plausible_range = self._convert, self._plausible
        if (convert is not None and plausible_range is not None and _isfinite(value)
                and self._low <= value <= self._high):
            canonical = convert(value)
            if _isfinite(canonical) and plausible_range[0] <= canonical <= plausible_range[1]:
                return canonical
        return None

    def __call__(self, value: float, time: float) -> Reading:
        convert, plausible_range = self._convert, self._plausible
        if (convert is not None and plausible_range is not None and _isfinite(value)
                and self._low <= value <= self._high):
            canonical = convert(value)
            if _isfinite(canonical) and plausible_range[0] <= canonical <= plausible_range[1]:
                point, agent, unit, quantity, sensor, device = self._fields
                return Reading(point, agent, time, canonical, unit, _GOOD, quantity, None,
                               sensor, device, value, self.unit)
        return normalise(self.binding, value, time, unit=self.unit)


def plausible(quantity: str, canonical: float) -> bool:
    """Whether a canonical value is physically possible (``occmon.plausibility``)."""
    try:
        check_value(quantity, canonical)
    except Implausible:
        return False
    return True
