"""The ``ventilation:`` section: which points start which accident-ventilation unit.

GBZ 1-2010 cl. 6.1.5-6.1.6 asks for accident ventilation interlocked with the leak alarm
where a large toxic release can occur indoors. Defaults, and why:

* ``trigger_level`` alarm (警报, = MAC or PC-STEL): the level at which the air is no longer
  acceptable; pre-alarm only warns.
* ``reset_level`` pre_alarm: the unit may stop only once every bound point is below the
  pre-alarm (no alarm at all) ...
* ``hold_time`` 900 s: ... and has stayed there for 15 min, so a plume that drifts back is
  still extracted.
* ``feedback_timeout`` 10 s: a contactor reports running within a second or two; 10 s leaves
  room for star-delta starters.
* ``fault_policy`` start: a sensor in fault cannot prove the air is clean (fail-safe).
* ``reset`` auto: sites that want a person to confirm the room is safe choose ``operator``.
* coil writes that fail are retried after 2 s, doubling to at most 60 s, for ever.

A fan behind a variable-frequency drive has no coils: ``drive:`` says which control-word
values start and stop it (each step optionally confirmed by a status-word test before the
next is written) and which status-word test means running and fault. The drive's own
register names come from its profile (``abb-acs580``, ``inovance-md500``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from occmon.config.alarms import Level

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

FEEDBACK_TIMEOUT_S = 10.0
HOLD_TIME_S = 900.0
RETRY_INITIAL_S = 2.0
RETRY_MAX_S = 60.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


WORD_MAX = 0xFFFF
STEP_TIMEOUT_S = 3.0


class WordTest(_Strict):
    """A test of one 16-bit word the drive reports: one ``bit`` set (or clear, with
    ``set: false``), or the word equal to one of ``values``, or ``nonzero`` (a fault code).

    Why three forms: the ABB Drives profile reports states as bits of a status word, the
    Inovance MD500 as a value (3000H: 1 forward run, 2 reverse run, 3 stop) and its fault as
    a code (8000H: 0 = none)."""

    word: str = Field(min_length=1, description="a holding or input register name")
    bit: int | None = Field(default=None, ge=0, le=15)
    set: bool = True
    values: list[int] | None = Field(default=None, min_length=1)
    nonzero: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> WordTest:
        forms = [self.bit is not None, self.values is not None, self.nonzero]
        if sum(forms) != 1:
            raise ValueError(f"test of {self.word!r}: give exactly one of bit, values or "
                             "nonzero: true")
        bad = [v for v in self.values or [] if not 0 <= v <= WORD_MAX]
        if bad:
            raise ValueError(f"test of {self.word!r}: values {bad} do not fit 16 bits "
                             "(0..65535)")
        return self

    def holds(self, word: int) -> bool:
        if self.bit is not None:
            return bool(word >> self.bit & 1) == self.set
        if self.values is not None:
            return word in self.values
        return word != 0

    def describe(self) -> str:
        if self.bit is not None:
            return f"{self.word} bit {self.bit} = {int(self.set)}"
        if self.values is not None:
            return f"{self.word} in {self.values}"
        return f"{self.word} != 0"


class DriveStep(_Strict):
    """One control-word write; ``confirm``: the status test that must hold before the next
    step (or, for the last step, before the write counts as done)."""

    value: int = Field(ge=0, le=WORD_MAX, description="the 16-bit word written (FC6)")
    target: str | None = Field(default=None, description="another command register (e.g. "
                                                        "the speed reference); default: the "
                                                        "fan's run_command")
    confirm: WordTest | None = None


class Drive(_Strict):
    """A fan behind a VFD: the command register is written with a value sequence."""

    run: list[DriveStep] = Field(min_length=1, description="written in order to start")
    stop: list[DriveStep] = Field(min_length=1, description="written in order to stop")
    reset: list[DriveStep] = Field(
        default_factory=list, description="written before ``run`` while ``fault`` holds")
    running: WordTest = Field(description="the running feedback (required: a drive fan "
                                          "without one could never be confirmed)")
    fault: WordTest | None = None
    read_back: bool = Field(default=True, description="read the command register back after "
                                                      "each write (false: write-only, MD500)")
    step_timeout: float = Field(default=STEP_TIMEOUT_S, gt=0, le=60)

    def tests(self) -> list[tuple[str, WordTest]]:
        """Every status test with its key below ``drive`` (for config check)."""
        out = [("running", self.running)] + ([("fault", self.fault)] if self.fault else [])
        for name, steps in (("run", self.run), ("stop", self.stop), ("reset", self.reset)):
            out += [(f"{name}[{i}].confirm", s.confirm) for i, s in enumerate(steps)
                    if s.confirm is not None]
        return out


class Fan(_Strict):
    """A fan behind a ``ventilation-fan`` profile device (register names from that profile),
    or behind a drive (``drive:``; ``run_command`` is then the control-word register)."""

    device: Slug
    run_command: str = Field(default="run_command", description="coil: 1 = run; or the "
                                                                "drive's command register")
    running: str = Field(default="running", description="discrete input: 1 = running")
    fault: str | None = Field(default="fault", description="discrete input: 1 = starter fault")
    drive: Drive | None = None


class Annunciator(_Strict):
    """Horn / beacon coil switched on while the zone is in alarm or ventilation failed."""

    device: Slug
    coil: str = Field(min_length=1)


class UnitNames(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class VentilationUnitConfig(_Strict):
    id: Slug
    name: UnitNames | None = None
    fan: Fan
    standby: Fan | None = None
    annunciator: Annunciator | None = None
    points: list[Slug] = Field(default_factory=list, description="bound gas points")
    areas: list[Slug] = Field(default_factory=list, description="bind every point of a zone")
    trigger_level: Level = Level.ALARM
    reset_level: Level = Level.PRE_ALARM
    feedback_timeout: float = Field(default=FEEDBACK_TIMEOUT_S, gt=0, le=600)
    hold_time: float = Field(default=HOLD_TIME_S, ge=0, le=86400)
    reset: Literal["auto", "operator"] = "auto"
    fault_policy: Literal["start", "hold", "ignore"] = "start"
    retry_initial: float = Field(default=RETRY_INITIAL_S, gt=0, le=600)
    retry_max: float = Field(default=RETRY_MAX_S, gt=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> VentilationUnitConfig:
        if not self.points and not self.areas:
            raise ValueError(f"ventilation unit {self.id!r}: bind at least one point or area")
        if self.reset_level.rank > self.trigger_level.rank:
            raise ValueError(f"ventilation unit {self.id!r}: reset_level {self.reset_level} is "
                             f"above trigger_level {self.trigger_level}")
        if self.standby is not None and self.standby.device == self.fan.device:
            raise ValueError(f"ventilation unit {self.id!r}: standby fan must be another device")
        if self.retry_max < self.retry_initial:
            raise ValueError(f"ventilation unit {self.id!r}: retry_max < retry_initial")
        return self


class VentilationConfig(_Strict):
    units: list[VentilationUnitConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> VentilationConfig:
        ids = [u.id for u in self.units]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"ventilation units given twice: {dupes}")
        return self


def bound_points(unit: VentilationUnitConfig,
                 point_areas: dict[str, str]) -> frozenset[str]:
    """The unit's points: those named plus every point of its areas (``point -> area``).

    Raises ValueError naming an unknown point or an area without points.
    """
    points = set()
    for point in unit.points:
        if point not in point_areas:
            raise ValueError(f"ventilation unit {unit.id!r}: unknown point {point!r}")
        points.add(point)
    for area in unit.areas:
        members = {p for p, a in point_areas.items() if a == area}
        if not members:
            raise ValueError(f"ventilation unit {unit.id!r}: area {area!r} has no points")
        points |= members
    return frozenset(points)
