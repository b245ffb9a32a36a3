"""The three registries: workers, the instruments they wear, and who wore which when.

Each write is one transaction: a new row, and a ``registry`` ledger entry that carries the
row's SHA-256, not its content. The ledger is readable by every staff key
(``/api/v1/ledger``); the personal data stays in the registry tables, which only officers,
inspectors and the worker concerned read, while the ledger still proves no row was changed.
A correction is a new row (``corrects``: the row it replaces) and a new entry whose ``ref`` is
the replaced row's entry: history is never rewritten.

National ID numbers are never stored: only HMAC-SHA256 under the site's salt (the
environment variable ``OCCMON_ID_SALT``), enough to check a presented ID, useless to read one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from occmon import ledger
from occmon.ledger import canonical, sha256_text

SALT_ENV = "OCCMON_ID_SALT"
Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Sex = Literal["M", "F"]
# GBZ 128 / GB 18871: 甲 (A, may exceed 6 mSv a year), 乙 (B); "none": not a radiation worker
Category = Literal["A", "B", "none"]
InstrumentType = Literal["TLD", "OSL", "EPD", "noise-dosimeter", "gas-detector"]
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # assignments are of working lives
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
Position = Literal["chest", "collar", "waist", "wrist", "ear", "breathing-zone", "other"]


class RegistryError(ValueError):
    """A write the registries refuse; ``code`` is the API's error code, ``status`` its HTTP."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code, self.status = code, status


class WorkerIn(BaseModel):
    """A worker as an officer enters one (API body, CSV row)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    employee: Key = Field(description="employee number, the worker's id in occmon")
    name: str = Field(min_length=1, max_length=100)
    sex: Sex
    birth_date: dt.date
    job: str = Field(min_length=1, max_length=100, description="工种, as on the point's job")
    category: Category = "none"
    joined: dt.date | None = None
    left: dt.date | None = None
    national_id: str | None = Field(default=None, description="write-only: stored as a "
                                    "salted hash (18 characters, last may be X)")
    reason: str = Field(default="", max_length=500, description="why (required to correct)")

    @field_validator("national_id")
    @classmethod
    def _id_form(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        text = value.upper()
        if len(text) != 18 or not text[:17].isdigit() or not (text[17].isdigit() or
                                                               text[17] == "X"):
            raise ValueError("national_id must be 18 characters: 17 digits and a digit or X")
        return text

    @model_validator(mode="after")
    def _dates(self) -> WorkerIn:
        if self.joined and self.left and self.left < self.joined:
            raise ValueError("'left' is before 'joined'")
        return self


class InstrumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    serial: Key
    type: InstrumentType
    device: str | None = Field(default=None, description="the site file's device whose "
                               "readings are this instrument's (none: read by a lab, e.g. TLD)")
    quantities: list[str] = Field(default_factory=list, description="e.g. hp10, laeq")
    calibrated: dt.date | None = None
    calibration_due: dt.date | None = None
    reason: str = Field(default="", max_length=500)


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    instrument: Key
    worker: Key
    start: dt.datetime = Field(description="ISO 8601 with an offset")
    end: dt.datetime | None = Field(default=None, description="open while still worn")
    position: Position = "chest"
    void: bool = Field(default=False, description="a correction that cancels the assignment")
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _span(self) -> AssignmentIn:
        for name, at in (("start", self.start), ("end", self.end)):
            if at is None:
                continue
            if at.tzinfo is None:
                raise ValueError(f"'{name}' needs a UTC offset, e.g. 2026-05-28T08:00:00+08:00")
            if not EARLIEST <= at <= LATEST:
                raise ValueError(f"'{name}' must lie in {EARLIEST.year}..{LATEST.year - 1}")
        if self.end is not None and self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self


def id_hash(site: str, national_id: str) -> str:
    salt = os.environ.get(SALT_ENV, "")
    if not salt:
        raise RegistryError("no-id-salt", f"national IDs are stored only salted: set "
                            f"{SALT_ENV} (a long random secret, one per site)", 409)
    return hmac.new(salt.encode(), f"{site}:{national_id}".encode(), hashlib.sha256).hexdigest()


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction; inside a caller's (a bulk import's), a savepoint, so a refused
    row leaves the rows before it in place."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT registry_row")
        try:
            yield conn
            conn.execute("RELEASE registry_row")
        except BaseException:
            conn.execute("ROLLBACK TO registry_row")
            conn.execute("RELEASE registry_row")
            raise
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


TABLES = {"worker": ("worker_rows", "employee"), "instrument": ("instrument_rows", "serial"),
          "assignment": ("assignment_rows", "id"),
          # the personal dose file (ingest.workers.doses); keyed by the worker
          "dose": ("dose_rows", "employee"), "investigation": ("investigation_rows", "employee"),
          "pregnancy": ("pregnancy_rows", "employee"),
          "dose-alert": ("dose_alert_rows", "employee")}
WORKER_COLS = ("id", "employee", "name", "sex", "birth_date", "job", "category", "joined",
               "left_on", "id_hash", "entered", "entered_by", "reason", "corrects", "seq")
INSTRUMENT_COLS = ("id", "serial", "type", "device", "quantities", "calibrated",
                   "calibration_due", "entered", "entered_by", "reason", "corrects", "seq")
ASSIGNMENT_COLS = ("id", "instrument", "worker", "start", "end", "position", "void", "entered",
                   "entered_by", "reason", "corrects", "seq")
DOSE_COLS = ("id", "employee", "dosimeter", "start", "end", "hp10", "hp007", "hp3", "mdl_msv",
             "lab", "report", "source", "method", "void", "entered", "entered_by", "reason",
             "corrects", "seq")
INVESTIGATION_COLS = ("id", "employee", "period", "findings", "entered", "entered_by",
                      "reason", "corrects", "seq")
PREGNANCY_COLS = ("id", "employee", "declared", "ended", "entered", "entered_by", "reason",
                  "corrects", "seq")
DOSE_ALERT_COLS = ("id", "key", "employee", "scope", "quantity", "first", "last", "threshold",
                   "level", "dose_msv", "limit_msv", "source", "period", "trigger", "entered",
                   "entered_by", "seq")


def _insert(conn: sqlite3.Connection, registry: str, row: dict[str, Any], *, site: str,
            now: float, ref: int | None) -> dict[str, Any]:
    """Insert ``row``, ledger its SHA-256, and store the entry's seq on the row."""
    table = TABLES[registry][0]
    cols = [c for c in row if c != "id"]
    cur = conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                       f"({', '.join('?' for _ in cols)})", [row[c] for c in cols])
    row = {**row, "id": int(cur.lastrowid or 0)}
    entry = ledger.append(conn, kind="registry", site=site, time=now, ref=ref,
                          content=attest(registry, row))
    conn.execute(f"UPDATE {table} SET seq = ? WHERE id = ?", (entry.seq, row["id"]))
    return {**row, "seq": entry.seq}


def attest(registry: str, row: dict[str, Any]) -> dict[str, Any]:
    """The ledger content for a stored ``row`` (with its id, without its seq): which row,
    and its SHA-256, never its personal data."""
    hashed = {k: v for k, v in row.items() if k != "seq"}
    return {"registry": registry, "key": str(row[TABLES[registry][1]]), "row": row["id"],
            "row_sha256": sha256_text(canonical(hashed))}


def _current_sql(table: str, cols: Sequence[str]) -> str:
    return (f"SELECT {', '.join('r.' + c for c in cols)} FROM {table} r WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} c WHERE c.corrects = r.id)")


def _rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any],
          cols: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(zip(cols, r, strict=True)) for r in conn.execute(sql, args).fetchall()]


# ----- workers -----

def worker(conn: sqlite3.Connection, employee: str) -> dict[str, Any] | None:
    found = _rows(conn, _current_sql("worker_rows", WORKER_COLS) + " AND r.employee = ?",
                  (employee,), WORKER_COLS)
    return found[0] if found else None


def workers(conn: sqlite3.Connection, *, job: str | None = None, category: str | None = None,
            active_on: dt.date | None = None) -> list[dict[str, Any]]:
    sql, args = _current_sql("worker_rows", WORKER_COLS), list[Any]()
    for clause, value in (("r.job = ?", job), ("r.category = ?", category)):
        if value is not None:
            sql, args = f"{sql} AND {clause}", [*args, value]
    if active_on is not None:
        day = active_on.isoformat()
        sql += " AND (r.joined IS NULL OR r.joined <= ?) AND (r.left_on IS NULL OR r.left_on >= ?)"
        args += [day, day]
    return _rows(conn, sql + " ORDER BY r.employee", args, WORKER_COLS)


def put_worker(conn: sqlite3.Connection, w: WorkerIn, *, site: str, by: str, now: float,
               correct: bool = False) -> dict[str, Any]:
    """A new worker, or (``correct``) a new version of one; 409 on the other case."""
    with _write(conn):
        old = worker(conn, w.employee)
        if old is not None and not correct:
            raise RegistryError("worker-exists", f"worker {w.employee!r} exists: POST "
                                f"/api/v1/workers/{w.employee}/corrections to correct it")
        if old is None and correct:
            raise RegistryError("unknown-worker", f"no worker {w.employee!r}", 404)
        if correct and not w.reason:
            raise RegistryError("reason-required", "a correction needs a 'reason'", 422)
        return _insert(conn, "worker", worker_row(w, site=site, by=by, now=now, old=old),
                       site=site, now=now, ref=old["seq"] if old else None)


def worker_row(w: WorkerIn, *, site: str, by: str, now: float,
               old: dict[str, Any] | None) -> dict[str, Any]:
    """The stored row of ``w`` (``old``: the row it corrects), before its id and seq."""
    hashed = id_hash(site, w.national_id) if w.national_id else (
        old["id_hash"] if old else None)
    return {"employee": w.employee, "name": w.name, "sex": w.sex,
            "birth_date": w.birth_date.isoformat(), "job": w.job, "category": w.category,
            "joined": w.joined.isoformat() if w.joined else None,
            "left_on": w.left.isoformat() if w.left else None, "id_hash": hashed,
            "entered": now, "entered_by": by, "reason": w.reason,
            "corrects": old["id"] if old else None}


def worker_history(conn: sqlite3.Connection, employee: str) -> list[dict[str, Any]]:
    return _rows(conn, f"SELECT {', '.join(WORKER_COLS)} FROM worker_rows WHERE employee = ? "
                 "ORDER BY id", (employee,), WORKER_COLS)


# ----- instruments -----

def _instrument(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "quantities": json.loads(row["quantities"])}


def instrument(conn: sqlite3.Connection, serial: str) -> dict[str, Any] | None:
    found = _rows(conn, _current_sql("instrument_rows", INSTRUMENT_COLS) + " AND r.serial = ?",
                  (serial,), INSTRUMENT_COLS)
    return _instrument(found[0]) if found else None


def instruments(conn: sqlite3.Connection, *, type: str | None = None,
                device: str | None = None) -> list[dict[str, Any]]:
    sql, args = _current_sql("instrument_rows", INSTRUMENT_COLS), list[Any]()
    for clause, value in (("r.type = ?", type), ("r.device = ?", device)):
        if value is not None:
            sql, args = f"{sql} AND {clause}", [*args, value]
    return [_instrument(r) for r in _rows(conn, sql + " ORDER BY r.serial", args,
                                          INSTRUMENT_COLS)]


def put_instrument(conn: sqlite3.Connection, i: InstrumentIn, *, site: str, by: str, now: float,
                   devices: Sequence[str], correct: bool = False) -> dict[str, Any]:
    """``devices``: the site file's device ids; a worn instrument must name one of them."""
    if i.device is not None and i.device not in devices:
        raise RegistryError("unknown-device", f"device {i.device!r} is not in the site file; "
                            f"one of {sorted(devices)}, or none for a lab-read dosimeter", 422)
    with _write(conn):
        old = instrument(conn, i.serial)
        if old is not None and not correct:
            raise RegistryError("instrument-exists", f"instrument {i.serial!r} exists: POST "
                                f"/api/v1/instruments/{i.serial}/corrections to correct it")
        if old is None and correct:
            raise RegistryError("unknown-instrument", f"no instrument {i.serial!r}", 404)
        if correct and not i.reason:
            raise RegistryError("reason-required", "a correction needs a 'reason'", 422)
        return _instrument(_insert(conn, "instrument",
                                   instrument_row(i, by=by, now=now, old=old), site=site,
                                   now=now, ref=old["seq"] if old else None))


def instrument_row(i: InstrumentIn, *, by: str, now: float,
                   old: dict[str, Any] | None) -> dict[str, Any]:
    return {"serial": i.serial, "type": i.type, "device": i.device,
            "quantities": json.dumps(sorted(set(i.quantities))),
            "calibrated": i.calibrated.isoformat() if i.calibrated else None,
            "calibration_due": i.calibration_due.isoformat() if i.calibration_due else None,
            "entered": now, "entered_by": by, "reason": i.reason,
            "corrects": old["id"] if old else None}


# ----- assignments -----

def assignments(conn: sqlite3.Connection, *, worker: str | None = None,
                instrument: str | None = None, start: float | None = None,
                end: float | None = None, include_void: bool = False) -> list[dict[str, Any]]:
    """Current assignments, by start; ``start``/``end``: only those overlapping [start, end)."""
    sql, args = _current_sql("assignment_rows", ASSIGNMENT_COLS), list[Any]()
    for clause, value in (("r.worker = ?", worker), ("r.instrument = ?", instrument),
                          ("(r.end IS NULL OR r.end > ?)", start), ("r.start < ?", end)):
        if value is not None:
            sql, args = f"{sql} AND {clause}", [*args, value]
    if not include_void:
        sql += " AND r.void = 0"
    return _rows(conn, sql + " ORDER BY r.start, r.id", args, ASSIGNMENT_COLS)


def assignment(conn: sqlite3.Connection, ident: int) -> dict[str, Any] | None:
    found = _rows(conn, _current_sql("assignment_rows", ASSIGNMENT_COLS) + " AND r.id = ?",
                  (ident,), ASSIGNMENT_COLS)
    return found[0] if found else None


def put_assignment(conn: sqlite3.Connection, a: AssignmentIn, *, site: str, by: str,
                   now: float, corrects: int | None = None) -> dict[str, Any]:
    """A new assignment, or the correction of assignment ``corrects``. An instrument is on
    one worker at a time: an overlap with another current assignment is refused (409)."""
    start, end = a.start.timestamp(), a.end.timestamp() if a.end else None
    with _write(conn):
        old = None
        if corrects is not None:
            old = assignment(conn, corrects)
            if old is None:
                raise RegistryError("unknown-assignment", f"no current assignment {corrects} "
                                    "(a corrected one is corrected by its latest row)", 404)
            if not a.reason:
                raise RegistryError("reason-required", "a correction needs a 'reason'", 422)
        elif a.void:
            raise RegistryError("void-new", "'void' is for a correction only", 422)
        if worker(conn, a.worker) is None:
            raise RegistryError("unknown-worker", f"no worker {a.worker!r}", 422)
        if instrument(conn, a.instrument) is None:
            raise RegistryError("unknown-instrument", f"no instrument {a.instrument!r}", 422)
        if not a.void:
            for other in assignments(conn, instrument=a.instrument, start=start, end=end):
                if old is None or other["id"] != old["id"]:
                    raise RegistryError(
                        "assignment-overlap", f"instrument {a.instrument!r} is assigned to "
                        f"{other['worker']!r} (assignment {other['id']}) in that time")
        return _insert(conn, "assignment", assignment_row(a, by=by, now=now, corrects=corrects),
                       site=site, now=now, ref=old["seq"] if old else None)


def assignment_row(a: AssignmentIn, *, by: str, now: float,
                   corrects: int | None) -> dict[str, Any]:
    return {"instrument": a.instrument, "worker": a.worker, "start": a.start.timestamp(),
            "end": a.end.timestamp() if a.end else None, "position": a.position,
            "void": int(a.void), "entered": now, "entered_by": by, "reason": a.reason,
            "corrects": corrects}


Attested = dict[tuple[str, int], tuple[int, str]]  # (registry, row id) -> (seq, row digest)


def attestation(body: dict[str, Any], seq: int) -> tuple[tuple[str, int], tuple[int, str]]:
    """What a ``registry`` ledger entry attests: (registry, row id) -> (its seq, digest)."""
    row = body.get("row", 0)
    return (str(body.get("registry")), int(row) if isinstance(row, int) else 0), (
        seq, str(body.get("row_sha256")))


def tables_exist(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
                         "'worker_rows'").fetchone()
    return bool(found[0])


def check_rows(conn: sqlite3.Connection, attested: Attested) -> list[tuple[str, str, str, str]]:
    """Each registry row against what the ledger attests: (table, row id, problem, detail)
    with problem ``edited`` (digest or seq differs), ``added`` (no entry attests it) or
    ``missing`` (attested, but the row is gone). ``attested`` is consumed."""
    problems: list[tuple[str, str, str, str]] = []
    for name, cols in (("worker", WORKER_COLS), ("instrument", INSTRUMENT_COLS),
                       ("assignment", ASSIGNMENT_COLS), ("dose", DOSE_COLS),
                       ("investigation", INVESTIGATION_COLS), ("pregnancy", PREGNANCY_COLS),
                       ("dose-alert", DOSE_ALERT_COLS)):
        table = TABLES[name][0]
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (table,)).fetchone():
            continue  # a table a later migration adds; an attested row of it is 'missing'
        for values in conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id"):
            row = dict(zip(cols, values, strict=True))
            seq, digest = attested.pop((name, int(row["id"])), (0, ""))
            hashed = sha256_text(canonical({k: v for k, v in row.items() if k != "seq"}))
            if not seq:
                problems.append((table, str(row["id"]), "added", "no ledger entry attests it"))
            elif seq != row["seq"] or digest != hashed:
                problems.append((table, str(row["id"]), "edited",
                                 f"does not match ledger entry {seq}"))
    problems += [(TABLES[name][0], str(ident), "missing",
                  f"attested by ledger entry {seq}, but missing")
                 for (name, ident), (seq, _d) in attested.items()]
    return problems


def verify_rows(conn: sqlite3.Connection) -> list[str]:
    """Each registry row against its ledger entry (run after ``ledger.verify`` has checked
    the chain): a row edited, deleted or slipped in outside ``put_*`` is named.
    (``occmon records verify`` and ``GET /api/v1/ledger/verify`` run ``check_rows`` in their
    one pass over the ledger.)"""
    attested: Attested = {}
    for e in ledger.entries(conn):  # the chain itself is ledger.verify's
        if e.kind == "registry":
            where, what = attestation(e.body(), e.seq)
            attested[where] = what
    return [f"{table} row {ident}: {detail}"
            for table, ident, _problem, detail in check_rows(conn, attested)]
