"""Dependencies the routes share: the site config and a store reader per request.

The API reads the store ingest writes (``ingest.store``'s read side); each request opens its
own read-only SQLite connection, which WAL lets run beside ingest's writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from ingest.store import StoreReader
from occmon.config.schema import SiteConfig


def get_config(request: Request) -> SiteConfig:
    config: SiteConfig = request.app.state.config
    return config


def get_store(request: Request) -> Iterator[StoreReader]:
    path: Path = request.app.state.store_path
    reader = StoreReader(path)
    try:
        yield reader
    finally:
        reader.close()


Config = Annotated[SiteConfig, Depends(get_config)]
Store = Annotated[StoreReader, Depends(get_store)]
