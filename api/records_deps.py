"""Shared pieces of the records routes : stores, day and time parameters, CSV."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import Response

from api.timeparams import parse_day as parse_day
from ingest.daily.store import RecordsStore
from ingest.daily.windows import local_day, zone
from occmon.config.schema import SiteConfig

Lang = Literal["zh", "en"]
Format = Literal["json", "csv"]


def records_reader(request: Request) -> Iterator[RecordsStore]:
    path: Path = request.app.state.store_path
    store = RecordsStore(path, readonly=True)
    try:
        yield store
    finally:
        store.close()


def records_writer(request: Request) -> Iterator[RecordsStore]:
    path: Path = request.app.state.store_path
    store = RecordsStore(path)
    try:
        yield store
    finally:
        store.close()


Records = Annotated[RecordsStore, Depends(records_reader)]
RecordsWriter = Annotated[RecordsStore, Depends(records_writer)]


def today(config: SiteConfig, now: float) -> dt.date:
    return local_day(now, zone(config.site.timezone))


def check_site(config: SiteConfig, site: str | None) -> bool:
    """True when the query may match: this API serves one site."""
    return site is None or site == config.site.id


# what a route with ``format=csv`` also answers, for the OpenAPI (its JSON is the default)
CSV_TOO: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {
    "schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv"}}


def csv_response(text: str, filename: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
