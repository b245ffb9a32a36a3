"""Request and response models of the alarm and ventilation endpoints (what /docs shows)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ingest.store import AlarmRecord, VentilationRecord
from occmon.model import iso_utc

# Who and why go into the alarm record and the ventilation log: blank is no answer.
Who = Annotated[str, Field(min_length=1, pattern=r"\S", description="the operator's name")]
Why = Annotated[str, Field(min_length=1, pattern=r"\S")]

ResolveCode = Literal["real-release", "false-alarm", "sensor-fault", "test-or-calibration",
                      "maintenance", "other"]


class AlarmOut(BaseModel):
    """An alarm as of its latest recorded event."""

    alarm_id: str
    point: str
    kind: str
    state: str
    active: bool
    level: str | None
    value: float | None
    setpoint: float | None
    unit: str
    occurrence: int
    last_event: str
    time: str
    cause: str
    event_id: str


class AlarmEventOut(BaseModel):
    event_id: str
    alarm_id: str
    point: str
    event: str
    state: str
    level: str | None
    time: str
    user: str | None
    cause: str
    body: dict[str, Any]


class AlarmDetail(BaseModel):
    alarm: AlarmOut
    events: list[AlarmEventOut]


class AlarmHistory(BaseModel):
    events: list[AlarmEventOut]
    next: str | None = Field(description="cursor (event id) of the next, older page")


class Acknowledge(BaseModel):
    user: Who
    comment: str = ""


class ShelveIn(BaseModel):
    user: Who
    until: str = Field(description="ISO 8601 time with offset; required: a shelve always ends",
                       json_schema_extra={"format": "date-time"})
    reason: Why


class UserOnly(BaseModel):
    user: Who


class ResolveIn(BaseModel):
    user: Who
    reason_code: ResolveCode
    comment: str = ""


class OutOfServiceIn(BaseModel):
    """Taking an alarm out of service silences it until someone returns it: who and why."""

    user: Who
    reason: Why = Field(description="why (e.g. detector removed for repair); kept in the record")


class InServiceIn(BaseModel):
    user: Who
    reason: str = Field(default="", description="optional note for the record")


class OverrideIn(BaseModel):
    mode: Literal["on", "off", "auto"]
    user: Who
    reason: Why


class ResetIn(BaseModel):
    user: Who
    comment: str = ""


class CommandResult(BaseModel):
    """What the gateway did: the events the command caused (also stored by ingest)."""

    ok: bool
    events: list[dict[str, Any]]


class UnitOut(BaseModel):
    unit: str
    state: str | None
    ventilating: bool | None
    primary: str | None
    standby: str | None
    failure: bool | None
    hold_until: str | None
    override_by: str | None
    coil_failures: int | None
    last_event: str | None
    time: str | None


class VentilationLogOut(BaseModel):
    event_id: str
    unit: str
    event: str
    state: str
    priority: str
    time: str
    cause: str
    body: dict[str, Any]


def alarm_out(r: AlarmRecord) -> AlarmOut:
    b = r.body
    active = r.state in ("active-unacknowledged", "active-acknowledged")
    return AlarmOut(alarm_id=r.alarm_id, point=r.point, kind=r.kind, state=r.state,
                    active=active, level=r.level, value=b.get("value"),
                    setpoint=b.get("setpoint"), unit=str(b.get("unit", "")),
                    occurrence=r.occurrence, last_event=r.event, time=iso_utc(r.time),
                    cause=str(b.get("cause", "")), event_id=r.event_id)


def event_out(r: AlarmRecord) -> AlarmEventOut:
    return AlarmEventOut(event_id=r.event_id, alarm_id=r.alarm_id, point=r.point,
                         event=r.event, state=r.state, level=r.level, time=iso_utc(r.time),
                         user=r.user, cause=str(r.body.get("cause", "")), body=r.body)


def log_out(r: VentilationRecord) -> VentilationLogOut:
    return VentilationLogOut(event_id=r.event_id, unit=r.unit, event=r.event, state=r.state,
                             priority=r.priority, time=iso_utc(r.time),
                             cause=str(r.body.get("cause", "")), body=r.body)


def unit_out(unit: str, r: VentilationRecord | None) -> UnitOut:
    snap: dict[str, Any] = (r.body.get("snapshot") or {}) if r else {}
    hold = snap.get("hold_until")
    return UnitOut(unit=unit, state=snap.get("state"), ventilating=snap.get("ventilating"),
                   primary=snap.get("primary"), standby=snap.get("standby"),
                   failure=snap.get("failure"),
                   hold_until=iso_utc(hold) if isinstance(hold, int | float) else None,
                   override_by=snap.get("override_by"), coil_failures=snap.get("coil_failures"),
                   last_event=r.event if r else None, time=iso_utc(r.time) if r else None)
