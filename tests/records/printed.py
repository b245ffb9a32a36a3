"""A closed, signed day for the printed-record tests: dust with a surge (an exceedance), a
job, an alarm raised and cleared at the dust point, and the tools that read a PDF back."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ingest.daily import query
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from occmon import ledger
from occmon.config.schema import SiteConfig
from tests.records.support import DAY, dust_day, local, site_config, site_doc, write

NEXT = DAY + dt.timedelta(days=1)


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} missing: apt-get install -y poppler-utils poppler-data")
        pytest.skip(f"{name} missing: run scripts/ensure-servers (poppler-utils)")
    return found


def run(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def alarm(db: Path, point: str, at: float, event: str, state: str, n: int) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO alarm_events (event_id, alarm_id, point, kind, event, level, "
                     "state, time, user, body) VALUES (?, ?, ?, 'threshold', ?, 'high', ?, ?, "
                     "?, '{}')", (f"ev-{n}", f"{point}-twa", point, event, state, at,
                                  "张班长" if event == "ack" else None))


def closed_site(tmp_path: Path, doc: dict[str, Any] | None = None) -> SiteConfig:
    doc = doc or site_doc(tmp_path)
    doc["records"]["jobs"] = [{"id": "miller", "name": "磨工",
                               "profile": [{"point": "mill-dust", "hours": 8}]}]
    config = site_config(tmp_path, doc)
    write(config, dust_day())
    alarm(config.store.path, "mill-dust", local(DAY, 10, 1), "raise", "active", 1)
    alarm(config.store.path, "mill-dust", local(DAY, 10, 12), "clear", "cleared", 2)
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    with RecordsStore(config.store.path) as store:
        store.sign(DAY.isoformat(), "王安全", local(NEXT, 9))
    return config


def day_parts(config: SiteConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                           dict[str, Any] | None, tuple[int, str]]:
    with RecordsStore(config.store.path, readonly=True) as store:
        rows = query.daily_records(store.conn, query.Filters(day_from=str(DAY),
                                                             day_to=str(DAY)))
        _, events = query.exceedances(store.conn, query.Filters())
        return rows, events, query.closure(store.conn, str(DAY)), ledger.head(store.conn)
