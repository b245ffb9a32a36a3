"""Acceptance over real HTTP with an inspector's key: ``GET /api/v1/ledger/verify`` names
tampered projection rows as the CLI does; the anchors an inspector fetches catch a later
truncation; the notice board and the printed day report show the ledger's head."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from tests.api.serve import serve
from tests.ledger.site import Site, make_site, occmon, query, sql
from tests.records.support import DAY, INSPECTOR_KEY

D = DAY.isoformat()
EX = f"{D}.mill-dust.peak.100000"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


@pytest.fixture
def inspector(site: Site) -> Iterator[httpx.Client]:
    with serve(create_app(site.config, site.db)) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": INSPECTOR_KEY},
                         timeout=30) as client:
        yield client


def test_verify_over_http_names_tampered_rows(site: Site, inspector: httpx.Client) -> None:
    clean = inspector.get("/api/v1/ledger/verify")
    assert clean.status_code == 200
    body = clean.json()
    assert body["ok"] is True and body["entries"] == 8 and body["head_seq"] == 8
    assert body["sealed"] == 2 and body["errors"] == [] and body["warnings"] == []
    sql(site.db, f"""
        UPDATE exceedances SET status = 'closed' WHERE id = '{EX}';
        DELETE FROM daily_records WHERE key = 'mill-dust|{D}|白班';
    """)
    got = inspector.get("/api/v1/ledger/verify").json()
    assert got["ok"] is False and got["broken"] is None
    found = {(e["table"], e["key"], e["problem"]) for e in got["errors"]}
    assert found == {("exceedances", repr(EX), "edited"),
                     ("daily_records", repr(f"mill-dust|{D}|白班"), "missing")}
    status = next(e for e in got["errors"] if e["table"] == "exceedances")
    assert status["detail"] == "status is 'closed', the ledger says 'actioned'"
    # the CLI says the same, from the same function
    cli = json.loads(site.verify("--json").stdout)
    assert cli["errors"] == got["errors"]
    # the inspector's requests are in the access log
    logged = query(site.db, "SELECT path, decision FROM access_log WHERE key = 'inspector-1'")
    assert ("/api/v1/ledger/verify", "allowed") in logged


def test_anchors_fetched_by_an_inspector_catch_a_later_truncation(
    site: Site, inspector: httpx.Client, tmp_path: Path
) -> None:
    answer = inspector.get("/api/v1/ledger/anchors")
    assert answer.status_code == 200
    kept = tmp_path / "inspector-anchors.json"
    kept.write_text(answer.text, encoding="utf-8")
    assert answer.json()["head"]["seq"] == 8
    url = f"{inspector.base_url}/api/v1/ledger/anchors"
    live = occmon("records", "verify", str(site.path), "--anchor", url,
                  env={"OCCMON_API_KEY": INSPECTOR_KEY})
    assert live.returncode == 0, live.stdout + live.stderr
    assert "1 anchor file(s)" in live.stdout
    sql(site.db, "DELETE FROM ledger WHERE seq = 8; UPDATE day_closures SET signed_by = NULL, "
                 "signed_at = NULL, signature_seq = NULL;")
    assert inspector.get("/api/v1/ledger/verify").json()["ok"] is True  # alone: a valid chain
    done = site.verify("--anchor", str(kept))
    assert done.returncode == 1
    assert "anchor head: truncated: anchor names entry 8" in done.stdout
    refused = occmon("records", "verify", str(site.path), "--anchor", url,
                     env={"OCCMON_API_KEY": "not-a-key"})
    assert refused.returncode == 2 and "HTTP Error 401" in refused.stderr


def test_board_and_day_report_show_the_head(site: Site, inspector: httpx.Client) -> None:
    seq, sha = query(site.db, "SELECT seq, entry_sha256 FROM ledger ORDER BY seq DESC "
                              "LIMIT 1")[0]
    board = inspector.get("/board", params={"lang": "en"})
    assert board.status_code == 200
    assert f'<span id="ledger-head">ledger head seq {seq} {sha[:12]}</span>' in board.text
    assert f"账本头 seq {seq} {sha[:12]}" in inspector.get("/board").text
    report = inspector.get("/api/v1/daily-records/report", params={"day": D, "lang": "en"})
    assert report.status_code == 200
    assert f'<p id="ledger-head">Ledger head: seq {seq} {sha[:12]}</p>' in report.text
    pdf = inspector.get("/api/v1/daily-records/report",
                        params={"day": D, "format": "pdf", "lang": "en"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext missing (apt-get install poppler-utils): PDF text unchecked")
    text = subprocess.run([pdftotext, "-", "-"], input=pdf.content, capture_output=True,
                          timeout=30, check=True).stdout.decode("utf-8")
    assert f"Ledger head: seq {seq} {sha[:12]}" in text


def test_the_pushed_day_carries_the_ledger_head_at_signing(tmp_path: Path) -> None:
    from tests.ledger.site import keyed_doc

    doc = keyed_doc(tmp_path)
    doc["records"]["push"] = {"folder": str(tmp_path / "compliance")}
    site = make_site(tmp_path, doc=doc)
    pushed = json.loads((tmp_path / "compliance" / f"plant-a-{D}.json").read_text("utf-8"))
    seq, sha = query(site.db, "SELECT seq, entry_sha256 FROM ledger WHERE kind = 'signature'")[0]
    assert pushed["ledger_head"] == {"seq": seq, "sha256": sha} and seq == 8


def test_without_a_ledger_key_anchors_are_refused_and_verify_warns(tmp_path: Path) -> None:
    site = make_site(tmp_path, ledger_key=False)
    with serve(create_app(site.config, site.db)) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": INSPECTOR_KEY}) as client:
        refused = client.get("/api/v1/ledger/anchors")
        assert refused.status_code == 409 and refused.json()["detail"]["code"] == "no-ledger-key"
        report = client.get("/api/v1/ledger/verify").json()
        strict = client.get("/api/v1/ledger/verify", params={"require_signed": "true"}).json()
    assert report["ok"] is True and report["unsigned"] == 2
    assert [w["problem"] for w in report["warnings"]] == ["unsigned", "unsigned"]
    assert strict["ok"] is False and len(strict["errors"]) == 2
