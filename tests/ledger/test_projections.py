"""Acceptance: rows of every projection deleted, edited or inserted with the sqlite3 CLI are
each named by ``occmon records verify`` (a real subprocess): table, key, what differs."""

from __future__ import annotations

from pathlib import Path

from tests.ledger.site import Site, make_site, query, sql
from tests.records.support import DAY

D = DAY.isoformat()
EX = f"{D}.mill-dust.peak.100000"


def lines(done: object) -> list[str]:
    return str(getattr(done, "stdout", "")).splitlines()


def named(out: list[str], *parts: str) -> list[str]:
    return [line for line in out if all(p in line for p in parts)]


def test_an_untouched_signed_ledger_verifies_with_its_seals(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    done = site.verify()
    assert done.returncode == 0, done.stdout + done.stderr
    # 4 records, 1 exceedance, day-close, action, signature
    assert done.stdout.startswith("ok: 8 entries")
    assert "2 sealed closes/signatures" in done.stdout
    assert "warning" not in done.stdout


def test_each_projection_deleted_edited_and_inserted_is_named(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    (ex_row,) = query(site.db, "SELECT seq, content FROM exceedances")
    h2s_seq = query(site.db, "SELECT seq FROM daily_records WHERE key = ?",
                    f"pump-h2s|{D}|")[0][0]
    sql(site.db, f"""
        -- daily records: one deleted, one edited (a failed day made to pass), one inserted
        DELETE FROM daily_records WHERE key = 'pump-h2s|{D}|白班';
        UPDATE daily_records SET verdict = 'pass',
            content = replace(content, '"verdict_en":"fail"', '"verdict_en":"pass"')
            WHERE key = 'mill-dust|{D}|';
        INSERT INTO daily_records (key, kind, site, area, point, agent, day, shift, verdict,
            seq, content) SELECT 'pump-h2s|2026-05-13|', kind, site, area, point, agent,
            '2026-05-13', shift, verdict, seq, content FROM daily_records
            WHERE key = 'pump-h2s|{D}|';
        -- exceedances: the real one deleted; a copy filed under another id inserted
        DELETE FROM exceedances WHERE id = '{EX}';
        INSERT INTO exceedances (id, site, area, point, agent, type, day, start, end, peak,
            limit_value, ratio, status, seq, status_seq, content) VALUES ('{D}.x.twa.000000',
            'plant-a', 'mill', 'mill-dust', 'cement-dust', 'twa', '{D}', 0, 1, 1, 4, 0.25,
            'closed', {ex_row[0]}, NULL, '{{}}');
        -- day closures: the signature taken off the closed day; a closure for a day never
        -- closed inserted
        UPDATE day_closures SET signed_by = '李四' WHERE day = '{D}';
        INSERT INTO day_closures (day, site, closed_at, close_seq, close_sha256, records,
            exceedances) VALUES ('2026-05-13', 'plant-a', 0, 6, 'x', 0, 0);
    """)
    done = site.verify()
    assert done.returncode == 1, done.stdout + done.stderr
    out = lines(done)
    assert out[0].startswith("BROKEN: ")  # the chain holds: only projections differ
    assert named(out, "daily_records", f"pump-h2s|{D}|白班", "missing", "deleted")
    assert named(out, "daily_records", f"'mill-dust|{D}|'", "edited", "verdict is 'pass'",
                 "the ledger says 'fail'")
    assert named(out, "daily_records", f"'mill-dust|{D}|'", "edited", "content differs",
                 "verdict_en: row 'pass', ledger 'fail'")
    assert named(out, "daily_records", "'pump-h2s|2026-05-13|'", "added",
                 f"names entry {h2s_seq}")
    assert named(out, "exceedances", EX, "missing", "exceedance mill-dust")
    assert named(out, "exceedances", f"{D}.x.twa.000000", "added")
    assert named(out, "day_closures", D, "edited", "signed_by is '李四'",
                 "the ledger says '王安全'")
    assert named(out, "day_closures", "2026-05-13", "added")
    assert len([line for line in out if line.startswith("  ") and "warning" not in line]) \
        == 8, done.stdout


def test_rectification_status_and_refiling_are_named(tmp_path: Path) -> None:
    """An open exceedance marked closed (off the notice board) and re-filed to another day."""
    site = make_site(tmp_path)
    (action_seq,) = query(site.db, "SELECT seq FROM ledger WHERE kind = 'action'")[0]
    sql(site.db, f"UPDATE exceedances SET status = 'closed', status_seq = NULL, "
                 f"day = '2026-05-11' WHERE id = '{EX}'")
    done = site.verify()
    assert done.returncode == 1
    out = lines(done)
    assert named(out, "exceedances", EX, "status is 'closed'", "the ledger says 'actioned'")
    assert named(out, "exceedances", EX, "status_seq is null",
                 f"the ledger says {action_seq}")
    assert named(out, "exceedances", EX, "day is '2026-05-11'", f"the ledger says '{D}'")


def test_a_row_pointed_at_another_entry_is_named(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    sql(site.db, f"UPDATE daily_records SET seq = 3 WHERE key = 'mill-dust|{D}|'")
    out = lines(site.verify())
    assert named(out, "daily_records", f"'mill-dust|{D}|'", "seq is 3",
                 f"entry 1 (daily-record mill-dust/{D})")


def test_the_api_answers_the_same_findings(tmp_path: Path) -> None:
    """One verification: the CLI's JSON is what ``GET /api/v1/ledger/verify`` serves."""
    site: Site = make_site(tmp_path)
    sql(site.db, f"DELETE FROM exceedances WHERE id = '{EX}'")
    import json

    done = site.verify("--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["head_seq"] == 8
    assert [(e["table"], e["key"], e["problem"]) for e in report["errors"]] == [
        ("exceedances", repr(EX), "missing")]
