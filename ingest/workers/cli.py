"""``occmon workers|instruments|assignments import|export CONFIG [FILE]``: the registries as
CSV, for the HR list and the dosimetry service's issue sheets.

Import checks each row on its own: a bad row is reported with its line, field and error code
and counted; the other rows go in (exit 1 if any row was refused, 0 otherwise). A row for an
existing worker or instrument is a correction when it has a ``reason``, refused otherwise;
an assignment row with ``corrects`` (an assignment id) corrects that assignment.

``occmon workers import-doses CONFIG FILE`` enters a dosimetry lab's report
(``ingest.workers.doses``) as a unit: every row, or none, with every bad row named.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ingest.schema import connect
from ingest.workers import dose_alerts, doses, registry
from ingest.workers.bulk import Bulk
from ingest.workers.schema import migrate
from occmon.config import load
from occmon.config.schema import SiteConfig

REGISTRIES = ("workers", "instruments", "assignments")
EXPORT_COLUMNS = {
    "workers": ("employee", "name", "sex", "birth_date", "job", "category", "joined", "left",
                "national_id_on_file", "entered", "entered_by", "reason", "id", "seq"),
    "instruments": ("serial", "type", "device", "quantities", "calibrated", "calibration_due",
                    "entered", "entered_by", "reason", "id", "seq"),
    "assignments": ("id", "instrument", "worker", "start", "end", "position", "void",
                    "entered", "entered_by", "reason", "corrects", "seq"),
}


def _clean(row: dict[str, str | None]) -> dict[str, Any]:
    """Empty cells are absent fields; ``quantities`` is ``|``-separated."""
    out: dict[str, Any] = {k.strip(): v.strip() for k, v in row.items()
                           if k and v is not None and v.strip() != ""}
    if "quantities" in out:
        out["quantities"] = [q for q in out["quantities"].split("|") if q]
    return out


def _put(name: str, bulk: Bulk, row: dict[str, Any]) -> None:
    if name == "workers":
        bulk.worker(registry.WorkerIn.model_validate(row))
    elif name == "instruments":
        bulk.instrument(registry.InstrumentIn.model_validate(row))
    else:
        corrects = int(row.pop("corrects")) if "corrects" in row else None
        bulk.assignment(registry.AssignmentIn.model_validate(row), corrects)


def import_csv(name: str, conn: sqlite3.Connection, config: SiteConfig, source: TextIO,
               by: str, report: Callable[[str], None]) -> tuple[int, int]:
    """(rows entered, rows refused); each refusal reported as ``line N: code: message``.

    One write transaction for the file (``ingest.workers.bulk``): a refused row is left
    out, the others are entered together; anything else rolls the whole file back."""
    entered = refused = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        bulk = Bulk(conn, site=config.site.id, by=by, now=time.time(),
                    devices=[d.id for d in config.devices])
        for line, row in enumerate(csv.DictReader(source), start=2):
            try:
                _put(name, bulk, _clean(row))
                entered += 1
            except ValidationError as exc:
                refused += 1
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                report(f"line {line}: invalid-{name[:-1]}: {where}: {first['msg']}")
            except (registry.RegistryError, ValueError) as exc:
                refused += 1
                code = exc.code if isinstance(exc, registry.RegistryError) else "invalid-value"
                report(f"line {line}: {code}: {exc}")
        bulk.flush()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return entered, refused


def export_csv(name: str, conn: sqlite3.Connection, out: TextIO) -> int:
    rows: list[dict[str, Any]]
    if name == "workers":
        rows = [{**r, "left": r["left_on"], "national_id_on_file": r["id_hash"] is not None}
                for r in registry.workers(conn)]
    elif name == "instruments":
        rows = [{**r, "quantities": "|".join(r["quantities"])} for r in registry.instruments(conn)]
    else:
        rows = registry.assignments(conn, include_void=True)
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS[name], extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return len(rows)


def import_doses(argv: list[str]) -> int:
    """``occmon workers import-doses CONFIG FILE [--by NAME]``: exit 0 entered, 1 refused."""
    parser = argparse.ArgumentParser(prog="occmon workers import-doses")
    parser.add_argument("config", type=Path)
    parser.add_argument("file", type=Path, help="the lab's CSV: " + ",".join(doses.LAB_COLUMNS))
    parser.add_argument("--by", default="cli", help="who enters the report (kept on each row)")
    args = parser.parse_args(argv)
    config = load(args.config)
    text = args.file.read_text(encoding="utf-8-sig")
    conn = connect(Path(config.store.path))
    try:
        migrate(conn)
        today = dt.datetime.now(ZoneInfo(config.site.timezone)).date()
        rows = doses.import_lab_csv(conn, text, site=config.site.id, by=args.by,
                                    now=time.time(), today=today,
                                    factor=config.personal_dose.mdl_factor)
        # dose alerts: stored and queued here, pushed by ingest (ingest/workers/alert_push.py)
        raised = dose_alerts.evaluate_all(conn, config, sorted({r["employee"] for r in rows}),
                                          now=time.time(), today=today, trigger="lab-import",
                                          by=args.by)
    except doses.ImportRefused as exc:
        for e in exc.errors:
            print(f"line {e.line}: {e.code}: {e.column or '-'}: {e.message}", file=sys.stderr)
        print(f"{args.file.name}: {len(exc.errors)} error(s); nothing entered (a lab report "
              "is entered whole)", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"{len(rows)} dose results entered", file=sys.stderr)
    for employee, alerts in raised.items():
        for a in alerts:
            print(f"dose alert {a['id']}: {employee} {a['level']} {a['scope']} "
                  f"{a['quantity']} {a['first']}..{a['last']} threshold {a['threshold']}",
                  file=sys.stderr)
    return 0


def main(name: str, argv: list[str]) -> int:
    if name == "workers" and argv[:1] == ["import-doses"]:
        return import_doses(argv[1:])
    parser = argparse.ArgumentParser(prog=f"occmon {name}")
    parser.add_argument("action", choices=("import", "export"))
    parser.add_argument("config", type=Path)
    parser.add_argument("file", nargs="?", type=Path, help="CSV (import: required; export: "
                        "default stdout)")
    parser.add_argument("--by", default="cli", help="who enters the rows (kept on each row)")
    args = parser.parse_args(argv)
    config = load(args.config)
    conn = connect(Path(config.store.path))
    try:
        migrate(conn)
        if args.action == "export":
            if args.file is None:
                export_csv(name, conn, sys.stdout)
            else:
                with args.file.open("w", encoding="utf-8", newline="") as out:
                    n = export_csv(name, conn, out)
                print(f"{n} {name} written to {args.file}", file=sys.stderr)
            return 0
        if args.file is None:
            parser.error("import needs the CSV file")
        with args.file.open(encoding="utf-8-sig", newline="") as source:
            entered, refused = import_csv(name, conn, config, source, args.by,
                                          lambda m: print(m, file=sys.stderr))
        print(f"{entered} {name} entered, {refused} refused", file=sys.stderr)
        return 1 if refused else 0
    finally:
        conn.close()
