"""One accident-ventilation unit: bound points in, coil writes and a ventilation log out.

Pure: ``VentilationUnit.handle(event)`` returns ``WriteCoil`` commands and ``UnitEvent``s,
reads no clock and does no I/O, so it keeps working whatever the broker, store or API do.
The sequence (docs/alarms.md): a bound point reaches the trigger level -> write the run coil
-> wait ``feedback_timeout`` for running feedback -> none: ventilation-failure alarm, start
the standby fan, keep re-writing the primary coil with back-off. Stop only after every bound
point has been under the reset level for ``hold_time`` (and an operator reset, if configured).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.alarms.levels import rank
from gateway.alarms.snapshot import PointCondition
from gateway.interlock import errors
from gateway.interlock import events as ev
from gateway.interlock.coils import CoilOutputs
from gateway.interlock.config import Fan, VentilationUnitConfig
from gateway.interlock.states import (
    DemandDo,
    DemandState,
    DemandTrigger,
    DriveDo,
    DriveState,
    DriveTrigger,
    Zone,
    demand_step,
    drive_step,
)

_ZONE_TRIGGER = {Zone.DEMAND: DemandTrigger.DEMAND, Zone.ELEVATED: DemandTrigger.ELEVATED,
                 Zone.CLEAR: DemandTrigger.CLEAR}
_MODE_TRIGGER = {"on": DemandTrigger.MANUAL_ON, "off": DemandTrigger.MANUAL_OFF,
                 "auto": DemandTrigger.MANUAL_AUTO}
_VENTILATING = {DemandState.ACTIVE, DemandState.HOLD, DemandState.AWAIT_RESET,
                DemandState.MANUAL_ON}


@dataclass(slots=True)
class _Drive:
    fan: str  # "primary" or "standby"
    config: Fan
    retry_delay: float
    state: DriveState = DriveState.STOPPED
    deadline: float | None = None
    retry_at: float | None = None
    failure_active: bool = False
    running: bool | None = None  # the fan's last answered feedback (None: not known)
    answered: bool = False  # the fan's device has answered a poll since the gateway started
    uncommanded: bool = False  # runs, and the interlock did not start it
    found_running: bool = False  # ... and ran already at its first answered poll


@dataclass(frozen=True, slots=True)
class UnitMemory:
    """What a unit must not forget across a gateway restart: a hold under way, a latch
    waiting for an operator's reset, an override (``gateway/safety/memory.py`` keeps it)."""

    state: DemandState
    hold_until: float | None = None
    override_by: str | None = None


_OVERRIDDEN = {DemandState.MANUAL_ON, DemandState.MANUAL_OFF}
# After a restore, how long a bound point that has not reported since the restart leaves the
# zone undecided instead of elevated: the gateway's first polls of each device come over
# the first seconds, and a restored hold is not cancelled only because they have not come
# yet. (A device that never answers is judged stale, a fault, well within this.)
RESTORE_SETTLE_S = 30.0
_RESTORED = {
    DemandState.ACTIVE: "ventilating on demand",
    DemandState.HOLD: "holding after the zone cleared",
    DemandState.AWAIT_RESET: "ventilating until an operator resets",
    DemandState.MANUAL_ON: "forced on",
}


@dataclass(frozen=True, slots=True)
class UnitSnapshot:
    unit: str
    state: DemandState
    zone: Zone | None
    ventilating: bool
    primary: DriveState
    standby: DriveState | None
    failure: bool
    hold_until: float | None
    annunciator: bool
    coil_failures: int
    override_by: str | None
    points: dict[str, PointCondition] = field(default_factory=dict)
    # the unit wants air moved (active, hold, awaiting reset, manual on); ``ventilating`` is
    # only true while a fan confirms it runs (running feedback): a demand is not a fan.
    demanded: bool = False
    # the fans ("primary", "standby") that run though the interlock did not start them (by
    # hand, or left running across a gateway restart): ``primary`` then says stopped, which
    # is the interlock's command, not what the fan does
    uncommanded: tuple[str, ...] = ()
    # those of them that ran already at their first poll since the gateway started: who
    # started them is not known (the interlock before a restart, or a hand at the panel),
    # so none is named
    found_running: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit, "state": str(self.state),
            "zone": None if self.zone is None else str(self.zone),
            "ventilating": self.ventilating, "demanded": self.demanded,
            "primary": str(self.primary),
            "standby": None if self.standby is None else str(self.standby),
            "failure": self.failure, "hold_until": self.hold_until,
            "annunciator": self.annunciator, "coil_failures": self.coil_failures,
            "override_by": self.override_by,
            "uncommanded": list(self.uncommanded),
            "found_running": list(self.found_running),
            "points": {p: {"level": None if c.level is None else str(c.level),
                           "faulted": c.faulted} for p, c in self.points.items()},
        }


class VentilationUnit:
    def __init__(self, config: VentilationUnitConfig, points: frozenset[str]) -> None:
        if not points:
            raise ValueError(f"ventilation unit {config.id!r} has no bound points")
        self.config = config
        self.points = points
        self.state = DemandState.IDLE
        self.zone: Zone | None = None
        self._conditions: dict[str, PointCondition] = {}
        self._primary = _Drive("primary", config.fan, config.retry_initial)
        self._standby = (_Drive("standby", config.standby, config.retry_initial)
                         if config.standby else None)
        self._coils = CoilOutputs(config.retry_initial, config.retry_max)
        self._hold_until: float | None = None
        self._annunciator = False
        self._override_by: str | None = None
        self._zone_cause = ""
        self._settle_until: float | None = None  # RESTORE_SETTLE_S after a restore

    @property
    def id(self) -> str:
        return self.config.id

    def devices(self) -> set[str]:
        found = {self.config.fan.device}
        if self.config.standby:
            found.add(self.config.standby.device)
        if self.config.annunciator:
            found.add(self.config.annunciator.device)
        return found

    def snapshot(self) -> UnitSnapshot:
        """``ventilating``: a fan's running feedback is confirmed now (drive ``running``),
        never just because the unit demands air while both fans have failed."""
        running = any(d.state is DriveState.RUNNING for d in self._drives())
        return UnitSnapshot(
            self.id, self.state, self.zone, running, self._primary.state,
            self._standby.state if self._standby else None,
            any(d.failure_active for d in self._drives()), self._hold_until, self._annunciator,
            self._coils.failures, self._override_by, dict(self._conditions),
            demanded=self.state in _VENTILATING,
            uncommanded=tuple(d.fan for d in self._drives() if d.uncommanded),
            found_running=tuple(d.fan for d in self._drives() if d.found_running))

    def memory(self) -> UnitMemory:
        return UnitMemory(self.state,
                          self._hold_until if self.state is DemandState.HOLD else None,
                          self._override_by if self.state in _OVERRIDDEN else None)

    def restore(self, saved: UnitMemory, time: float, saved_at: float) -> list[ev.Output]:
        """Take up the state saved before a gateway restart, on a unit that has handled
        nothing yet. A ventilating state is entered again and the run command written again
        (the fan may have been stopped meanwhile; a fan still running confirms at its first
        poll); a hold keeps its end (never later than a hold from now); the zone's next
        report then moves the unit on as usual. A manual off is not taken up: after a restart
        the interlock is automatic again, and the log says so."""
        if self.state is not DemandState.IDLE or self.zone is not None:
            raise errors.InterlockError(self.id, "a unit is restored before it runs")
        was = saved.state
        common: dict[str, Any] = dict(unit=self.id, time=time, was=str(was), saved=saved_at)
        if was is DemandState.IDLE:
            return []
        if was is DemandState.MANUAL_OFF:
            by = saved.override_by or "an operator"
            return [ev.StateRestored(
                **common, state=str(self.state), restored=False,
                cause=f"not restored after a gateway restart: ventilation forced off by {by}; "
                      f"the interlock is automatic again")]
        self.state = was
        phrase = _RESTORED[was]
        if was is DemandState.HOLD:
            latest = time + self.config.hold_time
            until = saved.hold_until if saved.hold_until is not None else latest
            self._hold_until = min(until, latest)
        if was is DemandState.MANUAL_ON:
            self._override_by = saved.override_by
            phrase += f" by {saved.override_by}" if saved.override_by else ""
        cause = f"restored after a gateway restart: {phrase}"
        self._settle_until = time + RESTORE_SETTLE_S
        out: list[ev.Output] = [ev.StateRestored(**common, state=str(self.state), restored=True,
                                                 cause=cause, until=self._hold_until)]
        return out + self._drive(self._primary, DriveTrigger.RUN, time, cause)

    # -- the one entry point ------------------------------------------------------------------
    def handle(self, event: ev.Input) -> list[ev.Output]:
        out: list[ev.Output] = []
        if isinstance(event, ev.ZoneAlarm):
            for cond in event.conditions:
                if cond.point in self.points:
                    self._conditions[cond.point] = cond
            out += self._zone_update(event.time)
        elif isinstance(event, ev.Feedback):
            for drive in self._drives():
                if drive.config.device == event.device:
                    out += self._uncommanded(drive, event)
                    trigger = (DriveTrigger.FAULT if event.fault and not event.running
                               else DriveTrigger.FEEDBACK_ON if event.running
                               else DriveTrigger.FEEDBACK_OFF)
                    word = ("in fault" if trigger is DriveTrigger.FAULT
                            else "running" if event.running else "not running")
                    out += self._drive(drive, trigger, event.time,
                                       f"{drive.config.device} reports {word}")
        elif isinstance(event, ev.CoilResult):
            out += self._coil_result(event)
        elif isinstance(event, ev.Tick):
            out += self._tick(event.time)
        elif isinstance(event, ev.ManualOverride):
            out += self._override(event)
        elif isinstance(event, ev.OperatorReset):
            if not event.user.strip():
                raise errors.MissingWho(self.id, "an operator reset needs the user's name")
            out += self._demand(DemandTrigger.RESET, event.time,
                                f"reset by {event.user}: {event.comment}".rstrip(": "),
                                user=event.user)
        else:
            raise TypeError(f"not a ventilation unit event: {event!r}")
        out += self._annunciate(event.time)
        return out

    # -- zone ---------------------------------------------------------------------------------
    def _classify(self, time: float) -> tuple[Zone | None, str]:
        """The zone and why; None: undecided (just restored, and what has reported neither
        demands nor keeps the zone elevated while the other points' first polls are due)."""
        cfg = self.config
        demanding: list[str] = []
        elevated: list[str] = []
        unheard: list[str] = []
        settling = self._settle_until is not None and time < self._settle_until
        for point in sorted(self.points):
            cond = self._conditions.get(point)
            if cond is None:
                (unheard if settling else elevated).append(f"{point} not yet reported")
                continue
            if cond.faulted and cfg.fault_policy == "start":
                demanding.append(f"{point} in fault ({cond.fault_reason}), fail-safe start")
            elif cond.faulted and cfg.fault_policy == "hold":
                elevated.append(f"{point} in fault ({cond.fault_reason})")
            if rank(cond.level) >= cfg.trigger_level.rank:
                demanding.append(f"{point} at {cond.level}")
            elif rank(cond.level) >= cfg.reset_level.rank:
                elevated.append(f"{point} at {cond.level}")
        if demanding:
            return Zone.DEMAND, "; ".join(demanding)
        if elevated:
            return Zone.ELEVATED, "; ".join(elevated)
        if unheard:
            return None, "; ".join(unheard)
        return Zone.CLEAR, f"every bound point under {cfg.reset_level}"

    def _zone_update(self, time: float) -> list[ev.Output]:
        zone, cause = self._classify(time)
        self._zone_cause = cause
        if zone is None or zone == self.zone:
            return []
        self.zone = zone
        return self._demand(_ZONE_TRIGGER[zone], time, cause)

    # -- operator -----------------------------------------------------------------------------
    def _override(self, event: ev.ManualOverride) -> list[ev.Output]:
        if not event.user.strip() or not event.reason.strip():
            raise errors.MissingWho(self.id, "a manual override needs who and why")
        if event.mode not in _MODE_TRIGGER:
            raise errors.InterlockError(self.id, f"unknown override mode {event.mode!r}")
        cause = f"manual {event.mode} by {event.user}: {event.reason}"
        out = self._demand(_MODE_TRIGGER[event.mode], event.time, cause,
                           mode=event.mode, user=event.user, reason=event.reason)
        self._override_by = None if event.mode == "auto" else event.user
        if self.zone is not None:  # the zone as it is now applies to the new mode
            out += self._demand(_ZONE_TRIGGER[self.zone], event.time, self._zone_cause)
        return out

    # -- the demand table, applied ------------------------------------------------------------
    def _demand(self, trigger: DemandTrigger, time: float, cause: str,
                **extra: Any) -> list[ev.Output]:
        step = demand_step(self.id, self.state, trigger)
        self.state = step.next
        out: list[ev.Output] = []
        common: dict[str, Any] = dict(unit=self.id, time=time, state=str(self.state), cause=cause)
        for do in step.actions:
            if do is DemandDo.START:
                out.append(ev.VentilationStarted(**common))
                out += self._drive(self._primary, DriveTrigger.RUN, time, cause)
            elif do is DemandDo.STOP:
                out.append(ev.VentilationStopped(**common))
                for drive in self._drives():
                    out += self._drive(drive, DriveTrigger.STOP, time, cause)
                self._hold_until = None
            elif do is DemandDo.START_HOLD:
                self._hold_until = time + self.config.hold_time
                out.append(ev.HoldStarted(**common, until=self._hold_until))
            elif do is DemandDo.CANCEL_HOLD:
                self._hold_until = None
                out.append(ev.HoldCancelled(**common))
            elif do is DemandDo.AWAIT_RESET:
                self._hold_until = None
                out.append(ev.AwaitingReset(**common))
            elif do is DemandDo.RESET:
                out.append(ev.Reset(**common, user=extra["user"]))
            elif do is DemandDo.OVERRIDE:
                out.append(ev.OverrideChanged(**common, mode=extra["mode"], user=extra["user"],
                                              reason=extra["reason"]))
            elif do is DemandDo.INHIBITED:
                out.append(ev.InterlockInhibited(
                    **{**common, "cause": f"{cause}; ventilation forced off by "
                                          f"{self._override_by}"}))
        return out

    # -- the drive table, applied -------------------------------------------------------------
    def _drives(self) -> list[_Drive]:
        return [self._primary] + ([self._standby] if self._standby else [])

    def _drive(self, drive: _Drive, trigger: DriveTrigger, time: float,
               cause: str) -> list[ev.Output]:
        step = drive_step(drive.state, trigger)
        if step is None:
            return []
        drive.state = step.next
        if drive.state is not DriveState.STOPPED:
            # the interlock runs it now (its own log says so)
            drive.uncommanded = drive.found_running = False
        cfg = self.config
        common: dict[str, Any] = dict(unit=self.id, time=time, state=str(self.state))
        purpose = "run" if drive.fan == "primary" else "standby"
        out: list[ev.Output] = []
        for do in step.actions:
            if do in (DriveDo.WRITE_ON, DriveDo.WRITE_OFF):
                value = do is DriveDo.WRITE_ON
                self._coils.want(drive.config.device, drive.config.run_command, value,
                                 purpose, cause)
                out.append(ev.WriteCoil(self.id, drive.config.device, drive.config.run_command,
                                        value, "run" if purpose == "run" else "standby", cause))
            elif do is DriveDo.ARM_TIMEOUT:
                drive.deadline = time + cfg.feedback_timeout
            elif do is DriveDo.ARM_RETRY:
                drive.retry_at = time + drive.retry_delay
                drive.retry_delay = min(drive.retry_delay * 2, cfg.retry_max)
            elif do is DriveDo.CONFIRMED:
                drive.deadline, drive.retry_at, drive.retry_delay = None, None, cfg.retry_initial
                out.append(ev.VentilationConfirmed(
                    **common, cause=cause, fan=drive.fan, device=drive.config.device))
            elif do is DriveDo.LOST:
                out.append(ev.FeedbackLost(**common, cause=cause, fan=drive.fan,
                                           device=drive.config.device))
            elif do is DriveDo.FAIL:
                out += self._fail(drive, time, cause)
            elif do is DriveDo.RECOVER and drive.failure_active:
                drive.failure_active = False
                out.append(ev.VentilationFailureAlarm(
                    **common, cause=cause, fan=drive.fan, device=drive.config.device,
                    alarm_id=self._failure_id(drive), active=False))
        if drive.state is DriveState.STOPPED:
            drive.deadline, drive.retry_at, drive.retry_delay = None, None, cfg.retry_initial
        return out

    def _uncommanded(self, drive: _Drive, event: ev.Feedback) -> list[ev.Output]:
        """Record the fan's feedback; a fan the interlock has not started (stopped) that
        starts or stops running is logged, so the log and the board say it runs.

        A fan already running at its first answered poll since the gateway started is
        told apart from one started while the gateway watched: the first may be the
        interlock's own start before a restart (a coil latched on), so it is not said to
        be "not started by the interlock", only found running. A poll the fan's device does
        not answer says nothing of the fan: it is not "stopped running"."""
        if not event.answered:
            drive.running = None
            if not drive.uncommanded:
                return []
            lost = ev.UncommandedRun(
                unit=self.id, time=event.time, state=str(self.state), fan=drive.fan,
                cause=f"{drive.config.device} does not answer: whether it still runs is not "
                      f"known", device=drive.config.device, running=False,
                at_start=drive.found_running)
            drive.uncommanded = drive.found_running = False
            return [lost]
        first = not drive.answered
        drive.answered = True
        before, drive.running = drive.running, event.running
        if drive.state is not DriveState.STOPPED:
            return []  # the interlock runs it (``_drive`` cleared the flag when it started it)
        if event.running and not before and not drive.uncommanded:  # started, not by us
            drive.uncommanded = True
            drive.found_running = first  # no answered poll yet since the gateway started
            word = ("was running at its first poll since the gateway started (left running "
                    "across a restart, or started by hand); the interlock has not started it"
                    if drive.found_running
                    else "runs, not started by the interlock (by hand at the panel, or "
                         "by another control)")
        elif not event.running and drive.uncommanded:
            word = ("stopped running (it was running at its first poll since the gateway "
                    "started)"
                    if drive.found_running
                    else "stopped running (it was not started by the interlock)")
        else:  # e.g. still spinning down after the interlock stopped it
            return []
        line = ev.UncommandedRun(unit=self.id, time=event.time, state=str(self.state),
                                 cause=f"{drive.config.device} {word}", fan=drive.fan,
                                 device=drive.config.device, running=event.running,
                                 at_start=drive.found_running)
        if not event.running:
            drive.uncommanded = drive.found_running = False
        return [line]

    def _failure_id(self, drive: _Drive) -> str:
        return f"{self.id}:{drive.fan}:ventilation-failure"

    def _fail(self, drive: _Drive, time: float, cause: str) -> list[ev.Output]:
        drive.failure_active = True
        standby = self._standby if drive.fan == "primary" else None
        then = ("starting standby fan " + standby.config.device if standby
                else "no standby fan to start" if drive.fan == "primary" else "no further fan")
        why = ("reports a fault (a tripped starter or drive will not run)"
               if cause.endswith("in fault") else
               f"no running feedback within {self.config.feedback_timeout:g} s of the run "
               f"command ({cause})")
        text = f"{drive.config.device}: {why}; {then}"
        out: list[ev.Output] = [ev.VentilationFailureAlarm(
            unit=self.id, time=time, state=str(self.state), cause=text, fan=drive.fan,
            device=drive.config.device, alarm_id=self._failure_id(drive), active=True)]
        if standby is not None and standby.state is DriveState.STOPPED:
            out.append(ev.StandbyStarted(unit=self.id, time=time, state=str(self.state),
                                         cause=text, device=standby.config.device))
            out += self._drive(standby, DriveTrigger.RUN, time,
                               f"standby for {drive.config.device}")
        return out

    # -- time and coil results ----------------------------------------------------------------
    def _tick(self, time: float) -> list[ev.Output]:
        out: list[ev.Output] = []
        for drive in self._drives():
            if (drive.state is DriveState.STARTING and drive.deadline is not None
                    and time >= drive.deadline):
                out += self._drive(drive, DriveTrigger.TIMEOUT, time, "feedback timeout")
            elif (drive.state is DriveState.FAILED and drive.retry_at is not None
                  and time >= drive.retry_at):
                out += self._drive(drive, DriveTrigger.RETRY, time,
                                   f"retrying {drive.config.device}")
        if (self.state is DemandState.HOLD and self._hold_until is not None
                and time >= self._hold_until and self.zone is Zone.CLEAR):
            needs_reset = self.config.reset == "operator"
            trigger = (DemandTrigger.HOLD_ELAPSED_NEEDS_RESET if needs_reset
                       else DemandTrigger.HOLD_ELAPSED)
            out += self._demand(trigger, time, f"every bound point under "
                                f"{self.config.reset_level} for {self.config.hold_time:g} s")
        for device, coil, entry in self._coils.due(time):
            out.append(ev.WriteCoil(self.id, device, coil, entry.value,
                                    "annunciator" if entry.purpose == "annunciator"
                                    else "standby" if entry.purpose == "standby" else "run",
                                    f"retry {entry.attempt} of a failed write ({entry.cause})"))
        return out

    def _coil_result(self, result: ev.CoilResult) -> list[ev.Output]:
        if result.ok:
            self._coils.succeeded(result.device, result.coil, result.value)
            return []
        entry = self._coils.failed(result.device, result.coil, result.value, result.time)
        if entry is None or entry.retry_at is None:
            return []
        return [ev.CoilWriteFailed(
            unit=self.id, time=result.time, state=str(self.state),
            cause=f"writing {result.coil}={int(result.value)} on {result.device} failed: "
                  f"{result.error}; retry in {entry.retry_at - result.time:g} s",
            device=result.device, coil=result.coil, value=result.value, error=result.error,
            attempt=entry.attempt, retry_at=entry.retry_at)]

    def _annunciate(self, time: float) -> list[ev.Output]:
        horn = self.config.annunciator
        want = self.zone is Zone.DEMAND or any(d.failure_active for d in self._drives())
        if horn is None or want == self._annunciator:
            return []
        self._annunciator = want
        cause = self._zone_cause if self.zone is Zone.DEMAND else (
            "ventilation failure" if want else "zone no longer demands ventilation")
        self._coils.want(horn.device, horn.coil, want, "annunciator", cause)
        return [ev.WriteCoil(self.id, horn.device, horn.coil, want, "annunciator", cause),
                ev.AnnunciatorChanged(unit=self.id, time=time, state=str(self.state),
                                      cause=cause, on=want)]
