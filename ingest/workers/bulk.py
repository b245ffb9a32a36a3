"""A CSV import's rows, each checked as ``registry.put_*`` checks it, written together.

``put_*`` is one transaction per row: a worker entered through the API is on disk when the
answer goes out. An HR list of 10,000 workers or a dosimetry service's 100,000 issue lines
that way cost one fsync each (minutes). Here the whole import is one transaction: each row
is checked on its own against the registries as they stand plus the rows accepted before it
(the same checks, codes and messages as ``put_*``), accepted rows wait in memory, and
``flush`` writes them with two ``executemany``: the rows with their ids and seqs, and their
``registry`` ledger entries, chained by ``ledger.append_many`` exactly as ``ledger.append``
chains them (same content, same hashes, so ``registry.verify_rows`` and the ledger walk see
no difference). A correction goes through ``put_*`` itself (a savepoint inside the import's
transaction) after a flush, so it always sees the rows before it.

The caller owns the transaction: on any error other than a refused row it rolls back, and
nothing of the file is entered.
"""

from __future__ import annotations

import bisect
import math
import sqlite3
from collections.abc import Sequence
from typing import Any

from ingest.workers import registry
from ingest.workers.registry import AssignmentIn, InstrumentIn, RegistryError, WorkerIn
from occmon import ledger


class Bulk:
    """Rows of the three registries, checked one by one, written by ``flush``."""

    def __init__(self, conn: sqlite3.Connection, *, site: str, by: str, now: float,
                 devices: Sequence[str] = ()) -> None:
        if not conn.in_transaction:
            raise RuntimeError("Bulk needs the caller's write transaction (BEGIN IMMEDIATE)")
        self.conn, self.site, self.by, self.now = conn, site, by, now
        self.devices = set(devices)
        self.pending: dict[str, list[dict[str, Any]]] = {
            "worker": [], "instrument": [], "assignment": []}
        self.workers = self._keys("worker_rows", "employee")
        self.instruments = self._keys("instrument_rows", "serial")
        self.worn: dict[str, tuple[list[float], list[float], list[tuple[int, str]]]] | None = None

    def _keys(self, table: str, key: str) -> set[str]:
        return {str(r[0]) for r in self.conn.execute(
            f"SELECT r.{key} FROM {table} r WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} c WHERE c.corrects = r.id)")}

    # ----- workers and instruments -----

    def worker(self, w: WorkerIn) -> None:
        """A new worker; for an existing one with a ``reason``, a new version of it (through
        ``put_worker``); without one, refused (``worker-exists``)."""
        if w.employee in self.workers and w.reason:
            self.flush()
            registry.put_worker(self.conn, w, site=self.site, by=self.by, now=self.now,
                                correct=True)
            return
        if w.employee in self.workers:
            raise RegistryError("worker-exists", f"worker {w.employee!r} exists: POST "
                                f"/api/v1/workers/{w.employee}/corrections to correct it")
        row = registry.worker_row(w, site=self.site, by=self.by, now=self.now, old=None)
        self.pending["worker"].append(row)
        self.workers.add(w.employee)

    def instrument(self, i: InstrumentIn) -> None:
        """Like ``worker``: new, a correction when it exists and has a ``reason``, else
        refused (``instrument-exists``)."""
        if i.device is not None and i.device not in self.devices:
            raise RegistryError("unknown-device", f"device {i.device!r} is not in the site "
                                f"file; one of {sorted(self.devices)}, or none for a "
                                "lab-read dosimeter", 422)
        if i.serial in self.instruments and i.reason:
            self.flush()
            registry.put_instrument(self.conn, i, site=self.site, by=self.by, now=self.now,
                                    devices=sorted(self.devices), correct=True)
            return
        if i.serial in self.instruments:
            raise RegistryError("instrument-exists", f"instrument {i.serial!r} exists: POST "
                                f"/api/v1/instruments/{i.serial}/corrections to correct it")
        self.pending["instrument"].append(registry.instrument_row(i, by=self.by, now=self.now,
                                                                  old=None))
        self.instruments.add(i.serial)

    # ----- assignments -----

    def _load_worn(self) -> dict[str, tuple[list[float], list[float], list[tuple[int, str]]]]:
        """Per instrument, its current assignments (disjoint, so sorted by start they are
        sorted by end too): starts, ends (an open one is +inf), (id, worker)."""
        worn: dict[str, tuple[list[float], list[float], list[tuple[int, str]]]] = {}
        for ident, inst, who, start, end in self.conn.execute(
                "SELECT r.id, r.instrument, r.worker, r.start, r.end FROM assignment_rows r "
                "WHERE r.void = 0 AND NOT EXISTS (SELECT 1 FROM assignment_rows c WHERE "
                "c.corrects = r.id) ORDER BY r.instrument, r.start, r.id"):
            starts, ends, info = worn.setdefault(str(inst), ([], [], []))
            starts.append(float(start))
            ends.append(math.inf if end is None else float(end))
            info.append((int(ident), str(who)))
        return worn

    def assignment(self, a: AssignmentIn, corrects: int | None = None) -> None:
        """A new assignment (the checks of ``put_assignment``, in its order), or the
        correction of assignment ``corrects`` through ``put_assignment`` itself."""
        if corrects is not None:
            self.flush()
            registry.put_assignment(self.conn, a, site=self.site, by=self.by, now=self.now,
                                    corrects=corrects)
            self.worn = None  # reloaded at the next new row
            return
        if a.void:
            raise RegistryError("void-new", "'void' is for a correction only", 422)
        if a.worker not in self.workers:
            raise RegistryError("unknown-worker", f"no worker {a.worker!r}", 422)
        if a.instrument not in self.instruments:
            raise RegistryError("unknown-instrument", f"no instrument {a.instrument!r}", 422)
        if self.worn is None:
            self.flush()  # rows written earlier in this import are in the table
            self.worn = self._load_worn()
        starts, ends, info = self.worn.setdefault(a.instrument, ([], [], []))
        start = a.start.timestamp()
        end = a.end.timestamp() if a.end else math.inf
        first = bisect.bisect_right(ends, start)  # the first one ending after this start
        if first < len(starts) and starts[first] < end:
            ident, who = info[first]
            shown = ident if ident else "in this file"
            raise RegistryError(
                "assignment-overlap", f"instrument {a.instrument!r} is assigned to {who!r} "
                f"(assignment {shown}) in that time")
        starts.insert(first, start)
        ends.insert(first, end)
        info.insert(first, (0, a.worker))  # its id is known at the flush
        self.pending["assignment"].append(registry.assignment_row(a, by=self.by, now=self.now,
                                                                  corrects=None))

    # ----- writing -----

    def _next_id(self, table: str) -> int:
        """The id AUTOINCREMENT would give next (never one used before, even if deleted)."""
        row = self.conn.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
            f"coalesce((SELECT max(id) FROM {table}), 0))", (table,)).fetchone()
        return int(row[0]) + 1

    def flush(self) -> int:
        """Write the accepted rows and their ledger entries; how many rows."""
        written = 0
        for name in ("worker", "instrument", "assignment"):
            rows = self.pending[name]
            if not rows:
                continue
            table = registry.TABLES[name][0]
            first = self._next_id(table)
            stored = [{**row, "id": first + k} for k, row in enumerate(rows)]
            entries = ledger.append_many(
                self.conn, kind="registry", site=self.site, time=self.now,
                items=[(registry.attest(name, row), None) for row in stored])
            cols = [*rows[0], "id", "seq"]
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                f"({', '.join('?' for _ in cols)})",
                [[*(row[c] for c in cols[:-1]), e.seq]
                 for row, e in zip(stored, entries, strict=True)])
            written += len(rows)
            rows.clear()
            if name == "assignment":
                self.worn = None  # ids are now known: reload before naming one
        return written
