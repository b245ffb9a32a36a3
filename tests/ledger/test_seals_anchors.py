"""Acceptance: a truncated tail is caught against an anchor exported earlier; a ledger rebuilt
with forged hashes fails its seals; ledgers without seals are reported, not refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.daily.store import RecordsStore
from occmon import ledger, signing
from tests.ledger.site import Site, keyed_doc, make_site, occmon, query, sql
from tests.records.support import DAY

D = DAY.isoformat()
EX = f"{D}.mill-dust.peak.100000"


def export_anchors(site: Site, out: Path) -> dict[str, Any]:
    done = occmon("records", "anchor", "export", str(site.path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def truncate_after(site: Site, seq: int) -> None:
    """Cut the ledger after ``seq`` and make the projections agree (a careful forger)."""
    sql(site.db, f"""
        DELETE FROM ledger WHERE seq > {seq};
        UPDATE day_closures SET signed_by = NULL, signed_at = NULL, signature_seq = NULL;
    """)


def test_anchor_export_is_signed_by_the_site_ledger_key(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    doc = export_anchors(site, tmp_path / "anchors.json")
    public = signing.load_public(site.keys / "ledger.pub.pem")
    assert doc["fingerprint"] == signing.fingerprint(public)
    head_seq, head_sha = query(site.db, "SELECT seq, entry_sha256 FROM ledger ORDER BY seq "
                                        "DESC LIMIT 1")[0]
    assert (doc["head"]["seq"], doc["head"]["sha256"]) == (head_seq, head_sha) == (
        8, doc["head"]["sha256"])
    # the day's anchor is its last sealed entry: the signature (seq 8)
    assert [(a["day"], a["seq"]) for a in doc["anchors"]] == [(D, 8)]
    assert all(signing.verify(a, public) for a in [doc["head"], *doc["anchors"]])
    assert site.verify("--anchor", str(tmp_path / "anchors.json")).returncode == 0


def test_a_truncated_tail_passes_alone_and_fails_against_an_anchor(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    anchors = tmp_path / "anchors.json"
    export_anchors(site, anchors)
    truncate_after(site, 7)  # the signature is gone, and the day looks unsigned
    alone = site.verify()
    assert alone.returncode == 0, alone.stdout  # a shorter chain is a valid chain
    done = site.verify("--anchor", str(anchors))
    assert done.returncode == 1, done.stdout
    assert f"anchor day {D}: truncated: anchor names entry 8" in done.stdout
    assert "but the ledger ends at entry 7: its tail was cut" in done.stdout
    assert "anchor head: truncated" in done.stdout


def test_a_deeper_cut_leaves_projection_rows_without_entries(tmp_path: Path) -> None:
    """Cutting to before the close without fixing the projections: each row is named."""
    site = make_site(tmp_path)
    sql(site.db, "DELETE FROM ledger WHERE seq > 4")
    done = site.verify()
    assert done.returncode == 1
    assert f"exceedances '{EX}': added: the ledger has no such row (the row names entry 5)" \
        in done.stdout
    assert f"day_closures '{D}': added: the ledger has no day-close" in done.stdout


def _rebuild(db: Path, edit: Any, reseal: Ed25519PrivateKey | None,
             keep_seals: bool) -> None:
    """Rewrite the whole ledger with ``edit`` applied to each body, hashes and links made
    again (the forger has the database, not the site's key), projections to match."""
    with RecordsStore(db) as store:
        old = list(ledger.entries(store.conn))
        with store.transaction() as conn:
            conn.execute("DELETE FROM ledger")
            for e in old:
                body = edit(e.body())
                seal = body.get(ledger.SEAL)
                e2 = ledger.append(conn, kind=e.kind, site=e.site, content=body, time=e.time,
                                   point=e.point, day=e.day, ref=e.ref,
                                   seal=reseal if seal is not None else None)
                if keep_seals and seal is not None and reseal is None:
                    text = ledger.canonical({**body, ledger.SEAL: seal})
                    c_sha = ledger.sha256_text(text)
                    e_sha = ledger.entry_hash(e2.seq, e2.kind, e2.ref, e2.site, e2.point,
                                              e2.day, e2.time, c_sha, e2.prev_sha256)
                    conn.execute("UPDATE ledger SET content=?, content_sha256=?, "
                                 "entry_sha256=? WHERE seq=?", (text, c_sha, e_sha, e2.seq))
                if e.kind == "exceedance":
                    conn.execute("UPDATE exceedances SET content=?, peak=?, ratio=? "
                                 "WHERE id=?", (e2.content, body["peak"], body["ratio"],
                                                body["id"]))
                if e.kind == "day-close":
                    row = conn.execute("SELECT entry_sha256 FROM ledger WHERE seq=?",
                                       (e2.seq,)).fetchone()
                    conn.execute("UPDATE day_closures SET close_sha256=? WHERE day=?",
                                 (row[0], e.day))


def _lower_peak(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "peak": 11.0, "ratio": 0.55} if body.get("id") == EX else body


def test_a_rebuilt_ledger_with_forged_hashes_fails_its_seals(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    anchors = tmp_path / "anchors.json"
    export_anchors(site, anchors)
    _rebuild(site.db, _lower_peak, None, keep_seals=True)
    with RecordsStore(site.db, readonly=True) as store:
        assert ledger.verify(store.conn).ok  # the chain itself holds: every hash was redone
        assert json.loads(store.conn.execute("SELECT content FROM exceedances").fetchone()[0]
                          )["peak"] == 11.0
    done = site.verify()
    assert done.returncode == 1, done.stdout
    bad = [line for line in done.stdout.splitlines() if "bad-signature" in line]
    assert len(bad) == 2, done.stdout  # the day-close (6) and the signature (8)
    assert "ledger entry 6: bad-signature: entry 6 (day-close 2026-05-12): the seal does " \
           "not verify" in done.stdout
    assert "ledger entry 8: bad-signature" in done.stdout
    against = site.verify("--anchor", str(anchors))
    assert "anchor-mismatch" in against.stdout and against.returncode == 1


def test_a_rebuild_resealed_with_a_new_key_fails_against_the_inspectors_copy(
    tmp_path: Path
) -> None:
    """The forger makes a new ledger key and puts it in place of the site's: the site's own
    config now trusts it, the inspector's copy of the public key and the anchors do not."""
    site = make_site(tmp_path)
    pinned = tmp_path / "inspector-ledger.pub.pem"
    shutil.copy(site.keys / "ledger.pub.pem", pinned)
    anchors = tmp_path / "anchors.json"
    export_anchors(site, anchors)
    forged = signing.generate()
    _rebuild(site.db, _lower_peak, forged, keep_seals=False)
    (site.keys / "ledger.pem").unlink()
    (site.keys / "ledger.pub.pem").unlink()
    signing.write_private(site.keys / "ledger.pem", forged)
    signing.write_public(site.keys / "ledger.pub.pem", forged.public_key())
    assert site.verify().returncode == 0  # consistent with the replaced key
    done = site.verify("--ledger-key", str(pinned))
    assert done.returncode == 1
    want = signing.fingerprint(signing.load_public(pinned))
    assert f"sealed by key {signing.fingerprint(forged.public_key())}, not the site's " \
           f"ledger key {want}" in done.stdout
    against = site.verify("--anchor", str(anchors))
    assert against.returncode == 1
    assert "the key was replaced since" in against.stdout
    assert "anchor-mismatch" in against.stdout


def test_a_rebuild_that_drops_the_seals_is_unsigned_and_fails_strict_or_anchored(
    tmp_path: Path
) -> None:
    site = make_site(tmp_path)
    anchors = tmp_path / "anchors.json"
    export_anchors(site, anchors)
    _rebuild(site.db, lambda b: {k: v for k, v in _lower_peak(b).items() if k != ledger.SEAL},
             None, keep_seals=False)
    plain = site.verify()
    assert plain.returncode == 0  # looks like a ledger from before site keys: warned
    assert plain.stdout.count("warning: ledger entry") == 2
    assert "unsigned" in plain.stdout
    assert site.verify("--require-signed").returncode == 1
    assert site.verify("--anchor", str(anchors)).returncode == 1


def test_a_ledger_without_a_site_key_is_unsigned_not_refused(tmp_path: Path) -> None:
    site = make_site(tmp_path, ledger_key=False)
    done = site.verify()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "seals not checked (no ledger verify key)" in done.stdout
    assert f"warning: ledger entry 6: unsigned: entry 6 (day-close {D}): no seal" in done.stdout
    assert "warning: ledger entry 8: unsigned" in done.stdout
    strict = site.verify("--require-signed")
    assert strict.returncode == 1 and "ledger entry 6: unsigned" in strict.stdout
    exported = occmon("records", "anchor", "export", str(site.path), "--out",
                      str(tmp_path / "a.json"))
    assert exported.returncode == 2 and "no ledger key" in exported.stderr


def test_a_signature_made_without_the_key_after_sealed_closes_is_an_error(
    tmp_path: Path
) -> None:
    site = make_site(tmp_path, sign=False)
    (site.keys / "ledger.pem").unlink()  # lost, or withheld by someone signing a forged day
    signed = occmon("records", "sign", str(site.path), "--date", D, "--name", "王安全")
    assert signed.returncode == 0, signed.stderr
    done = site.verify()
    assert done.returncode == 1
    assert "ledger entry 8: missing-signature: entry 8 (signature 2026-05-12) is not " \
           "sealed, but entry 6 and later closes are" in done.stdout


def test_a_bad_anchor_file_is_bad_input(tmp_path: Path) -> None:
    site = make_site(tmp_path, sign=False)
    junk = tmp_path / "junk.json"
    junk.write_text('{"what": "something else"}', encoding="utf-8")
    done = site.verify("--anchor", str(junk))
    assert done.returncode == 2 and "is not an occmon anchor file" in done.stderr
    missing = site.verify("--anchor", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot be read" in missing.stderr
    # an anchor edited by hand (a later seq claimed) no longer carries the site's signature
    doc = export_anchors(site, tmp_path / "a.json")
    doc["head"]["seq"] = 99
    (tmp_path / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    edited = site.verify("--anchor", str(tmp_path / "a.json"))
    assert edited.returncode == 1 and "anchor head: bad-signature" in edited.stdout


def test_keys_init_writes_the_ledger_pair_with_a_private_mode(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    import yaml

    config.write_text(yaml.safe_dump(keyed_doc(tmp_path), allow_unicode=True),
                      encoding="utf-8")
    done = occmon("keys", "init", str(config))
    assert done.returncode == 0, done.stderr
    private = tmp_path / "keys" / "ledger.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    fp = signing.fingerprint(signing.load_private(private).public_key())
    assert f"ledger verify key {tmp_path / 'keys' / 'ledger.pub.pem'}, fingerprint {fp}" \
        in done.stdout
    assert signing.fingerprint(signing.load_private(tmp_path / "keys" / "command.pem")
                               .public_key()) != fp  # a pair of its own
