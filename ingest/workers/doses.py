"""The personal dose file (个人剂量档案) in the site store: lab period results, nominal doses
for lost dosimeters, investigation follow-ups and pregnancy declarations, each an append-only
row attested in the ledger like the registries (``registry._insert``). The file itself is
assembled when read (``dose_view``).

**A lab report is a unit.** An import checks every row first; if any row is bad, nothing is
entered and every bad row is named (CSV line, column, code). A half-entered report would make
a file that looks complete and is not, and the lab's next delivery would then overlap it.

Doses are stored **as reported** (``0.42``, ``ND``, ``<0.05``, with the lab's MDL): the
below-detection rule (the site's ``personal_dose.mdl_factor``) is applied when the file is
read, so the record never hides what the lab wrote.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ingest.workers import registry
from ingest.workers.registry import (
    DOSE_COLS,
    INVESTIGATION_COLS,
    PREGNANCY_COLS,
    RegistryError,
    _current_sql,
    _insert,
    _rows,
    _write,
)
from occmon.plausibility import Implausible, check_value
from thresholds import personal_dose as pd
from thresholds.dosefile import PeriodResult
from thresholds.lod import parse_result

LAB_COLUMNS = ("employee", "dosimeter", "start", "end", "hp10", "hp007", "hp3", "mdl_msv",
               "lab", "report", "corrects", "void", "reason")
REQUIRED = ("employee", "dosimeter", "start", "end")
QUANTITIES = ("hp10", "hp007", "hp3")
ORGAN = ("hp007", "hp3")  # a ring's or an eye dosimeter's: never the effective dose
MAX_ROWS = 100_000


@dataclass(frozen=True)
class RowError:
    line: int        # the CSV line (the header is line 1)
    code: str
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "column": self.column,
                "message": self.message}




class ImportRefused(ValueError):
    """The lab report was refused as a whole; ``errors`` names every bad row."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__(f"{len(errors)} error(s); nothing entered: "
                         + "; ".join(f"line {e.line}: {e.code}: {e.message}"
                                     for e in errors[:5]))
        self.errors = tuple(errors)


def entered_msv(text: str, mdl: float | None, factor: float) -> tuple[float, bool]:
    """A reported dose (mSv) as it enters the sums, and whether it was below detection.
    ``ValueError`` with the code as its first word when unusable."""
    try:
        rep = parse_result(text, mdl, factor)
    except ValueError as exc:
        if "detection" in str(exc):
            raise ValueError(f"no-mdl: {text!r} is below detection but the row has no "
                             "mdl_msv: give the lab's MDL or the figure as '<0.05'") from None
        raise ValueError(f"invalid-dose: {text!r} is not a dose in mSv, '<MDL', 'ND' or "
                         "'<0.05'") from None
    try:
        check_value("hp10", rep.value * 1000.0)  # the plausible range of a dose, in uSv
    except Implausible as exc:
        raise ValueError(f"implausible: {text!r} mSv: {exc}") from None
    return rep.value, rep.below_lod


# ----- reading the store -----

def current_results(conn: sqlite3.Connection, employee: str) -> list[dict[str, Any]]:
    """The worker's lab and nominal results nothing corrects or voids, by start."""
    return _rows(conn, _current_sql("dose_rows", DOSE_COLS) + " AND r.employee = ? AND "
                 "r.void = 0 ORDER BY r.start, r.id", (employee,), DOSE_COLS)


def result_history(conn: sqlite3.Connection, employee: str) -> list[dict[str, Any]]:
    return _rows(conn, f"SELECT {', '.join(DOSE_COLS)} FROM dose_rows WHERE employee = ? "
                 "ORDER BY id", (employee,), DOSE_COLS)


def investigations(conn: sqlite3.Connection, employee: str) -> list[dict[str, Any]]:
    return _rows(conn, f"SELECT {', '.join(INVESTIGATION_COLS)} FROM investigation_rows "
                 "WHERE employee = ? ORDER BY id", (employee,), INVESTIGATION_COLS)


def pregnancies(conn: sqlite3.Connection, employee: str) -> list[dict[str, Any]]:
    return _rows(conn, _current_sql("pregnancy_rows", PREGNANCY_COLS) + " AND r.employee = ? "
                 "ORDER BY r.declared, r.id", (employee,), PREGNANCY_COLS)


def organ_only(row: dict[str, Any]) -> bool:
    """A result without Hp(10): a ring (Hp(0.07)) or eye (Hp(3)) dosimeter's, worn beside
    the body dosimeter; it adds to the skin/extremity and lens doses only."""
    return not row["hp10"]


def clash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two results of the same days that cannot both be of record: two body results
    (Hp(10)), or two organ-only results reporting the same quantity (two rings). A body
    result and a ring or eye result of the same days are both kept."""
    if not organ_only(a) and not organ_only(b):
        return True
    return organ_only(a) and organ_only(b) and any(a[q] and b[q] for q in ORGAN)


def day_of(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def overlaps(a0: dt.date, a1: dt.date, b0: dt.date, b1: dt.date) -> bool:
    return a0 <= b1 and b0 <= a1


# ----- lab import -----

@dataclass
class _Parsed:
    line: int
    row: dict[str, Any]
    start: dt.date
    end: dt.date
    corrects: int | None
    void: bool


def _parse_row(line: int, raw: dict[str, str], conn: sqlite3.Connection, today: dt.date,
               factor: float, known: dict[str, bool], errors: list[RowError]
               ) -> _Parsed | None:
    cell = {k: (raw.get(k) or "").strip() for k in LAB_COLUMNS}
    before = len(errors)

    def bad(code: str, column: str | None, message: str) -> None:
        errors.append(RowError(line, code, column, message))

    for column in REQUIRED:
        if not cell[column]:
            bad("missing-value", column, f"'{column}' is required")
    if not any(cell[q] for q in QUANTITIES):
        bad("missing-value", "hp10", "a result needs a dose: 'hp10', or 'hp007' / 'hp3' "
            "alone for a ring or eye dosimeter (summed into the skin/extremity or lens dose "
            "only)")
    if len(errors) > before:
        return None
    employee = cell["employee"]
    if employee not in known:
        known[employee] = registry.worker(conn, employee) is not None
    if not known[employee]:
        bad("unknown-worker", "employee", f"no worker {employee!r}: enter the worker first")
    start = end = None
    for column in ("start", "end"):
        try:
            day = day_of(cell[column])
        except ValueError:
            bad("invalid-date", column, f"{cell[column]!r} is not a date (YYYY-MM-DD)")
            continue
        start, end = (day, end) if column == "start" else (start, day)
    if start is not None and end is not None:
        try:
            pd.check_period(start, end, today)
        except pd.PeriodRefused as exc:
            bad(exc.code, "end", str(exc))
    mdl: float | None = None
    if cell["mdl_msv"]:
        try:
            mdl = float(cell["mdl_msv"])
            if not 0 < mdl < 100:
                raise ValueError
        except ValueError:
            bad("invalid-mdl", "mdl_msv", f"{cell['mdl_msv']!r}: the lab's MDL in mSv, > 0")
    for q in QUANTITIES:
        if cell[q]:
            try:
                entered_msv(cell[q], mdl, factor)
            except ValueError as exc:
                code, _, message = str(exc).partition(": ")
                bad(code, q, message)
    corrects: int | None = None
    if cell["corrects"]:
        try:
            corrects = int(cell["corrects"])
        except ValueError:
            bad("invalid-corrects", "corrects", f"{cell['corrects']!r}: a result id")
        if not cell["reason"]:
            bad("reason-required", "reason", "a correction needs a 'reason'")
    void = cell["void"].casefold() in ("1", "true", "yes")
    if void and corrects is None:
        bad("void-new", "void", "'void' is for a correction only (with 'corrects')")
    if len(errors) > before or start is None or end is None:
        return None
    row = {"employee": employee, "dosimeter": cell["dosimeter"], "start": start.isoformat(),
           "end": end.isoformat(), "hp10": cell["hp10"], "hp007": cell["hp007"],
           "hp3": cell["hp3"], "mdl_msv": mdl, "lab": cell["lab"], "report": cell["report"],
           "source": "lab", "method": "", "void": int(void), "reason": cell["reason"],
           "corrects": corrects}
    return _Parsed(line, row, start, end, corrects, void)


def _check_together(parsed: list[_Parsed], conn: sqlite3.Connection,
                    errors: list[RowError]) -> None:
    """Corrections name current results of the same worker, once; no two results of a
    worker overlap (one dose of record per day), in the file or against the store."""
    by_worker: dict[str, list[_Parsed]] = {}
    for p in parsed:
        by_worker.setdefault(p.row["employee"], []).append(p)
    for employee, rows in by_worker.items():
        stored = {r["id"]: r for r in current_results(conn, employee)}
        replaced: dict[int, int] = {}
        for p in rows:
            if p.corrects is None:
                continue
            if p.corrects not in stored:
                errors.append(RowError(p.line, "unknown-result", "corrects",
                                       f"no current result {p.corrects} of {employee!r}"))
            elif p.corrects in replaced:
                errors.append(RowError(p.line, "corrected-twice", "corrects",
                                       f"result {p.corrects} is corrected on line "
                                       f"{replaced[p.corrects]} too"))
            else:
                replaced[p.corrects] = p.line
        kept = [(f"result {i}", day_of(r["start"]), day_of(r["end"]), r)
                for i, r in stored.items() if i not in replaced]
        new = [p for p in rows if not p.void]
        for i, p in enumerate(new):
            others = kept + [(f"line {q.line}", q.start, q.end, q.row) for q in new[:i]]
            for name, a, b, other in others:
                if overlaps(p.start, p.end, a, b) and clash(p.row, other):
                    errors.append(RowError(
                        p.line, "period-overlap", "start",
                        f"{employee} {p.start}..{p.end} overlaps {name} ({a}..{b}): one "
                        "result of record per day and dosimeter kind; correct the old one "
                        "('corrects') if this replaces it"))
                    break


def import_lab_csv(conn: sqlite3.Connection, text: str, *, site: str, by: str, now: float,
                   today: dt.date, factor: float) -> list[dict[str, Any]]:
    """Enter a lab report (CSV text) as a unit: every row, or none (``ImportRefused``)."""
    # newline="": a report saved with CR or CRLF line ends (Excel) is read as lines, as a file
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _import_lab_rows(conn, reader, site=site, by=by, now=now, today=today,
                                factor=factor)
    except csv.Error as exc:  # e.g. a bare CR inside a field: a 422 naming the line, not a 500
        raise ImportRefused([RowError(max(reader.line_num, 1), "malformed-csv", None,
                                      f"the report is not readable CSV: {exc}")]) from None


def _import_lab_rows(conn: sqlite3.Connection, reader: csv.DictReader[str], *, site: str,
                     by: str, now: float, today: dt.date, factor: float
                     ) -> list[dict[str, Any]]:
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c and c not in LAB_COLUMNS]
    errors: list[RowError] = []
    if missing or unknown:
        errors += [RowError(1, "missing-column", c, f"column {c!r} is required") for c in missing]
        errors += [RowError(1, "unknown-column", c, f"column {c!r} is not one of "
                            f"{', '.join(LAB_COLUMNS)}") for c in unknown]
        raise ImportRefused(errors)
    parsed: list[_Parsed] = []
    known: dict[str, bool] = {}
    for line, raw in enumerate(reader, start=2):
        if line > MAX_ROWS + 1:
            errors.append(RowError(line, "too-many-rows", None, f"at most {MAX_ROWS} rows"))
            break
        clean = {(k or "").strip(): v for k, v in raw.items() if isinstance(v, str)}
        if not any((v or "").strip() for v in clean.values()):
            continue
        got = _parse_row(line, clean, conn, today, factor, known, errors)
        if got is not None:
            parsed.append(got)
    if not parsed and not errors:
        errors.append(RowError(2, "no-rows", None, "the report holds no result"))
    out = []
    with _write(conn):  # checked against the store and entered in one write transaction:
        _check_together(parsed, conn, errors)  # two imports at once cannot both pass
        if errors:
            raise ImportRefused(sorted(errors, key=lambda e: e.line))
        for p in parsed:
            old = None
            if p.corrects is not None:
                old = conn.execute("SELECT seq FROM dose_rows WHERE id = ?",
                                   (p.corrects,)).fetchone()
            row = {**p.row, "entered": now, "entered_by": by}
            out.append(_insert(conn, "dose", row, site=site, now=now,
                               ref=int(old[0]) if old else None))
    return out


# ----- nominal dose, investigations, pregnancy -----

def put_nominal(conn: sqlite3.Connection, employee: str, *, dosimeter: str, start: dt.date,
                end: dt.date, method: str, hp10_msv: float | None, reason: str,
                history: Sequence[PeriodResult], site: str, by: str, now: float,
                today: dt.date) -> dict[str, Any]:
    """A lost dosimeter's nominal Hp(10) for [start, end] by ``method``
    (``thresholds.personal_dose.nominal_dose``; ``history``: the periods counted in the
    worker's file, ``dose_view.counted_periods``), entered with who and why."""
    w = registry.worker(conn, employee)
    if w is None:
        raise RegistryError("unknown-worker", f"no worker {employee!r}", 404)
    if not reason.strip():
        raise RegistryError("reason-required", "a nominal dose needs a 'reason' (what was "
                            "lost, when, and why this method)", 422)
    try:
        pd.check_period(start, end, today)
        figure = pd.nominal_dose(method, start, end, birth_date=day_of(w["birth_date"]),
                                 history=history, given_msv=hp10_msv)
    except pd.PeriodRefused as exc:
        raise RegistryError(exc.code, str(exc), 422) from None
    with _write(conn):
        for r in current_results(conn, employee):
            if not organ_only(r) and overlaps(start, end, day_of(r["start"]), day_of(r["end"])):
                raise RegistryError("period-overlap", f"{start}..{end} overlaps result "
                                    f"{r['id']} ({r['start']}..{r['end']}): a nominal dose "
                                    "is for a period with no result")
        row = {"employee": employee, "dosimeter": dosimeter, "start": start.isoformat(),
               "end": end.isoformat(), "hp10": str(round(figure, 6)), "hp007": "",
               "hp3": "", "mdl_msv": None, "lab": "", "report": "", "source": "nominal",
               "method": method, "void": 0, "entered": now, "entered_by": by,
               "reason": reason, "corrects": None}
        return _insert(conn, "dose", row, site=site, now=now, ref=None)


def put_investigation(conn: sqlite3.Connection, employee: str, period: str, findings: str, *,
                      site: str, by: str, now: float, known: Sequence[str]) -> dict[str, Any]:
    """An officer's findings on a period (``known``: the file's period keys); the
    investigation flag of that period is closed from then on. Each entry adds a follow-up."""
    if period not in known:
        raise RegistryError("unknown-period", f"no period {period!r} in {employee}'s file",
                            404)
    if not findings.strip():
        raise RegistryError("findings-required", "an investigation records its findings", 422)
    with _write(conn):
        row = {"employee": employee, "period": period, "findings": findings, "entered": now,
               "entered_by": by, "reason": "", "corrects": None}
        return _insert(conn, "investigation", row, site=site, now=now, ref=None)


def put_pregnancy(conn: sqlite3.Connection, employee: str, declared: dt.date,
                  ended: dt.date | None, *, reason: str, corrects: int | None, site: str,
                  by: str, now: float, today: dt.date) -> dict[str, Any]:
    """A declared pregnancy (from ``declared`` on), or the correction of a declaration
    (e.g. its end day)."""
    w = registry.worker(conn, employee)
    if w is None:
        raise RegistryError("unknown-worker", f"no worker {employee!r}", 404)
    if w["sex"] != "F":
        raise RegistryError("not-female", f"worker {employee!r} is registered as "
                            f"{w['sex']!r}: correct the worker first", 422)
    if declared > today:
        raise RegistryError("declared-in-future", f"declared {declared} is after today", 422)
    if declared <= day_of(w["birth_date"]):
        raise RegistryError("declared-before-birth", f"declared {declared} is not after the "
                            f"worker's birth date", 422)
    if ended is not None and ended < declared:
        raise RegistryError("ended-before-declared", "'ended' is before 'declared'", 422)
    with _write(conn):
        old = None
        if corrects is not None:
            old = next((p for p in pregnancies(conn, employee) if p["id"] == corrects), None)
            if old is None:
                raise RegistryError("unknown-declaration", f"no current declaration "
                                    f"{corrects} of {employee!r}", 404)
            if not reason:
                raise RegistryError("reason-required", "a correction needs a 'reason'", 422)
        row = {"employee": employee, "declared": declared.isoformat(),
               "ended": ended.isoformat() if ended else None, "entered": now,
               "entered_by": by, "reason": reason, "corrects": corrects}
        return _insert(conn, "pregnancy", row, site=site, now=now,
                       ref=old["seq"] if old else None)


