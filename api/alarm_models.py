"""Request and response models of the alarm and ventilation endpoints (what /docs shows)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

import thresholds
from api.isotimes import TIME_KEYS, iso_times
from ingest.store import AlarmRecord, Episode, VentilationRecord
from occmon.config.schema import SiteConfig
from occmon.model import iso_utc

# alarm bodies and the gateway's alarm snapshot add these to the event time keys
ALARM_TIME_KEYS = TIME_KEYS | {"raised_at", "shelved_until"}
# the states in which an operator has silenced an alarm (each entered by the event of its name)
SUPPRESSED = ("shelved", "out-of-service")

# the alarm states (gateway.alarms.actions.AlarmState; the API does not import the gateway,
# tests/api/test_agents_enums.py holds the two lists equal), and "all" for the whole list
AlarmStateName = Literal["normal", "active-unacknowledged", "active-acknowledged",
                         "cleared-unacknowledged", "shelved", "out-of-service"]
# the alarm event names (each gateway.alarms.actions event's ``name``) and ingest's "closed"
AlarmEventName = Literal["raised", "escalated", "deescalated", "cleared", "acknowledged",
                         "returned", "shelved", "unshelved", "out-of-service", "in-service",
                         "resolved", "fault-raised", "fault-cleared", "warning",
                         "warning-cleared", "closed"]


def body_out(body: dict[str, Any]) -> dict[str, Any]:
    """An alarm event body as the API answers it: its times ISO 8601 (stored as epoch)."""
    out: dict[str, Any] = iso_times(body, ALARM_TIME_KEYS)
    return out

# Who and why go into the alarm record and the ventilation log: blank is no answer.
Who = Annotated[str, Field(min_length=1, pattern=r"\S", description="the operator's name")]
Why = Annotated[str, Field(min_length=1, pattern=r"\S")]

ResolveCode = Literal["real-release", "false-alarm", "sensor-fault", "test-or-calibration",
                      "maintenance", "other"]


class PlaceNames(BaseModel):
    zh: str
    en: str


class AlarmReached(BaseModel):
    """The highest level the current occurrence reached, and the value that took it there."""

    level: str | None = Field(description="pre_alarm, alarm or high_alarm; null for a fault")
    value: float | None
    setpoint: float | None
    time: str


class AlarmSuppressed(BaseModel):
    """Who shelved the alarm (until when) or took it out of service, and why: while it is,
    the alarm neither annunciates nor pushes, and the floor must know whose decision that
    was and when it ends."""

    by: str | None = Field(description="the operator who shelved it or took it out")
    reason: str = Field(description="the reason they gave")
    since: str = Field(description="when it was shelved or taken out (ISO 8601)")
    until: str | None = Field(description="when a shelve ends by itself; null out of service")


class AlarmOut(BaseModel):
    """An alarm as of its latest recorded event, with where it is and what it measures.

    ``value`` and ``setpoint`` are those of the latest event: after a ``cleared`` event,
    the value at clearing (below the set-point) and the set-point of the level it left.
    What the occurrence was is in ``raised_at``, ``reached`` and ``cleared_at``.
    """

    alarm_id: str = Field(examples=["desulf-h2s-1:process"])
    point: str = Field(description="the point, or the ventilation unit of an external alarm")
    source: Literal["point", "ventilation-unit", "other"] = Field(
        default="point", description="what ``point`` names")
    point_name: PlaceNames | None = Field(default=None, description="the point's (or unit's) "
                                          "name; null if not in the site configuration")
    area: str | None = Field(default=None, examples=["desulf"])
    area_name: PlaceNames | None = None
    agent: str | None = Field(default=None, description="catalogue id, e.g. h2s",
                              examples=["h2s"])
    agent_name: PlaceNames | None = Field(default=None, examples=[{"zh": "硫化氢",
                                                                   "en": "hydrogen sulfide"}])
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
    reason: str | None = Field(default=None, description="why ingest closed it (e.g. "
                               "gateway-restarted: the gateway no longer has it open; "
                               "ingest-restarted: a system alarm of ingest's run before)")
    raised_at: str | None = Field(default=None, description="when the current occurrence "
                                  "was raised; null if never raised or not in the store")
    reached: AlarmReached | None = Field(default=None, description="the highest level of "
                                         "the current occurrence and the value that took "
                                         "it there")
    cleared_at: str | None = Field(default=None, description="when the condition cleared, "
                                   "while it stays cleared (a latched alarm awaiting "
                                   "acknowledgement)")
    suppressed: AlarmSuppressed | None = Field(default=None, description="while shelved or "
                                               "out of service: by whom, why, until when")


class AlarmEventOut(BaseModel):
    """One alarm event; ``body`` is the gateway's event with its times as ISO 8601."""

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
    """An accident-ventilation unit as of its latest log line (nulls: nothing logged yet)."""

    unit: str
    state: str | None = Field(description="demand state: idle, active, hold, await-reset, "
                              "manual-on, manual-off")
    ventilating: bool | None = Field(description="a fan confirms it runs (running feedback); "
                                     "never true while both fans have failed")
    demanded: bool | None = Field(default=None, description="the unit wants air moved")
    primary: str | None
    standby: str | None
    failure: bool | None
    hold_until: str | None
    override_by: str | None
    coil_failures: int | None
    last_event: str | None
    time: str | None
    uncommanded: list[str] = Field(
        default_factory=list, description="fans (primary, standby) that run though the "
        "interlock did not start them (by hand, or left running across a gateway restart); "
        "primary/standby then say stopped: the interlock's command, not what the fan does")
    found_running: list[str] = Field(
        default_factory=list, description="those of the uncommanded fans that were running "
        "already at their first poll since the gateway started: started by the interlock "
        "before a restart (a "
        "coil latched on) or by hand; which of the two is not known")


class VentilationLogOut(BaseModel):
    event_id: str
    unit: str
    event: str
    state: str
    priority: str
    time: str
    cause: str
    body: dict[str, Any]


def _where(config: SiteConfig, point: str) -> dict[str, Any]:
    """Names, area and agent of an alarm's point (or its ventilation unit)."""
    areas = {a.id: a.name for a in config.areas}
    for p in config.points:
        if p.id == point:
            agent = thresholds.lookup(p.agent)
            area = areas.get(p.area)
            return {"source": "point", "point_name": PlaceNames(zh=p.name.zh, en=p.name.en),
                    "area": p.area,
                    "area_name": PlaceNames(zh=area.zh, en=area.en) if area else None,
                    "agent": agent.id, "agent_name": PlaceNames(zh=agent.zh, en=agent.en)}
    for u in config.ventilation.units if config.ventilation else []:
        if u.id == point:
            first = next(iter(u.areas), None)
            area = areas.get(first) if first else None
            name = (PlaceNames(zh=u.name.zh, en=u.name.en) if u.name
                    else PlaceNames(zh=f"事故通风 {u.id}", en=f"accident ventilation {u.id}"))
            return {"source": "ventilation-unit", "point_name": name, "area": first,
                    "area_name": PlaceNames(zh=area.zh, en=area.en) if area else None}
    return {"source": "other"}


def alarm_out(r: AlarmRecord, config: SiteConfig, episode: Episode | None = None) -> AlarmOut:
    """``r``: the alarm's latest event; ``episode``: its current occurrence
    (``AlarmQueries.episode``)."""
    b = r.body
    active = r.state in ("active-unacknowledged", "active-acknowledged")
    reason = b.get("reason") if r.event == "closed" else None
    story: dict[str, Any] = {}
    if episode is not None:
        story = {
            "raised_at": iso_utc(episode.raised_at),
            "reached": AlarmReached(level=episode.level, value=episode.value,
                                    setpoint=episode.setpoint,
                                    time=iso_utc(episode.reached_at)),
            "cleared_at": (iso_utc(episode.cleared_at)
                           if episode.cleared_at is not None and not active else None)}
    if r.state in SUPPRESSED and r.event in SUPPRESSED:
        until = b.get("until")
        since = b.get("since")  # taken up after a gateway restart: when it was done
        story["suppressed"] = AlarmSuppressed(
            by=r.user, reason=str(b.get("reason", "")),
            since=iso_utc(float(since) if isinstance(since, int | float) else r.time),
            until=iso_utc(float(until)) if isinstance(until, int | float) else None)
    return AlarmOut(alarm_id=r.alarm_id, point=r.point, kind=r.kind, state=r.state,
                    active=active, level=r.level, value=b.get("value"),
                    setpoint=b.get("setpoint"), unit=str(b.get("unit", "")),
                    occurrence=r.occurrence, last_event=r.event, time=iso_utc(r.time),
                    cause=str(b.get("cause", "")), event_id=r.event_id,
                    reason=str(reason) if reason else None, **story,
                    **_where(config, r.point))


def event_out(r: AlarmRecord) -> AlarmEventOut:
    return AlarmEventOut(event_id=r.event_id, alarm_id=r.alarm_id, point=r.point,
                         event=r.event, state=r.state, level=r.level, time=iso_utc(r.time),
                         user=r.user, cause=str(r.body.get("cause", "")),
                         body=body_out(r.body))


def log_out(r: VentilationRecord) -> VentilationLogOut:
    return VentilationLogOut(event_id=r.event_id, unit=r.unit, event=r.event, state=r.state,
                             priority=r.priority, time=iso_utc(r.time),
                             cause=str(r.body.get("cause", "")), body=r.body)


def unit_out(unit: str, r: VentilationRecord | None) -> UnitOut:
    snap: dict[str, Any] = (r.body.get("snapshot") or {}) if r else {}
    hold = snap.get("hold_until")
    running = "running" in (snap.get("primary"), snap.get("standby"))
    ventilating = bool(snap.get("ventilating")) and running if snap else None
    demanded = snap.get("demanded")
    return UnitOut(unit=unit, state=snap.get("state"), ventilating=ventilating,
                   demanded=bool(demanded) if demanded is not None else None,
                   primary=snap.get("primary"), standby=snap.get("standby"),
                   failure=snap.get("failure"),
                   hold_until=iso_utc(hold) if isinstance(hold, int | float) else None,
                   override_by=snap.get("override_by"), coil_failures=snap.get("coil_failures"),
                   last_event=r.event if r else None, time=iso_utc(r.time) if r else None,
                   uncommanded=[str(f) for f in snap.get("uncommanded") or []],
                   found_running=[str(f) for f in snap.get("found_running") or []])
