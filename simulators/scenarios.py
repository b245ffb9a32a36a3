"""Named scenarios: small declarative changes to an ordinary day, timed in sim seconds.

A scenario is data (effects with start times counted from the scenario start, which is the
start of the simulated plant), resolved once against the site's sensors and devices into a
``Plan`` that answers pure questions: what is this sensor's value now, is that device dead,
has that fan failed. Nothing here does I/O or reads a clock.

Targets are chosen the way an integrator would describe them, so a scenario works on any
site config: "the H2S points of the first area that has one", "the first Modbus sensor
device", "every fan".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

# GBZ 1-2010 6.1.5-6.1.6: accident exhaust of at least 12 air changes per hour, so a vented
# room's concentration falls as exp(-12 t / 1 h): a time constant of 300 s.
VENT_TAU_S = 3600.0 / 12.0


class ScenarioError(ValueError):
    """An unknown scenario name, or a scenario that cannot apply to the site."""


@dataclass(frozen=True)
class SensorInfo:
    """A sensor as scenarios see it: where it is and what family of signal it gives."""

    sensor: str
    device: str
    area: str
    family: str  # "h2s", "dust/total", ... for concentrations; else the quantity name


@dataclass(frozen=True)
class DeviceInfo:
    device: str
    protocol: str  # "modbus-tcp", "mqtt", ...
    fan: bool  # a ventilation fan (its profile has a command and a feedback, or a drive)
    # the NE 107 states its profile can say, and FAULT if it has a way to signal a fault
    states: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Excursion:
    """A rise above the ordinary level: smooth rise, hold, linear fall (sim seconds).

    Either ``peak`` (added, in the signal's unit: a leak adds gas) or ``factor`` (multiplied
    at the top: a dust surge multiplies what is there). ``area='first'`` keeps the excursion
    to the first area whose points have the family (the leak has one place); None: all.
    ``vent_tau`` makes it fall exponentially once a fan runs (accident ventilation).
    """

    families: tuple[str, ...]
    start: float
    rise: float
    hold: float
    fall: float
    peak: float | None = None
    factor: float | None = None
    area: Literal["first"] | None = "first"
    vent_tau: float | None = None

    def __post_init__(self) -> None:
        if (self.peak is None) == (self.factor is None):
            raise ScenarioError("an excursion takes exactly one of peak or factor")
        if min(self.rise, self.fall) <= 0 or self.hold < 0:
            raise ScenarioError("an excursion needs rise > 0, fall > 0 and hold >= 0")

    def envelope(self, elapsed: float, vented_since: float | None = None) -> float:
        """0 before, 1 at the top; with ventilation running, decays from where it was."""
        natural = self._natural(elapsed)
        if self.vent_tau is None or vented_since is None or elapsed <= vented_since:
            return natural
        at_start = self._natural(vented_since)
        return min(natural, at_start * math.exp(-(elapsed - vented_since) / self.vent_tau))

    def _natural(self, elapsed: float) -> float:
        t = elapsed - self.start
        if t <= 0:
            return 0.0
        if t < self.rise:
            x = t / self.rise
            return x * x * (3.0 - 2.0 * x)  # smoothstep
        t -= self.rise
        if t < self.hold:
            return 1.0
        t -= self.hold
        return max(0.0, 1.0 - t / self.fall)

    def apply(self, base: float, elapsed: float, vented_since: float | None) -> float:
        e = self.envelope(elapsed, vented_since)
        if self.peak is not None:
            return base + self.peak * e
        assert self.factor is not None
        return base * (1.0 + (self.factor - 1.0) * e)


DeviceSelector = Literal["first-modbus-sensor", "first-mqtt"] | str


@dataclass(frozen=True)
class DeadDevice:
    """A device stops answering from ``start`` until ``end`` (None: for good).

    ``mode`` 'closed': a Modbus server closes its port (connection refused), an MQTT device
    stops publishing. 'no-response': the Modbus server answers every request with exception
    0x0B (gateway target failed to respond), as a TCP gateway does when the instrument
    behind it has died.
    """

    device: DeviceSelector
    start: float
    end: float | None = None
    mode: Literal["closed", "no-response"] = "closed"

    def active(self, elapsed: float) -> bool:
        return elapsed >= self.start and (self.end is None or elapsed < self.end)


@dataclass(frozen=True)
class FanFailure:
    """From ``start`` a fan never runs: commanded, its starter trips (fault set); a running
    fan trips and stops. At ``end`` (None: never) it is repaired: a starter needs the command
    again, a drive stays tripped until the gateway writes its reset, as the real ones do."""

    start: float = 0.0
    device: str | None = None  # None: every fan; "first-fan": the site file's first fan
    end: float | None = None

    def active(self, elapsed: float) -> bool:
        return elapsed >= self.start and (self.end is None or elapsed < self.end)


FAULT = "fault"  # the device's fault signal: status bit, failure state, NE 43 loop current


@dataclass(frozen=True)
class InstrumentState:
    """From ``start`` until ``end`` a detector is in a maintenance state, as a technician
    puts it there: a bump test, an inhibit, a calibration, a warm-up, or ``fault``.

    ``states`` are alternatives, the first the device's profile can say wins (an XNX says
    ``check-function:span-calibration``, a Midas only ``check-function:calibration``); a
    device that can say none of them is left alone. ``device``: a device id, ``first-able``
    (the first device that can say one) or ``every-able``. ``test_gas``: the fraction of its
    range each sensor of the device reads meanwhile (the gas a bump test applies), None: the
    ordinary value (an inhibited XNX forces its reading to 0 itself)."""

    states: tuple[str, ...]
    start: float
    end: float
    device: str = "first-able"
    test_gas: float | None = None

    def __post_init__(self) -> None:
        if not self.states or self.end <= self.start:
            raise ScenarioError("an instrument state needs a state and end > start")
        if self.test_gas is not None and not 0.0 <= self.test_gas <= 1.0:
            raise ScenarioError("test_gas is a fraction of the sensor's range, 0..1")

    def active(self, elapsed: float) -> bool:
        return self.start <= elapsed < self.end

    def pick(self, sayable: frozenset[str]) -> str | None:
        return next((s for s in self.states if s in sayable), None)


Effect = Excursion | DeadDevice | FanFailure | InstrumentState

BUMP_TEST = "check-function:bump-test"
BUMP = InstrumentState((BUMP_TEST,), start=300.0, end=900.0, test_gas=0.5)
# Every detector through a maintenance round, 4 sim minutes a step with 1 minute between.
MAINTENANCE_ROUND = (
    InstrumentState(("check-function:warm-up",), 60.0, 300.0, "every-able"),
    InstrumentState(("check-function:inhibit",), 360.0, 600.0, "every-able"),
    InstrumentState((BUMP_TEST,), 660.0, 900.0, "every-able", test_gas=0.5),
    InstrumentState(("check-function:span-calibration", "check-function:calibration"),
                    960.0, 1200.0, "every-able", test_gas=0.5),
    InstrumentState((FAULT,), 1260.0, 1500.0, "every-able"),
)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    effects: tuple[Effect, ...] = ()


H2S_LEAK = Excursion(
    ("h2s",), start=60.0, rise=600.0, hold=900.0, fall=900.0, peak=35.0, vent_tau=VENT_TAU_S
)

# A failed bag filter adds dust on top of what production makes: added, not multiplied, so
# the surge is as large at night as at noon (GBZ 2.1-2019 PC-TWA cement dust: total 4,
# respirable 1.5 mg/m3; 14 and 5 added reach ~4x either at full production).
DUST_SURGE_TOTAL = Excursion(
    ("dust/total",), start=60.0, rise=300.0, hold=1800.0, fall=600.0, peak=14.0
)
DUST_SURGE_RESPIRABLE = Excursion(
    ("dust/respirable",), start=60.0, rise=300.0, hold=1800.0, fall=600.0, peak=5.0
)
DEAD_FROM, DEAD_UNTIL = 600.0, 9000.0  # dead-sensor's silence, simulated seconds
# fan-trips: the duty fan runs by ~450 s even at the demo's speed 60 (the alarm's 2 s
# on-delay and the spin-up are real seconds), and the leak still holds at the repair
TRIP_AT, REPAIR_AT = 600.0, 900.0

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("normal-day", "an ordinary day: shift pattern, drift and noise only"),
        Scenario(
            "h2s-leak",
            "H2S at the first H2S area rises from 60 s over 10 min by 35 ppm (alarm = MAC "
            "10 mg/m3 at ~228 s, high alarm 20 mg/m3 at ~317 s), holds 15 min, falls over "
            "15 min; decays with tau 300 s once a fan runs",
            (H2S_LEAK,),
        ),
        Scenario(
            "dust-surge",
            "dust at the first dust area rises from 60 s over 5 min by 14 mg/m3 total and "
            "5 mg/m3 respirable (3.5x PC-TWA 4 and 1.5, at any hour) for 30 min, then "
            "falls over 10 min",
            (DUST_SURGE_TOTAL, DUST_SURGE_RESPIRABLE),
        ),
        Scenario(
            "dead-sensor",
            "the first Modbus sensor device closes its port and the first MQTT device stops "
            "publishing from 600 s to 9000 s",
            # Long enough to show silence as a fault at the demo's speed 60: by 600 s (10 real
            # s) the gateway has learnt the MQTT device's rate (2 s: offline after 6 s), and
            # the 140 real s of silence outlast even the default window (3 x 40 s) the API
            # alone or an un-learnt device is judged on (docs/alarms.md, "Silence").
            (
                DeadDevice("first-modbus-sensor", start=DEAD_FROM, end=DEAD_UNTIL),
                DeadDevice("first-mqtt", start=DEAD_FROM, end=DEAD_UNTIL),
            ),
        ),
        Scenario(
            "fan-fails",
            "the h2s-leak, and every fan fails: commanded, running never comes on and the "
            "fault input is set",
            (H2S_LEAK, FanFailure(start=0.0)),
        ),
        Scenario(
            "fan-trips",
            f"the h2s-leak, and the site's first fan trips at {TRIP_AT:g} s while it runs "
            f"and is repaired at {REPAIR_AT:g} s: a ventilation failure (and the standby's "
            "start, where its unit has one), then the interlock's retry resets the duty fan "
            "and runs it again",
            (H2S_LEAK, FanFailure(start=TRIP_AT, device="first-fan", end=REPAIR_AT)),
        ),
        Scenario(
            "bump-test",
            "the first detector whose profile says a bump test is in one from 300 s to 900 s "
            "with test gas at half its range: stored as check-function, no alarm, no fan, "
            "an instrument event",
            (BUMP,),
        ),
        Scenario(
            "maintenance-round",
            "every detector, as far as its profile can say it: warm-up 60-300 s, inhibit "
            "360-600 s, bump test with test gas 660-900 s, calibration with test gas "
            "960-1200 s, fault 1260-1500 s",
            MAINTENANCE_ROUND,
        ),
    )
}


def list_scenarios() -> list[Scenario]:
    return list(SCENARIOS.values())


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ScenarioError(f"unknown scenario {name!r}; choose one of: {known}") from None


@dataclass(frozen=True)
class Plan:
    """A scenario resolved against one site: the pure questions the plant asks each tick."""

    scenario: Scenario
    excursions: dict[str, tuple[Excursion, ...]] = field(default_factory=dict)
    outages: dict[str, tuple[DeadDevice, ...]] = field(default_factory=dict)
    fan_failures: dict[str, tuple[FanFailure, ...]] = field(default_factory=dict)
    # device -> (effect, the state it resolved to on that device)
    states: dict[str, tuple[tuple[InstrumentState, str], ...]] = field(default_factory=dict)

    def instrument_state(self, device: str,
                         elapsed: float) -> tuple[str, float | None] | None:
        """(state, test gas fraction) the scenario puts the device in now, if any."""
        for effect, state in self.states.get(device, ()):
            if effect.active(elapsed):
                return state, effect.test_gas
        return None

    def value(
        self, sensor: str, base: float, elapsed: float, vented_since: float | None = None
    ) -> float:
        for excursion in self.excursions.get(sensor, ()):
            base = excursion.apply(base, elapsed, vented_since)
        return base

    def outage(self, device: str, elapsed: float) -> DeadDevice | None:
        """The outage in force for the device at ``elapsed``, if any."""
        return next((o for o in self.outages.get(device, ()) if o.active(elapsed)), None)

    def fan_failed(self, device: str, elapsed: float) -> bool:
        return any(f.active(elapsed) for f in self.fan_failures.get(device, ()))


def plan(
    scenario: Scenario, sensors: Sequence[SensorInfo], devices: Sequence[DeviceInfo]
) -> Plan:
    """Resolve the scenario's targets against the site's sensors and devices."""
    excursions: dict[str, list[Excursion]] = {}
    outages: dict[str, list[DeadDevice]] = {}
    failures: dict[str, list[FanFailure]] = {}
    states: dict[str, list[tuple[InstrumentState, str]]] = {}
    for effect in scenario.effects:
        if isinstance(effect, Excursion):
            for sensor in _excursion_targets(effect, sensors):
                excursions.setdefault(sensor, []).append(effect)
        elif isinstance(effect, DeadDevice):
            device = _dead_target(effect, sensors, devices)
            if device is not None:
                outages.setdefault(device, []).append(effect)
        elif isinstance(effect, InstrumentState):
            for device, state in _state_targets(effect, devices):
                states.setdefault(device, []).append((effect, state))
        else:
            fans = [info.device for info in devices if info.fan]
            if effect.device == "first-fan":
                fans = fans[:1]
            elif effect.device is not None:
                if effect.device not in fans:
                    raise ScenarioError(f"scenario fan {effect.device!r} is not a simulated "
                                        "fan device")
                fans = [effect.device]
            for device in fans:
                failures.setdefault(device, []).append(effect)
    return Plan(
        scenario,
        {k: tuple(v) for k, v in excursions.items()},
        {k: tuple(v) for k, v in outages.items()},
        {k: tuple(v) for k, v in failures.items()},
        {k: tuple(v) for k, v in states.items()},
    )


def _state_targets(effect: InstrumentState,
                   devices: Sequence[DeviceInfo]) -> list[tuple[str, str]]:
    """(device, state) pairs an instrument-state effect hits; a named device that cannot
    say any of the states is an error (the scenario would silently do nothing)."""
    able = [(d.device, state) for d in devices
            if (state := effect.pick(d.states)) is not None]
    if effect.device == "every-able":
        return able
    if effect.device == "first-able":
        return able[:1]
    named = [d for d in devices if d.device == effect.device]
    if not named:
        raise ScenarioError(f"scenario device {effect.device!r} is not a simulated device")
    state = effect.pick(named[0].states)
    if state is None:
        says = ", ".join(sorted(named[0].states)) or "no state"
        raise ScenarioError(f"device {effect.device!r} cannot say {' or '.join(effect.states)}"
                            f" (its profile says: {says})")
    return [(effect.device, state)]


def _excursion_targets(effect: Excursion, sensors: Iterable[SensorInfo]) -> list[str]:
    matching = [s for s in sensors if s.family in effect.families]
    if effect.area == "first" and matching:
        area = matching[0].area
        matching = [s for s in matching if s.area == area]
    return [s.sensor for s in matching]


def _dead_target(
    effect: DeadDevice, sensors: Sequence[SensorInfo], devices: Sequence[DeviceInfo]
) -> str | None:
    """The device an outage hits; a selector with no match (a site without MQTT devices)
    hits nothing, a device id that is not simulated is an error."""
    with_sensors = {s.device for s in sensors}
    if effect.device == "first-modbus-sensor":
        found = [d for d in devices if d.protocol.startswith("modbus") and d.device in with_sensors]
    elif effect.device == "first-mqtt":
        found = [d for d in devices if d.protocol == "mqtt"]
    else:
        found = [d for d in devices if d.device == effect.device]
    if found:
        return found[0].device
    if effect.device in ("first-modbus-sensor", "first-mqtt"):
        return None
    raise ScenarioError(f"scenario device {effect.device!r} is not a simulated device")
