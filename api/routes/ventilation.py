"""Accident ventilation: each unit's state, the ventilation log, manual override and reset.

State and log come from the store (each ventilation event carries its unit's snapshot);
override and reset are commands to the gateway, which runs the interlock. Times in the
events' bodies leave as ISO 8601 (``api.isotimes``), as every other time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.alarm_models import (
    CommandResult,
    OverrideIn,
    ResetIn,
    UnitOut,
    VentilationLogOut,
    log_out,
    unit_out,
)
from api.auth import Who
from api.commands import GatewayCommands, get_commands
from api.deps import Config, Store
from api.isotimes import iso_times
from api.timeparams import check_limit

router = APIRouter(prefix="/api/v1/ventilation", tags=["ventilation"])

Commands = Annotated[GatewayCommands, Depends(get_commands)]


@router.get("", response_model=list[UnitOut])
def units(config: Config, store: Store) -> list[UnitOut]:
    """Every configured unit as of its latest log line (nulls: nothing logged yet)."""
    latest = store.alarms().units()
    configured = [u.id for u in config.ventilation.units] if config.ventilation else []
    return [unit_out(u, latest.get(u)) for u in configured]


@router.get("/log", response_model=list[VentilationLogOut])
def ventilation_log(
    store: Store,
    unit: str | None = None,
    limit: int = Query(default=100, description="1..10000, newest first"),
    cursor: str | None = Query(default=None, description="event id the last page ended with"),
) -> list[VentilationLogOut]:
    check_limit(limit)
    rows = [log_out(r) for r in store.alarms().ventilation(unit=unit, limit=limit,
                                                           before=cursor)]
    return [r.model_copy(update={"body": iso_times(r.body)}) for r in rows]


@router.post("/{unit}/override", response_model=CommandResult)
def override(unit: str, who: Who, body: OverrideIn, commands: Commands) -> CommandResult:
    result = commands.send("override", who, unit=unit, mode=body.mode, user=body.user,
                           reason=body.reason)
    return CommandResult(ok=True, events=iso_times(list(result.get("events") or [])))


@router.post("/{unit}/reset", response_model=CommandResult)
def reset(unit: str, who: Who, body: ResetIn, commands: Commands) -> CommandResult:
    result = commands.send("reset", who, unit=unit, user=body.user, comment=body.comment)
    return CommandResult(ok=True, events=iso_times(list(result.get("events") or [])))
