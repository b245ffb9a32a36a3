"""Alarms: active list, history, one alarm, operator commands, and a live SSE stream.

Reads come from the store ingest writes (``alarm_events``); commands go to the gateway,
which owns alarm state, and the answer says what it did (or why not: 404 unknown alarm,
409 e.g. already acknowledged, 422 e.g. a shelve without expiry, 503 gateway unreachable).
Taking an alarm out of service or back is a safety officer's command, like shelving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.alarm_models import (
    ALARM_TIME_KEYS,
    Acknowledge,
    AlarmDetail,
    AlarmEventName,
    AlarmHistory,
    AlarmOut,
    AlarmStateName,
    CommandResult,
    InServiceIn,
    OutOfServiceIn,
    ResolveIn,
    ShelveIn,
    UserOnly,
    alarm_out,
    event_out,
)
from api.auth import Who
from api.commands import GatewayCommands, get_commands
from api.deps import Config, Store
from api.errors import error
from api.isotimes import iso_times
from api.timeparams import TIME, check_limit, check_range, parse_iso, unprocessable
from ingest.store import StoreReader

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

Commands = Annotated[GatewayCommands, Depends(get_commands)]
STREAM_POLL = 0.25  # s between looks at the store for new alarm events
HEARTBEAT = 15.0  # s: an SSE comment keeps proxies from closing an idle stream
MAX_ROW_ID = 2**63 - 1  # SQLite's largest rowid: a Last-Event-ID beyond it names no event


@router.get("", response_model=list[AlarmOut])
def active_alarms(
    store: Store,
    config: Config,
    state: Annotated[Literal[AlarmStateName, "all"] | None, Query(
        description="only this state (e.g. active-unacknowledged, shelved); 'all' includes "
        "normal; another value is a 422")] = None,
) -> list[AlarmOut]:
    """Alarms that are not normal (the operator's list), newest first, each with its point's
    name, area and agent. The list follows the gateway: an alarm its current state no longer
    has open is closed by ingest (``last_event`` closed, ``reason`` gateway-restarted), so
    every listed alarm can be acknowledged."""
    current = store.alarms().current()
    if state == "all":
        chosen = current
    elif state is not None:
        chosen = [r for r in current if r.state == state]
    else:
        chosen = [r for r in current if r.state != "normal"]
    queries = store.alarms()
    return [alarm_out(r, config, queries.episode(r)) for r in chosen]


@router.get("/history", response_model=AlarmHistory)
def alarm_history(
    store: Store,
    alarm_id: str | None = None,
    point: str | None = None,
    event: Annotated[AlarmEventName | None, Query(
        description="e.g. raised, acknowledged; another value is a 422")] = None,
    start: str | None = Query(default=None, description="ISO 8601, inclusive",
                              json_schema_extra=TIME),
    end: str | None = Query(default=None, description="ISO 8601, exclusive",
                            json_schema_extra=TIME),
    limit: int = Query(default=100, description="1..10000, newest first"),
    cursor: str | None = Query(default=None, description="'next' of the previous page"),
) -> AlarmHistory:
    check_limit(limit)
    t0 = parse_iso("start", start) if start else None
    t1 = parse_iso("end", end) if end else None
    if t0 is not None and t1 is not None:
        check_range(t0, t1, str(start), str(end))
    rows = store.alarms().history(alarm_id=alarm_id, point=point, event=event, start=t0,
                                  end=t1, limit=limit + 1, before=cursor)
    page = rows[:limit]
    return AlarmHistory(events=[event_out(r) for r in page],
                        next=page[-1].event_id if len(rows) > limit else None)


async def _stream(path: Path, request: Request, after: int | None) -> AsyncIterator[str]:
    with StoreReader(path) as reader:
        queries = reader.alarms()
        last = queries.last_row() if after is None else after
        yield ": occmon alarm stream\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            rows = queries.after(last)
            for row in rows:
                last = row.id
                data = json.dumps(event_out(row).model_dump(), ensure_ascii=False)
                yield f"id: {row.id}\nevent: alarm\ndata: {data}\n\n"
            idle = 0.0 if rows else idle + STREAM_POLL
            if idle >= HEARTBEAT:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(STREAM_POLL)


@router.get("/stream", response_class=StreamingResponse)
def alarm_stream(
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: every alarm event as ingest stores it (``event: alarm``).

    A client that reconnects with ``Last-Event-ID`` gets what it missed.
    """
    after = None
    if last_event_id is not None:
        if not (last_event_id.isascii() and last_event_id.isdigit()
                and int(last_event_id) <= MAX_ROW_ID):
            raise unprocessable(f"Last-Event-ID {last_event_id[:40]!r} is not an event id "
                                "this stream sent", "last-event-id")
        after = int(last_event_id)
    return StreamingResponse(
        _stream(request.app.state.store_path, request, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{alarm_id}", response_model=AlarmDetail)
def one_alarm(alarm_id: str, store: Store, config: Config,
              limit: int = Query(default=50, description="recent events, 1..10000")) -> AlarmDetail:
    check_limit(limit)
    queries = store.alarms()
    latest = queries.latest(alarm_id)
    if latest is None:
        raise error(404, "unknown-alarm", f"no recorded events of alarm {alarm_id!r}")
    events = queries.history(alarm_id=alarm_id, limit=limit)
    return AlarmDetail(alarm=alarm_out(latest, config, queries.episode(latest)),
                       events=[event_out(r) for r in events])


def _result(result: dict[str, Any]) -> CommandResult:
    return CommandResult(ok=True, events=iso_times(list(result.get("events") or []),
                                                    ALARM_TIME_KEYS))


@router.post("/{alarm_id}/acknowledge", response_model=CommandResult)
def acknowledge(alarm_id: str, who: Who, body: Acknowledge, commands: Commands) -> CommandResult:
    return _result(commands.send("acknowledge", who, alarm_id=alarm_id, user=body.user,
                                 comment=body.comment))


@router.post("/{alarm_id}/shelve", response_model=CommandResult)
def shelve(alarm_id: str, who: Who, body: ShelveIn, commands: Commands) -> CommandResult:
    until = parse_iso("until", body.until)
    return _result(commands.send("shelve", who, alarm_id=alarm_id, user=body.user, until=until,
                                 reason=body.reason))


@router.post("/{alarm_id}/unshelve", response_model=CommandResult)
def unshelve(alarm_id: str, who: Who, body: UserOnly, commands: Commands) -> CommandResult:
    return _result(commands.send("unshelve", who, alarm_id=alarm_id, user=body.user))


@router.post("/{alarm_id}/resolve", response_model=CommandResult)
def resolve(alarm_id: str, who: Who, body: ResolveIn, commands: Commands) -> CommandResult:
    return _result(commands.send("resolve", who, alarm_id=alarm_id, user=body.user,
                                 reason_code=body.reason_code, comment=body.comment))


@router.post("/{alarm_id}/out-of-service", response_model=CommandResult)
def out_of_service(alarm_id: str, who: Who, body: OutOfServiceIn,
                   commands: Commands) -> CommandResult:
    """Silence the alarm until it is returned to service (its condition is still tracked and
    still drives ventilation); 409 ``out-of-service`` if it already is."""
    return _result(commands.send("out-of-service", who, alarm_id=alarm_id, user=body.user,
                                 reason=body.reason))


@router.post("/{alarm_id}/in-service", response_model=CommandResult)
def in_service(alarm_id: str, who: Who, body: InServiceIn,
               commands: Commands) -> CommandResult:
    """Return the alarm to service; raised again at once if its condition is present;
    409 ``in-service`` if it was not out of service."""
    return _result(commands.send("in-service", who, alarm_id=alarm_id, user=body.user,
                                 reason=body.reason))
