"""The FastAPI application factory: routes are thin shells over ``ingest.store``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from api import metrics
from api.auth import PUBLIC_PATHS
from api.auth import install as install_auth
from api.docs import install as install_docs
from api.errors import document as document_errors
from api.errors import install as install_errors
from api.heartbeats import ComponentWatch
from api.routes import dead_letters, devices, health, points
from api.routes.alarms import router as alarms_router
from api.routes.board import router as board_router
from api.routes.dose_alerts import router as dose_alerts_router
from api.routes.exceedances import router as exceedances_router
from api.routes.instrument_events import router as instrument_events_router
from api.routes.ledger import router as ledger_router
from api.routes.records import router as records_router
from api.routes.ventilation import router as ventilation_router
from api.routes.worker_access import router as worker_access_router
from api.routes.worker_dose import router as worker_dose_router
from api.routes.worker_history import router as worker_history_router
from api.routes.workers import router as workers_router
from ingest.daily.store import RecordsStore
from ingest.store import StoreReader
from occmon.config.schema import SiteConfig


def create_app(config: SiteConfig, store_path: Path, *,
               components: ComponentWatch | None = None) -> FastAPI:
    """Build the app for one site; the store file is created/migrated if missing.

    ``components``: the heartbeat watch ``/healthz`` judges gateway and ingest by (started
    and stopped with the app); ``occmon run`` and ``occmon api`` always give one.
    """
    StoreReader.ensure_schema(store_path)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if components is not None:
            components.start()
        try:
            yield
        finally:
            if components is not None:
                components.stop()

    app = FastAPI(
        title="occmon",
        version="1",
        summary=f"Occupational-hazard monitoring: {config.site.name.en}",
        docs_url=None,  # api/docs.py serves /docs and /redoc without a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    install_docs(app)
    app.state.config = config
    app.state.components = components
    app.state.store_path = Path(store_path)
    RecordsStore(Path(store_path)).close()  # creates the records tables
    install_auth(app, config)  # API keys guard every router included below
    install_errors(app)  # one error body: {"detail": {"code", "message", ...}}

    for router in (
        health.router,
        metrics.router,
        points.router,
        devices.router,
        instrument_events_router,
        dead_letters.router,
        alarms_router,
        ventilation_router,
        records_router,
        exceedances_router,
        ledger_router,
        workers_router,
        worker_history_router,
        worker_dose_router,
        dose_alerts_router,
        worker_access_router,
        board_router,
    ):
        document_errors(router, PUBLIC_PATHS)  # the error body of each route, in OpenAPI
        app.include_router(router)
    return app
