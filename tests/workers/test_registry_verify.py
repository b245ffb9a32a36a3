"""``occmon records verify`` and ``GET /api/v1/ledger/verify`` check the registries too: a
worker, instrument or assignment row edited, deleted or slipped in with the sqlite3 CLI
(outside occmon) is named, by table and row, beside the records' findings."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from tests.api.serve import serve
from tests.ledger.site import make_site, occmon, query, sql
from tests.records.support import INSPECTOR_KEY

pytestmark = pytest.mark.server

WORKERS = ("employee,name,sex,birth_date,job,category\n"
           "E1001,张三,F,1990-03-04,探伤工,A\nE1002,李四,M,1985-11-30,探伤工,B\n")
INSTRUMENTS = "serial,type,device,quantities\nEPD-7,EPD,gas-1,hp10\n"
ASSIGNMENTS = ("instrument,worker,start,end,position\n"
               "EPD-7,E1001,2026-05-28T08:00:00+08:00,2026-05-28T12:00:00+08:00,chest\n"
               "EPD-7,E1002,2026-05-28T12:00:00+08:00,,chest\n")


def test_a_tampered_registry_row_is_named_by_the_cli_and_the_api(tmp_path: Path) -> None:
    site = make_site(tmp_path, sign=False)
    for name, text in (("workers", WORKERS), ("instruments", INSTRUMENTS),
                       ("assignments", ASSIGNMENTS)):
        csv_file = tmp_path / f"{name}.csv"
        csv_file.write_text(text, encoding="utf-8")
        done = occmon(name, "import", str(site.path), str(csv_file))
        assert done.returncode == 0, done.stderr
    clean = site.verify("--json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["ok"] is True, clean.stdout

    (zhang,) = query(site.db, "SELECT id FROM worker_rows WHERE employee = 'E1001'")
    (second,) = query(site.db, "SELECT id FROM assignment_rows WHERE worker = 'E1002'")
    # the worker's name rewritten, B's assignment deleted, a forged instrument slipped in
    sql(site.db, f"UPDATE worker_rows SET name = '王五' WHERE id = {zhang[0]};"
                 f"DELETE FROM assignment_rows WHERE id = {second[0]};"
                 "INSERT INTO instrument_rows (serial, type, device, quantities, entered, "
                 "entered_by) VALUES ('EPD-X', 'EPD', 'gas-1', '[]', 0, 'nobody');")
    (forged,) = query(site.db, "SELECT id FROM instrument_rows WHERE serial = 'EPD-X'")

    done = site.verify("--json")
    assert done.returncode == 1, done.stdout
    found = {(e["table"], e["key"], e["problem"]) for e in json.loads(done.stdout)["errors"]}
    assert found == {("worker_rows", f"'row {zhang[0]}'", "edited"),
                     ("assignment_rows", f"'row {second[0]}'", "missing"),
                     ("instrument_rows", f"'row {forged[0]}'", "added")}, found
    text = site.verify()
    assert text.returncode == 1 and f"worker_rows 'row {zhang[0]}': edited" in text.stdout

    with serve(create_app(site.config, site.db)) as url:
        report = httpx.get(f"{url}/api/v1/ledger/verify", headers={"X-API-Key": INSPECTOR_KEY},
                           timeout=30).json()
    assert report["ok"] is False
    assert {(e["table"], e["key"], e["problem"]) for e in report["errors"]} == found
    # the findings name rows, never the personal data in them
    assert "王五" not in json.dumps(report, ensure_ascii=False)


def test_a_deleted_dose_alert_is_named_by_the_cli(tmp_path: Path) -> None:
    """A dose alert (docs/workers.md, "Dose alerts") is attested like a dose row: deleting
    one with the sqlite3 CLI, to hide that a worker neared a limit, is found."""
    site = make_site(tmp_path, sign=False)
    workers = tmp_path / "workers.csv"
    workers.write_text(WORKERS, encoding="utf-8")
    assert occmon("workers", "import", str(site.path), str(workers)).returncode == 0
    report = tmp_path / "lab.csv"
    # 2025 Q1 20 mSv: 20 of 50 reaches 0.3 (15); the run (2025 alone) 20 of 100: none (30);
    # the quarter above 1.25 (GBZ 128-2019): 2 alerts
    report.write_text("employee,dosimeter,start,end,hp10\nE1001,T1,2025-01-01,2025-03-31,20\n",
                      encoding="utf-8")
    done = occmon("workers", "import-doses", str(site.path), str(report))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("dose alert ") == 2, done.stderr
    clean = site.verify("--json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["ok"] is True, clean.stdout
    (year,) = query(site.db, "SELECT id FROM dose_alert_rows WHERE scope = 'year'")
    sql(site.db, f"DELETE FROM dose_alert_pushes WHERE alert = {year[0]};"
                 f"DELETE FROM dose_alert_rows WHERE id = {year[0]};")
    done = site.verify("--json")
    assert done.returncode == 1, done.stdout
    found = {(e["table"], e["key"], e["problem"]) for e in json.loads(done.stdout)["errors"]}
    assert found == {("dose_alert_rows", f"'row {year[0]}'", "missing")}, found
