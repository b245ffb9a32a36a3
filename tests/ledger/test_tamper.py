"""Tamper evidence: change one stored value with the real sqlite3 CLI; verify names the entry."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from occmon import ledger
from tests.records.support import DAY, dust_day, local, site_config, site_doc, write

NEXT = DAY + dt.timedelta(days=1)
ROOT = Path(__file__).resolve().parents[2]


def sqlite3_cli() -> str:
    found = shutil.which("sqlite3")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("sqlite3 CLI missing (apt-get install -y sqlite3)")
        pytest.skip("sqlite3 CLI missing: run scripts/ensure-servers (apt-get install sqlite3)")
    return found


def records_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "occmon.cli", "records", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    """Closed and signed without a ledger key (unsealed: verify warns), whatever keys the
    working directory holds; the sealed ledger is tests/ledger/test_seals_anchors.py's."""
    doc = site_doc(tmp_path)
    doc["security"] = {"ledger_key": None, "ledger_verify_key": None}
    config = site_config(tmp_path, doc)
    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(NEXT, 0, 30))
    with RecordsStore(config.store.path) as store:
        store.sign(DAY.isoformat(), "王安全", local(NEXT, 9))
    return tmp_path / "site.yaml", config.store.path


def _seq_of(path: Path, kind: str, point: str = "") -> int:
    with RecordsStore(path, readonly=True) as store:
        row = store.conn.execute(
            "SELECT seq FROM ledger WHERE kind = ? AND (? = '' OR point = ?) ORDER BY seq "
            "LIMIT 1", (kind, point, point)).fetchone()
    return int(row[0])


def test_an_untouched_signed_ledger_verifies(signed: tuple[Path, Path]) -> None:
    config, _db = signed
    done = records_cli("verify", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: 7 entries")  # 4 records, 1 exceedance, close, signature


def test_changing_one_value_with_sqlite3_names_that_entry(signed: tuple[Path, Path]) -> None:
    config, db = signed
    seq = _seq_of(db, "daily-record", "mill-dust")
    update = (f"UPDATE ledger SET content = replace(content, '\"c_twa\":1.5', '\"c_twa\":0.5') "
              f"WHERE seq = {seq}")
    subprocess.run([sqlite3_cli(), str(db), update], check=True, timeout=30)
    with RecordsStore(db, readonly=True) as store:
        assert '"c_twa":0.5' in store.conn.execute(
            "SELECT content FROM ledger WHERE seq = ?", (seq,)).fetchone()[0]
    done = records_cli("verify", str(config))
    assert done.returncode == 1
    assert f"BROKEN at entry {seq} (daily-record mill-dust/2026-05-12)" in done.stdout
    assert "content was changed" in done.stdout


def test_recomputing_the_hashes_still_breaks_the_next_link(signed: tuple[Path, Path]) -> None:
    """A forger who also rewrites content_sha256 and entry_sha256 breaks the link after it."""
    _config, db = signed
    seq = _seq_of(db, "exceedance")
    with RecordsStore(db) as store:
        e = ledger.get(store.conn, seq)
        assert e is not None
        forged = e.content.replace('"peak":25.0', '"peak":11.0')
        c_sha = ledger.sha256_text(forged)
        e_sha = ledger.entry_hash(e.seq, e.kind, e.ref, e.site, e.point, e.day, e.time, c_sha,
                                  e.prev_sha256)
        store.conn.execute("UPDATE ledger SET content=?, content_sha256=?, entry_sha256=? "
                           "WHERE seq=?", (forged, c_sha, e_sha, seq))
        result = store.verify()
    assert not result.ok and result.broken is not None
    assert result.broken.seq == seq + 1
    assert "prev_sha256" in result.broken.problem


def test_a_projection_edited_behind_the_ledger_is_caught(signed: tuple[Path, Path]) -> None:
    config, db = signed
    seq = _seq_of(db, "exceedance")
    subprocess.run([sqlite3_cli(), str(db),
                    "UPDATE exceedances SET content = replace(content, '25.0', '11.0')"],
                   check=True, timeout=30)
    done = records_cli("verify", str(config))
    assert done.returncode == 1
    assert f"entry {seq} (exceedance mill-dust/2026-05-12)" in done.stdout


def test_a_deleted_entry_is_named(signed: tuple[Path, Path]) -> None:
    config, db = signed
    subprocess.run([sqlite3_cli(), str(db), "DELETE FROM ledger WHERE seq = 3"], check=True,
                   timeout=30)
    done = records_cli("verify", str(config))
    assert done.returncode == 1 and "seq 3 is missing" in done.stdout


def test_canonical_json_is_sorted_and_compact() -> None:
    assert ledger.canonical({"b": 1, "a": [1.5, "硫化氢"]}) == '{"a":[1.5,"硫化氢"],"b":1}'
    with pytest.raises(ValueError):
        ledger.canonical({"x": float("nan")})
