from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from ingest.store import SqliteStore
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.ingest.helpers import site_config

DEMO_KEY = {"X-API-Key": "demo-officer-key"}  # the demo config's officer key (demo only)


@pytest.fixture
def config(tmp_path: Path) -> SiteConfig:
    return site_config(tmp_path)


@pytest.fixture
def store(config: SiteConfig) -> Iterator[SqliteStore]:
    """The writer ingest would use, on the same file the API reads."""
    writer = SqliteStore(config.store.path)
    yield writer
    writer.close()


@pytest.fixture
def client(config: SiteConfig, store: SqliteStore) -> Iterator[httpx.Client]:
    """An HTTP client of the app, served by uvicorn over a real socket."""
    app = create_app(config, config.store.path)
    with serve(app) as url, httpx.Client(base_url=url, headers=DEMO_KEY) as http:
        yield http
