"""A signed site for the ledger tests: keys made by ``occmon keys init``, a day closed and
signed through ``occmon records``, one rectification step; the store is a real SQLite file
and tampering goes through the real sqlite3 CLI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.daily.store import RecordsStore
from occmon.config.schema import SiteConfig
from tests.ledger.test_tamper import sqlite3_cli
from tests.records.support import DAY, dust_day, local, site_config, site_doc, write

ROOT = Path(__file__).resolve().parents[2]
NEXT = DAY + dt.timedelta(days=1)


def occmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "occmon.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def sql(db: Path, script: str) -> None:
    done = subprocess.run([sqlite3_cli(), str(db)], input=script, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and not done.stderr, done.stderr


def query(db: Path, text: str, *args: Any) -> list[tuple[Any, ...]]:
    with RecordsStore(db, readonly=True) as store:
        return list(store.conn.execute(text, args))


@dataclass(frozen=True)
class Site:
    root: Path
    config: SiteConfig
    path: Path  # the site file
    db: Path
    keys: Path

    def verify(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return occmon("records", "verify", str(self.path), *extra)


def keyed_doc(tmp_path: Path, ledger_key: bool = True) -> dict[str, Any]:
    doc = site_doc(tmp_path)
    keys = tmp_path / "keys"
    doc["security"] = {"signing_key": str(keys / "command.pem"),
                       "verify_key": str(keys / "command.pub.pem"),
                       "ledger_key": str(keys / "ledger.pem") if ledger_key else None,
                       "ledger_verify_key": str(keys / "ledger.pub.pem") if ledger_key
                       else None}
    return doc


def make_site(tmp_path: Path, *, ledger_key: bool = True, sign: bool = True,
              doc: dict[str, Any] | None = None) -> Site:
    """Keys (``occmon keys init``), a day of dust readings closed and signed through the
    CLI, and the exceedance actioned: 4 records, 1 exceedance, close, action, signature."""
    config = site_config(tmp_path, doc or keyed_doc(tmp_path, ledger_key))
    site = Site(tmp_path, config, tmp_path / "site.yaml", config.store.path, tmp_path / "keys")
    write(config, dust_day())
    made = occmon("keys", "init", str(site.path))
    assert made.returncode == 0, made.stderr
    closed = occmon("records", "close", str(site.path), "--date", DAY.isoformat())
    assert closed.returncode == 0, closed.stderr
    with RecordsStore(site.db) as store:
        (ex_id,) = [r[0] for r in store.conn.execute("SELECT id FROM exceedances")]
        store.step(ex_id, "action", {"who": "张班长", "what": "更换磨机密封"}, local(NEXT, 9))
    if sign:
        signed = occmon("records", "sign", str(site.path), "--date", DAY.isoformat(),
                        "--name", "王安全")
        assert signed.returncode == 0, signed.stderr
    return site
