from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.app import create_app
from ingest.daily.close import close_day
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.records.support import DAY, dust_day, local, site_config, write


@dataclass
class Site:
    config: SiteConfig
    url: str


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Plant A with the dust-surge day closed, served by uvicorn on a free port."""
    config = site_config(tmp_path)
    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(DAY + dt.timedelta(days=1), 0, 30))
    with serve(create_app(config, config.store.path)) as url:
        yield Site(config, url)
