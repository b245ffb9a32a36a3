"""The embedded store on a real SQLite file: schema, upserts, counters, pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ingest.reader import StoreReader
from ingest.records import DeviceState
from ingest.schema import VERSION, SchemaTooNew
from ingest.sink import Sink
from ingest.store import SqliteStore
from occmon.model import Reading
from tests.ingest.helpers import T0, reading


def test_schema_is_created_once_and_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "var" / "occmon.db"
    store = SqliteStore(path)
    assert isinstance(store, Sink)
    store.write_readings([reading("p", 0)])
    store.close()
    SqliteStore(path).close()
    with StoreReader(path) as reader:
        assert reader.schema_version() == VERSION
        assert reader.count_readings() == 1
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "occmon.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (VERSION + 1,))
    with pytest.raises(SchemaTooNew, match="newer than this occmon"):
        SqliteStore(path)


def test_device_status_keeps_the_newest_change(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "occmon.db")
    store.write_device_status([DeviceState("d", False, 20.0, "timeout")])
    store.write_device_status([DeviceState("d", True, 10.0)])  # late, older news
    with StoreReader(store.path) as reader:
        assert reader.device_states() == [DeviceState("d", False, 20.0, "timeout")]
    store.close()


def test_counters_add_up(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "occmon.db")
    store.add_counters({"readings": 3, "dead-letter:malformed-json": 1})
    store.add_counters({"readings": 4, "unused": 0})
    with StoreReader(store.path) as reader:
        assert reader.counters() == {"readings": 7, "dead-letter:malformed-json": 1}
    store.close()


def test_pages_follow_quantity_then_time_without_gaps(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "occmon.db")
    rows = [reading("p", i, quantity=q) for q in ("laeq", "lcpeak") for i in range(7)]
    store.write_readings(rows)
    seen: list[Reading] = []
    with StoreReader(store.path) as reader:
        after = None
        while True:
            page, after = reader.readings("p", T0, T0 + 100, limit=3, after=after)
            seen.extend(s.reading for s in page)
            if after is None:
                break
    assert seen == rows
    store.close()
