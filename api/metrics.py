"""``GET /metrics``: Prometheus exposition of what the API can see.

The API keeps no counters of its own worth scraping; it exposes ingest's persistent
counters (the store's ``counters`` table: readings in, dead letters by code, store
retries ...), the dead letters by code, and the gateway's and ingest's heartbeat figures,
through the same ``CountersCollector`` the gateway and ingest use. Public like ``/healthz``
(nothing in it is personal data); the gateway and ingest serve their own on
``health.gateway_metrics_port`` / ``health.ingest_metrics_port``.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from api.heartbeats import WATCHED, ComponentWatch
from ingest.store import StoreReader
from occmon import heartbeat
from occmon.config.schema import SiteConfig
from occmon.metrics import CountersCollector, Snapshot

router = APIRouter(tags=["health"])


def snapshot(config: SiteConfig, store_path: Path, watch: ComponentWatch | None) -> Snapshot:
    with StoreReader(store_path) as reader:
        counters = dict(reader.counters())
        for code, n in reader.dead_letter_counts().items():
            counters[f"dead-letter:{code}"] = n
    free, problems = heartbeat.disk_problem("store", store_path, config.health.min_free_mb)
    figures: dict[str, heartbeat.Figure] = {"store_disk_free_mb": free}
    now = time.time()
    for name in WATCHED if watch is not None else ():
        assert watch is not None
        beat = watch.last(name)
        figures[f"{name}_heartbeat_age_s"] = None if beat is None else beat.age(now)
        figures[f"{name}_ok"] = None if beat is None else beat.ok
        for key, value in (beat.figures.items() if beat is not None else ()):
            figures[f"{name}_{key}"] = value
    return Snapshot(counters, heartbeat.as_figures(figures), tuple(problems))


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text exposition"}})
def metrics(request: Request) -> Response:
    """Prometheus text format: store counters, dead letters, heartbeat figures."""
    state = request.app.state
    watch: ComponentWatch | None = getattr(state, "components", None)
    registry = CollectorRegistry()
    registry.register(CountersCollector(
        "api", lambda: snapshot(state.config, state.store_path, watch)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
