"""The FastAPI application factory: routes are thin shells over ``ingest.store``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.routes import dead_letters, devices, health, points
from ingest.reader import StoreUnavailable
from ingest.store import StoreReader
from occmon.config.schema import SiteConfig


def create_app(config: SiteConfig, store_path: Path) -> FastAPI:
    """Build the app for one site; the store file is created/migrated if missing."""
    StoreReader.ensure_schema(store_path)
    app = FastAPI(
        title="occmon",
        version="1",
        summary=f"Occupational-hazard monitoring: {config.site.name.en}",
    )
    app.state.config = config
    app.state.store_path = Path(store_path)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"store unavailable: {exc}"})

    for module in (health, points, devices, dead_letters):
        app.include_router(module.router)
    return app
