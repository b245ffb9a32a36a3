"""Liveness of the API and its store."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Store
from api.models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(store: Store) -> Health:
    """200 when the store answers a query; 503 with the reason when it does not."""
    counts = store.dead_letter_counts()
    return Health(
        status="ok",
        store=str(store.path),
        schema_version=store.schema_version(),
        counters=store.counters(),
        dead_letters=sum(counts.values()),
    )
