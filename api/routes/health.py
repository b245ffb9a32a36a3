"""``/healthz``: is the system doing its work, not only is the API up.

200 only when the store answers, its disk has room, and (when the app watches heartbeats)
the gateway and ingest beat in time and report no problem of their own. Otherwise 503 with
every reason as a code and a message, so a load balancer, a compose health check and a
person all see why. The body is the same ``Health`` document either way.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import Config, Store
from api.errors import ErrorBody
from api.heartbeats import WATCHED, ComponentWatch
from api.models import ComponentHealth, Health, HealthProblem
from occmon import heartbeat

router = APIRouter(tags=["health"])


def components(watch: ComponentWatch, now: float) -> tuple[dict[str, ComponentHealth],
                                                            list[HealthProblem]]:
    """Each watched component as its last heartbeat shows it, and the reasons it fails."""
    out: dict[str, ComponentHealth] = {}
    problems: list[HealthProblem] = []
    for name in WATCHED:
        beat = watch.last(name)
        lost = heartbeat.beat_problems(name, beat, now, watch.bounds.stale_after)
        problems += [HealthProblem(code=p.code, message=p.message) for p in lost]
        reported = [HealthProblem(code=p.code, message=p.message)
                    for p in (beat.problems if beat is not None else ())]
        if not lost:  # a fresh beat: what the component says about itself counts
            problems += [HealthProblem(code=f"{name}:{p.code}", message=p.message)
                         for p in reported]
        out[name] = ComponentHealth(
            online=None if beat is None else beat.online,
            heartbeat_age_s=(None if beat is None or beat.time is None
                             else round(beat.age(now) or 0.0, 3)),
            ok=None if beat is None or beat.time is None else beat.ok,
            problems=reported,
            figures=dict(beat.figures) if beat is not None else {},
        )
    return out, problems


@router.get("/healthz", response_model=Health, responses={
    503: {"model": Health | ErrorBody,
          "description": "failing: a Health document with the reasons in problems; an "
                         "ErrorBody (store-unavailable) when the store cannot be opened"}})
def healthz(store: Store, config: Config, request: Request) -> Any:
    """200 when everything does its work; 503 with the reasons when anything does not."""
    counts = store.dead_letter_counts()
    free, disk = heartbeat.disk_problem("store", store.path, config.health.min_free_mb)
    problems = [HealthProblem(code=f"store-{p.code}", message=p.message) for p in disk]
    watch: ComponentWatch | None = getattr(request.app.state, "components", None)
    seen: dict[str, ComponentHealth] = {}
    if watch is not None:
        seen, lost = components(watch, time.time())
        problems += lost
    health = Health(
        status="failing" if problems else "ok",
        store=str(store.path),
        schema_version=store.schema_version(),
        counters=store.counters(),
        dead_letters=sum(counts.values()),
        problems=problems,
        store_disk_free_mb=None if free is None else round(free, 3),
        watching=watch is not None,
        components=seen,
    )
    if problems:
        return JSONResponse(status_code=503, content=health.model_dump(mode="json"))
    return health
