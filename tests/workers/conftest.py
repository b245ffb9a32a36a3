"""Fixtures of the worker tests: the site and a migrated store connection; the noise and
history tests' data (tests/workers/noise_data.py)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from ingest.daily.close import close_day
from ingest.schema import connect
from ingest.schema import migrate as migrate_store
from ingest.store import SqliteStore
from ingest.workers.schema import migrate
from occmon.config.records import Job, ProfileStep
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.workers.noise_data import THU, at, dosimeter_readings, point_readings
from tests.workers.site import OFFICER, A, B, config, worker_body


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return config(tmp_path)


@pytest.fixture
def conn(site: SiteConfig) -> Iterator[sqlite3.Connection]:
    """The site's store with the store's and the registries' tables."""
    c = connect(Path(site.store.path))
    migrate_store(c)
    migrate(c)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def noise_site(tmp_path: Path) -> SiteConfig:
    base = config(tmp_path)
    assert base.records is not None
    job = Job(id="mill-patrol", name="巡检工",
              profile=[ProfileStep(point="mill-noise-1", hours=4),
                       ProfileStep(point="mill-dust-total", hours=4)])
    return base.model_copy(update={"records": base.records.model_copy(update={"jobs": [job]})})


@pytest.fixture
def noise_api(noise_site: SiteConfig) -> Iterator[httpx.Client]:
    store = SqliteStore(noise_site.store.path)
    try:
        store.write_readings(dosimeter_readings() + point_readings(), received=at(THU, 20))
    finally:
        store.close()
    close_day(noise_site.store.path, noise_site, THU, now=at(THU + dt.timedelta(days=1), 0, 30))
    with serve(create_app(noise_site, noise_site.store.path)) as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        for body in (worker_body(A, "张三", job="巡检工"),
                     worker_body(B, "李四", sex="M", job="mill-patrol")):
            assert http.post("/api/v1/workers", json=body, headers=OFFICER).status_code == 201
        r = http.post("/api/v1/instruments", headers=OFFICER, json={
            "serial": "ASV-2207", "type": "noise-dosimeter", "device": "noisedos-1",
            "quantities": ["laeq", "lcpeak"], "calibrated": "2026-02-11"})
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/assignments", headers=OFFICER, json={
            "instrument": "ASV-2207", "worker": A, "start": "2026-05-25T07:30:00+08:00",
            "position": "collar"})
        assert r.status_code == 201, r.text
        yield http
