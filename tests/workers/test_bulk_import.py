"""The CSV import's one-transaction path (``ingest.workers.bulk``) stores exactly what
``registry.put_*`` stores row by row: the same rows, ids, seqs and ledger entries, byte for
byte; it refuses the same rows with the same codes, one by one; and a failure that is not a
refused row enters nothing of the file."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.schema import connect
from ingest.schema import migrate as migrate_store
from ingest.workers import registry
from ingest.workers.bulk import Bulk
from ingest.workers.cli import import_csv
from ingest.workers.schema import migrate
from occmon import ledger
from occmon.config.schema import SiteConfig
from tests.workers.site import config

SITE = "demo-plant"
NOW = 1_780_000_000.0
DEVICES = ["raddos-1", "noisedos-1"]


def store(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    migrate_store(conn)
    migrate(conn)
    return conn


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
    one, other = store(tmp_path / "bulk.db"), store(tmp_path / "rows.db")
    try:
        yield one, other
    finally:
        one.close()
        other.close()


def worker(employee: str, **kw: Any) -> registry.WorkerIn:
    return registry.WorkerIn.model_validate({
        "employee": employee, "name": f"工人{employee}", "sex": "M", "birth_date": "1980-01-02",
        "job": "焊工", **kw})


def assignment(inst: str, who: str, start: str, end: str | None = None,
               **kw: Any) -> registry.AssignmentIn:
    return registry.AssignmentIn.model_validate({
        "instrument": inst, "worker": who, "start": f"2026-05-{start}:00+08:00",
        "end": f"2026-05-{end}:00+08:00" if end else None, **kw})


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("worker_rows", "instrument_rows", "assignment_rows", "ledger")}


def test_bulk_rows_and_ledger_entries_are_byte_for_byte_those_of_put(
    two: tuple[sqlite3.Connection, sqlite3.Connection],
) -> None:
    bulk_conn, rows_conn = two
    workers = [worker(f"E{i}") for i in range(1, 6)] + [worker("E2", reason="name fixed")]
    instruments = [registry.InstrumentIn(serial="EPD-1", type="EPD", device="raddos-1",
                                         quantities=["hp10"]),
                   registry.InstrumentIn(serial="TLD-1", type="TLD")]
    assignments = [assignment("EPD-1", "E1", "28T08:00", "28T12:00"),
                   assignment("EPD-1", "E2", "28T12:00", "28T17:00"),
                   assignment("TLD-1", "E3", "01T00:00"), assignment("EPD-1", "E4", "29T08:00")]
    # row by row, as the API enters them
    for w in workers:
        registry.put_worker(rows_conn, w, site=SITE, by="hr", now=NOW, correct=bool(w.reason))
    for i in instruments:
        registry.put_instrument(rows_conn, i, site=SITE, by="hr", now=NOW, devices=DEVICES)
    for a in assignments:
        registry.put_assignment(rows_conn, a, site=SITE, by="hr", now=NOW)
    # the same, in one transaction
    bulk_conn.execute("BEGIN IMMEDIATE")
    bulk = Bulk(bulk_conn, site=SITE, by="hr", now=NOW, devices=DEVICES)
    for w in workers:
        bulk.worker(w)
    for i in instruments:
        bulk.instrument(i)
    for a in assignments:
        bulk.assignment(a)
    assert bulk.flush() == len(assignments)
    bulk_conn.execute("COMMIT")

    assert dump(bulk_conn) == dump(rows_conn)
    assert len(dump(bulk_conn)["ledger"]) == 6 + 2 + 4
    assert ledger.verify(bulk_conn).ok and registry.verify_rows(bulk_conn) == []


CSV_ASSIGNMENTS = """instrument,worker,start,end,position
EPD-1,E1,2026-05-28T08:00:00+08:00,2026-05-28T12:00:00+08:00,chest
EPD-1,E2,2026-05-28T11:00:00+08:00,2026-05-28T13:00:00+08:00,chest
EPD-1,E2,2026-05-28T12:00:00+08:00,,chest
EPD-1,E3,2026-05-29T08:00:00+08:00,2026-05-29T09:00:00+08:00,chest
TLD-1,E3,2026-05-01T00:00:00+08:00,2026-05-31T00:00:00+08:00,chest
TLD-1,E9,2026-06-01T00:00:00+08:00,,chest
NONE-1,E1,2026-06-01T00:00:00+08:00,,chest
TLD-1,E1,2026-04-01T00:00:00+08:00,2026-05-02T00:00:00+08:00,chest
TLD-1,E1,2026-04-01T00:00:00,2026-04-30T00:00:00+08:00,chest
"""


def test_the_import_refuses_the_rows_put_would_refuse_one_by_one(tmp_path: Path) -> None:
    site: SiteConfig = config(tmp_path)
    conn = store(Path(site.store.path))
    try:
        for w in (worker("E1"), worker("E2"), worker("E3")):
            registry.put_worker(conn, w, site=SITE, by="hr", now=NOW)
        registry.put_instrument(conn, registry.InstrumentIn(serial="EPD-1", type="EPD",
                                                            device="raddos-1"),
                                site=SITE, by="hr", now=NOW, devices=DEVICES)
        registry.put_instrument(conn, registry.InstrumentIn(serial="TLD-1", type="TLD"),
                                site=SITE, by="hr", now=NOW, devices=DEVICES)
        held = registry.put_assignment(conn, assignment("EPD-1", "E1", "28T08:00", "28T12:00"),
                                       site=SITE, by="hr", now=NOW)
        said: list[str] = []
        entered, refused = import_csv("assignments", conn, site, io.StringIO(CSV_ASSIGNMENTS),
                                      "hr", said.append)
        # line 2 overlaps the stored assignment; line 3 overlaps it too (11:00 < 12:00);
        # line 4 starts at the handover: accepted, open; line 5 overlaps line 4 (in the file);
        # line 6 TLD for E3: accepted; line 7 unknown worker; line 8 unknown instrument;
        # line 9 overlaps line 6 (May 1-2); line 10 a naive start
        assert (entered, refused) == (2, 7), said
        codes = [s.split(": ")[0:2] for s in said]
        assert codes == [["line 2", "assignment-overlap"], ["line 3", "assignment-overlap"],
                         ["line 5", "assignment-overlap"], ["line 7", "unknown-worker"],
                         ["line 8", "unknown-instrument"], ["line 9", "assignment-overlap"],
                         ["line 10", "invalid-assignment"]], said
        assert f"(assignment {held['id']})" in said[0]
        assert "'E2' (assignment in this file)" in said[2]
        now = registry.assignments(conn, instrument="EPD-1")
        assert [(a["worker"], a["end"]) for a in now] == [("E1", held["end"]), ("E2", None)]
        assert ledger.verify(conn).ok and registry.verify_rows(conn) == []

        # a failure that is not a refused row rolls the whole file back
        class Broken(io.StringIO):
            """A file that fails after its header and 10 rows were read."""

            lines = 0

            def __next__(self) -> str:
                self.lines += 1
                if self.lines > 11:
                    raise OSError("disk went away")
                return super().__next__()

        before = dump(conn)
        text = "employee,name,sex,birth_date,job\n" + "".join(
            f"F{i},某人,M,1980-01-01,焊工\n" for i in range(20))
        source = Broken(text)
        with pytest.raises(OSError):
            import_csv("workers", conn, site, source, "hr", said.append)
        assert source.lines == 12  # ten rows were taken before it failed
        assert dump(conn) == before and not conn.in_transaction
    finally:
        conn.close()
