"""Dead letters: what ingest or the gateway could not accept, with the reason and payload."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import Store
from api.models import DeadLetters
from api.timeparams import check_limit
from api.views import dead_letter_out

router = APIRouter(prefix="/api/v1", tags=["dead letters"])


@router.get("/dead-letters", response_model=DeadLetters)
def list_dead_letters(
    store: Store,
    code: str | None = Query(default=None, description=(
        "only this code, e.g. malformed-json; codes are an open set (the gateway forwards "
        "its own), so an unknown one lists nothing rather than being refused")),
    limit: int = Query(default=100, description="most recent first, 1..10000"),
) -> DeadLetters:
    check_limit(limit)
    letters = store.dead_letters(limit=limit, code=code)
    return DeadLetters(
        counts=store.dead_letter_counts(), letters=[dead_letter_out(d) for d in letters]
    )
