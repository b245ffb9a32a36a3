"""What a ventilation unit is fed, and what it returns: commands and logged events.

Inputs and outputs are frozen dataclasses; ``time`` is an argument (epoch seconds). The only
command is ``WriteCoil`` (alias ``FanCommand``), transport-neutral: "switch this named command
output on or off". The shell carries it out for the device at hand: a coil (Modbus FC5 and an
FC1 read-back) or a drive's control word (the configured FC6 value sequence, each step
confirmed from the status word), and answers with a ``CoilResult``; it polls the fan's
running feedback (an input, or a status-word test) and feeds ``Feedback``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal

from gateway.alarms.snapshot import PointCondition

Mode = Literal["on", "off", "auto"]


# -- inputs ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ZoneAlarm:
    """The current condition of some points (others keep their last known condition)."""

    time: float
    conditions: tuple[PointCondition, ...]


@dataclass(frozen=True, slots=True)
class Feedback:
    """A poll of a fan. ``fault``: the starter or drive reports a trip, so the fan will not
    run whatever it is told: a ventilation failure now, not after the feedback timeout.
    ``answered`` False: the fan's device did not answer; ``running`` is then False (no
    running feedback, which is what the drive table needs) but says nothing of the fan."""

    device: str
    running: bool
    time: float
    fault: bool = False
    answered: bool = True


@dataclass(frozen=True, slots=True)
class CoilResult:
    """Outcome of a ``WriteCoil``: ``ok`` after a good read-back, else the error text."""

    device: str
    coil: str
    value: bool
    ok: bool
    time: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    time: float


@dataclass(frozen=True, slots=True)
class ManualOverride:
    unit: str
    mode: Mode
    user: str
    reason: str
    time: float


@dataclass(frozen=True, slots=True)
class OperatorReset:
    unit: str
    user: str
    time: float
    comment: str = ""


Input = ZoneAlarm | Feedback | CoilResult | Tick | ManualOverride | OperatorReset


# -- outputs -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WriteCoil:
    """The one command: switch the command output ``coil`` (a register name of the device's
    profile: a coil, or a drive's control word) on (``value`` True: run) or off."""

    unit: str
    device: str
    coil: str
    value: bool
    purpose: Literal["run", "standby", "annunciator"]
    cause: str


class Priority(StrEnum):
    LOG = "log"
    HIGH = "high"


@dataclass(frozen=True, kw_only=True)
class UnitEvent:
    """A line of the ventilation log: what the unit did and why."""

    name: ClassVar[str] = "ventilation"
    priority: ClassVar[Priority] = Priority.LOG
    unit: str
    time: float
    state: str  # the unit's state after the event
    cause: str

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["event"], body["priority"] = self.name, str(self.priority)
        return body


@dataclass(frozen=True, kw_only=True)
class VentilationStarted(UnitEvent):
    name: ClassVar[str] = "started"


@dataclass(frozen=True, kw_only=True)
class VentilationConfirmed(UnitEvent):
    """Running feedback seen for ``fan``."""

    name: ClassVar[str] = "confirmed"
    fan: str
    device: str


@dataclass(frozen=True, kw_only=True)
class FeedbackLost(UnitEvent):
    name: ClassVar[str] = "feedback-lost"
    fan: str
    device: str


@dataclass(frozen=True, kw_only=True)
class VentilationFailureAlarm(UnitEvent):
    """No running feedback within the timeout, or a fault: high priority, feed it to the
    alarm engine. Its end (``active`` False: the fan runs again, or demand ended) is a log
    line: good news must not read as a failure in the log or at the console."""

    name: ClassVar[str] = "ventilation-failure"
    priority: ClassVar[Priority] = Priority.HIGH
    fan: str
    device: str
    alarm_id: str
    active: bool

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        if not self.active:
            body["priority"] = str(Priority.LOG)
        return body


@dataclass(frozen=True, kw_only=True)
class StandbyStarted(UnitEvent):
    name: ClassVar[str] = "standby-started"
    device: str


@dataclass(frozen=True, kw_only=True)
class HoldStarted(UnitEvent):
    name: ClassVar[str] = "hold-started"
    until: float


@dataclass(frozen=True, kw_only=True)
class HoldCancelled(UnitEvent):
    name: ClassVar[str] = "hold-cancelled"


@dataclass(frozen=True, kw_only=True)
class AwaitingReset(UnitEvent):
    name: ClassVar[str] = "awaiting-reset"


@dataclass(frozen=True, kw_only=True)
class Reset(UnitEvent):
    name: ClassVar[str] = "reset"
    user: str


@dataclass(frozen=True, kw_only=True)
class VentilationStopped(UnitEvent):
    name: ClassVar[str] = "stopped"


@dataclass(frozen=True, kw_only=True)
class OverrideChanged(UnitEvent):
    name: ClassVar[str] = "override"
    mode: Mode
    user: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class InterlockInhibited(UnitEvent):
    """Ventilation is demanded but an operator forced it off: high priority."""

    name: ClassVar[str] = "inhibited"
    priority: ClassVar[Priority] = Priority.HIGH


@dataclass(frozen=True, kw_only=True)
class CoilWriteFailed(UnitEvent):
    """A coil write raised (Modbus exception, timeout, read-back mismatch); it is retried."""

    name: ClassVar[str] = "coil-write-failed"
    device: str
    coil: str
    value: bool
    error: str
    attempt: int
    retry_at: float


@dataclass(frozen=True, kw_only=True)
class AnnunciatorChanged(UnitEvent):
    name: ClassVar[str] = "annunciator"
    on: bool


@dataclass(frozen=True, kw_only=True)
class UnitReported(UnitEvent):
    """The unit's state as the gateway starts: without it a unit that nothing has happened
    to yet has no log line, and the board and the API can only say "no state reported"."""

    name: ClassVar[str] = "unit-state"


@dataclass(frozen=True, kw_only=True)
class UncommandedRun(UnitEvent):
    """A fan the interlock has not started runs (``running``), or stops running again;
    ``at_start``: it ran already at the first feedback after the gateway started."""

    name: ClassVar[str] = "uncommanded-run"
    fan: str
    device: str
    running: bool
    at_start: bool = False


@dataclass(frozen=True, kw_only=True)
class StateRestored(UnitEvent):
    """The unit's state as the gateway last saved it, taken up again after a restart
    (``restored``), or an override deliberately not taken up (``restored`` False: a manual
    off; the interlock starts automatic). ``was``: the saved state; ``saved``: when."""

    name: ClassVar[str] = "restored"
    was: str
    saved: float
    restored: bool
    until: float | None = None


FanCommand = WriteCoil  # the transport-neutral name: a coil or a drive's control word

Output = WriteCoil | UnitEvent
