"""The registries on a real SQLite store: corrections keep history, the ledger attests every
row without holding personal data, national IDs are only salted hashes, the CSV import
refuses bad rows one by one; noise and dose go to whoever wore the instrument."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.schema import connect
from ingest.schema import migrate as migrate_store
from ingest.store import SqliteStore
from ingest.workers import attribution, registry
from ingest.workers.schema import VERSION, migrate
from occmon import ledger
from occmon.cli import main as occmon
from occmon.config.auth import ApiKey
from occmon.config.schema import SiteConfig
from occmon.ledger import canonical, sha256_text
from occmon.model import Quality, Reading
from tests.workers.site import TZ, A, B, at, config, hp10

SITE = "demo-plant"
ID = "11010519491231002X"


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return config(tmp_path)


@pytest.fixture
def conn(site: SiteConfig) -> Iterator[sqlite3.Connection]:
    c = connect(Path(site.store.path))
    migrate_store(c)
    assert migrate(c) == 0 and migrate(c) == VERSION  # created, then found current
    try:
        yield c
    finally:
        c.close()


def worker_in(employee: str = A, **kw: object) -> registry.WorkerIn:
    return registry.WorkerIn.model_validate({
        "employee": employee, "name": "张三", "sex": "F", "birth_date": "1990-03-04",
        "job": "探伤工", "category": "A", **kw})


def test_a_correction_is_a_new_row_and_entry_and_the_ledger_holds_no_personal_data(
    conn: sqlite3.Connection,
) -> None:
    first = registry.put_worker(conn, worker_in(), site=SITE, by="officer", now=1.0)
    with pytest.raises(registry.RegistryError) as again:
        registry.put_worker(conn, worker_in(), site=SITE, by="officer", now=2.0)
    assert again.value.code == "worker-exists"
    with pytest.raises(registry.RegistryError) as bare:
        registry.put_worker(conn, worker_in(job="焊工"), site=SITE, by="o", now=2.0,
                            correct=True)
    assert bare.value.code == "reason-required"
    second = registry.put_worker(conn, worker_in(job="焊工", reason="transferred 2026-05"),
                                 site=SITE, by="officer", now=3.0, correct=True)
    current = registry.worker(conn, A)
    assert current is not None and current["job"] == "焊工" and current["corrects"] == first["id"]
    assert [r["job"] for r in registry.worker_history(conn, A)] == ["探伤工", "焊工"]

    entries = list(ledger.entries(conn))
    assert [e.kind for e in entries] == ["registry", "registry"]
    assert entries[1].ref == first["seq"] and entries[1].seq == second["seq"]
    row = {k: v for k, v in registry.worker_history(conn, A)[0].items() if k != "seq"}
    assert entries[0].body()["row_sha256"] == sha256_text(canonical(row))
    assert all("张三" not in e.content and "1990" not in e.content for e in entries)
    assert ledger.verify(conn).ok and registry.verify_rows(conn) == []
    # an edit of the stored row no longer matches its ledgered digest; a deletion is missed
    conn.execute("UPDATE worker_rows SET name = '王五' WHERE id = ?", (first["id"],))
    edited = {k: v for k, v in registry.worker_history(conn, A)[0].items() if k != "seq"}
    assert sha256_text(canonical(edited)) != entries[0].body()["row_sha256"]
    conn.execute("DELETE FROM worker_rows WHERE id = ?", (second["id"],))
    assert registry.verify_rows(conn) == [
        f"worker_rows row {first['id']}: does not match ledger entry {first['seq']}",
        f"worker_rows row {second['id']}: attested by ledger entry {second['seq']}, but missing"]


def test_a_national_id_is_stored_only_as_a_salted_hash(
    conn: sqlite3.Connection, site: SiteConfig, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(registry.SALT_ENV, raising=False)
    with pytest.raises(registry.RegistryError) as unsalted:
        registry.put_worker(conn, worker_in(national_id=ID), site=SITE, by="o", now=1.0)
    assert unsalted.value.code == "no-id-salt" and registry.worker(conn, A) is None
    monkeypatch.setenv(registry.SALT_ENV, "site-secret-salt")
    row = registry.put_worker(conn, worker_in(national_id=ID.lower()), site=SITE, by="o",
                              now=1.0)
    want = hmac.new(b"site-secret-salt", f"{SITE}:{ID}".encode(), hashlib.sha256).hexdigest()
    assert row["id_hash"] == want
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert ID.encode() not in Path(site.store.path).read_bytes()
    with pytest.raises(ValueError, match="18 characters"):
        worker_in(national_id="12345")


def test_an_instrument_names_a_device_of_the_site_file(conn: sqlite3.Connection) -> None:
    with pytest.raises(registry.RegistryError) as unknown:
        registry.put_instrument(conn, registry.InstrumentIn(serial="X1", type="EPD",
                                                            device="no-such-device"),
                                site=SITE, by="o", now=1.0, devices=["raddos-1"])
    assert unknown.value.code == "unknown-device"


def _enter(conn: sqlite3.Connection, serial: str, device: str, *spans: tuple[str, float,
                                                                             float]) -> None:
    for employee in {s[0] for s in spans}:
        if registry.worker(conn, employee) is None:
            registry.put_worker(conn, worker_in(employee), site=SITE, by="o", now=1.0)
    registry.put_instrument(conn, registry.InstrumentIn(serial=serial, type="EPD",
                                                        device=device),
                            site=SITE, by="o", now=1.0, devices=[device])
    for employee, start, end in spans:
        registry.put_assignment(conn, registry.AssignmentIn(
            instrument=serial, worker=employee,
            start=dt.datetime.fromtimestamp(start, TZ), end=dt.datetime.fromtimestamp(end, TZ)),
            site=SITE, by="o", now=1.0)


def test_noise_lex_8h_per_worker_from_their_own_intervals(
    conn: sqlite3.Connection, site: SiteConfig,
) -> None:
    # one noise dosimeter, a reading a minute: 91 dB(A) 08:00-10:00 on A, 85 dB(A)
    # 10:00-12:00 on B. Each held 2 h: LEX,8h = L + 10 lg(2 h / 8 h) = L - 6.0206:
    # A 91 - 6.0206 = 84.9794, B 85 - 6.0206 = 78.9794 (GBZ 2.2-2007 cl. 11)
    store = SqliteStore(Path(site.store.path))
    t0 = at(8).timestamp()
    store.write_readings([Reading(point="mill-worker-noise", agent="noise", time=t0 + 60 * k,
                                  value=91.0 if k < 120 else 85.0, unit="dB(A)",
                                  quality=Quality.GOOD, quantity="laeq", sensor="nd1-laeq",
                                  device="noisedos-1") for k in range(240)])
    store.close()
    _enter(conn, "ASV-2207", "noisedos-1", (A, t0, at(10).timestamp()),
           (B, at(10).timestamp(), at(12).timestamp()))
    assert registry.verify_rows(conn) == []  # workers, instrument, assignments: all attested
    lo, hi = at(0).timestamp(), at(0).timestamp() + 86_400
    for employee, want in ((A, 91 + 10 * math.log10(0.25)), (B, 85 + 10 * math.log10(0.25))):
        personal = attribution.personal_readings(conn, site, employee, lo, hi)
        (day,) = [d.as_dict() for d in attribution.daily_exposure(personal, TZ)]
        assert day["noise_lex_8h"] == pytest.approx(want, abs=0.01)
        assert day["noise_worn_hours"] == pytest.approx(2.0)


def test_a_dose_across_midnight_splits_by_day_and_adds_up(
    conn: sqlite3.Connection, site: SiteConfig,
) -> None:
    # worn 22:00 -> 02:00 next day; running total 10 (22:00), 12 (23:00), 15 (00:30),
    # 16 (01:30). Day 1: 12 - 10 = 2; day 2 opens from its last reading before midnight
    # (23:00): (15 - 12) + (16 - 15) = 4; the piece: 16 - 10 = 6 = 2 + 4
    store = SqliteStore(Path(site.store.path))
    store.write_readings([hp10(22, 10.0), hp10(23, 12.0),
                          _next_day(hp10(0, 15.0, minute=30)), _next_day(hp10(1, 16.0, 30))])
    store.close()
    _enter(conn, "EPD-55120", "raddos-1", (A, at(22).timestamp(), at(22).timestamp() + 4 * 3600))
    lo = at(0).timestamp()
    personal = attribution.personal_readings(conn, site, A, lo, lo + 2 * 86_400)
    days = [d.as_dict() for d in attribution.daily_exposure(personal, TZ)]
    assert [d["dose_usv"] for d in days] == [pytest.approx(2.0), pytest.approx(4.0)]
    (piece,) = attribution.piece_doses(personal).values()
    assert piece == pytest.approx(6.0)
    assert len(personal.unassigned) == 2  # before 22:00 on day 1, after 02:00 on day 2


def _next_day(r: Reading) -> Reading:
    return replace(r, time=r.time + 86_400)


def test_csv_import_refuses_bad_rows_one_by_one_and_export_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    demo = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"
    store = tmp_path / "store.db"
    cfg = tmp_path / "site.yaml"
    cfg.write_text(demo.read_text(encoding="utf-8").replace(
        "store: {path: var/occmon.db}", f"store: {{path: {store}}}"), encoding="utf-8")
    sheet = tmp_path / "workers.csv"
    sheet.write_text(
        "employee,name,sex,birth_date,job,category,joined,reason\n"
        "E1001,张三,F,1990-03-04,探伤工,A,2020-01-01,\n"
        "E1002,李四,X,1988-01-01,焊工,none,,\n"          # sex X: refused
        "E1001,张三,F,1990-03-04,探伤工,B,2020-01-01,\n",  # exists, no reason: refused
        encoding="utf-8")
    assert occmon(["workers", "import", str(cfg), str(sheet)]) == 1
    err = capsys.readouterr().err
    assert "line 3: invalid-worker: sex" in err and "line 4: worker-exists" in err
    assert "1 workers entered, 2 refused" in err
    out = tmp_path / "out.csv"
    assert occmon(["workers", "export", str(cfg), str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("employee,name,sex") and len(lines) == 2
    assert lines[1].startswith("E1001,张三,F,1990-03-04,探伤工,A,2020-01-01,,False")


def test_a_worker_key_is_bound_to_one_employee() -> None:
    with pytest.raises(ValueError, match="'employee' binds a worker key"):
        ApiKey(name="w", role="worker", sha256="0" * 64)
    with pytest.raises(ValueError, match="'employee' binds a worker key"):
        ApiKey(name="o", role="officer", sha256="0" * 64, employee=A)
