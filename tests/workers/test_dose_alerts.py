"""Dose alerts raised once per threshold on a real SQLite store (docs/workers.md, "Dose
alerts"), and lab rows that carry only Hp(0.07) (a ring) or only Hp(3) (an eye dosimeter).
Every expected figure is worked by hand in the test, with its clause."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from ingest.schema import connect
from ingest.store import SqliteStore
from ingest.workers import dose_alerts, dose_history, dose_view, doses, registry
from ingest.workers.alert_push import DoseAlertPush
from occmon import ledger
from occmon.cli import main as occmon
from occmon.config.schema import SiteConfig
from tests.workers.site import A, B, add_worker, at, hp10
from thresholds import personal_dose as pd
from thresholds.dosefile import PeriodResult

SITE = "demo-plant"
TODAY = dt.date(2026, 12, 1)
D = dt.date
HEADER = "employee,dosimeter,start,end,hp10,hp007,hp3,mdl_msv,lab,report\n"
Q = (("01-01", "03-31"), ("04-01", "06-30"), ("07-01", "09-30"), ("10-01", "12-31"))


def enter(conn: sqlite3.Connection, rows: str) -> list[dict[str, object]]:
    return doses.import_lab_csv(conn, HEADER + rows, site=SITE, by="officer", now=2.0,
                                today=TODAY, factor=0.5)


def evaluate(conn: sqlite3.Connection, site: SiteConfig, employee: str = A,
             trigger: str = "test") -> list[dict[str, object]]:
    return dose_alerts.evaluate(conn, site, employee, now=3.0, today=TODAY, trigger=trigger,
                                by="officer")


def keys(rows: list[dict[str, object]]) -> set[tuple[object, ...]]:
    return {(r["scope"], r["quantity"], r["first"], r["threshold"]) for r in rows}


# ----- the thresholds, pure -----

def test_crossings_of_an_apprentice_and_a_pregnancy_by_hand() -> None:
    # born 2008-06-01: 18 on 2026-06-01. 2026 quarters of 2.0 mSv Hp(10).
    periods = [PeriodResult(D(2026, 1, 1), D(2026, 3, 31), 2.0),
               PeriodResult(D(2026, 4, 1), D(2026, 6, 30), 2.0),
               PeriodResult(D(2026, 7, 1), D(2026, 9, 30), 2.0)]
    got = pd.judge(periods, birth_date=D(2008, 6, 1), pregnancies=[(D(2026, 8, 16), None)])
    minors = {(c.quantity, c.threshold) for c in got.crossings if c.scope == "under-18"}
    # before the birthday: Q1 2.0 + Q2 2.0 x 61/91 (Apr 1 .. May 31) = 3.3407 mSv
    # against 6 mSv (GB 18871-2002 B1.1.1.2): 0.3 x 6 = 1.8 and 0.6 x 6 = 3.6: only 0.3
    assert minors == {("hp10", "0.3")}
    (minor,) = [c for c in got.crossings if c.scope == "under-18"]
    assert minor.dose_msv == pytest.approx(2.0 + 2.0 * 61 / 91)
    assert minor.limit_msv == pd.MINOR_EFFECTIVE_MSV and minor.source == pd.MINOR_SOURCE
    # pregnancy declared 2026-08-16: Q3 2.0 x 46/92 (Aug 16 .. Sep 30) = 1.0 mSv, against
    # 1 mSv (GB 18871-2002 6.4.2.1): reaches 0.3, 0.6, 0.9; not over (1.0 is not > 1.0)
    preg = sorted((c.threshold, c.level) for c in got.crossings if c.scope == "pregnancy")
    assert preg == [("0.3", "approaching"), ("0.6", "approaching"), ("0.9", "approaching")]
    # the adult year, 6.0 of 50, and the run, 6.0 of 100: no fraction reached (15 and 30)
    assert not [c for c in got.crossings if c.scope in ("year", "five-years")]
    # investigation level of a quarter, 5 / 4 = 1.25 mSv (GBZ 128-2019): all three above
    assert [c.period for c in got.crossings if c.scope == "period"] == [0, 1, 2]
    # the site's fractions
    fewer = pd.judge(periods, birth_date=D(2008, 6, 1), pregnancies=[(D(2026, 8, 16), None)],
                     rules=pd.DoseRules(alert_fractions=(0.95,)))
    assert {(c.scope, c.threshold) for c in fewer.crossings if c.scope != "period"} == {
        ("pregnancy", "0.95")}  # 1.0 >= 0.95 x 1; 3.34 < 5.7 of 6


# ----- raised once, stored, ledgered -----

def test_raised_once_per_threshold_whoever_evaluates_and_after_a_restart(
        conn: sqlite3.Connection, site: SiteConfig) -> None:
    add_worker(conn)
    # 2025: 8 + 8 mSv (quarters, investigation level 1.25: both above)
    enter(conn, f"{A},T1,2025-01-01,2025-03-31,8,,,,lab,R1\n"
                f"{A},T2,2025-04-01,2025-06-30,8,,,,lab,R1\n")
    first = evaluate(conn, site)
    # year 16 of 50 reaches 0.3 (15); run of the years on file 16 of 100: none (30)
    assert keys(first) == {("year", "hp10", "2025", "0.3"),
                           ("period", "hp10", "2025-01-01", "investigation"),
                           ("period", "hp10", "2025-04-01", "investigation")}
    assert {r["trigger"] for r in first} == {"test"}
    assert evaluate(conn, site) == []  # evaluated again: nothing twice
    # "restart": another connection (another process) judges the same file
    other = connect(Path(site.store.path))
    try:
        assert evaluate(other, site, trigger="again") == []
    finally:
        other.close()
    # Q3 15 mSv: 31 of 50 reaches 0.6 (30) -- only the new threshold and the new period
    enter(conn, f"{A},T3,2025-07-01,2025-09-30,15,,,,lab,R2\n")
    second = evaluate(conn, site)
    assert keys(second) == {("year", "hp10", "2025", "0.6"),
                            ("period", "hp10", "2025-07-01", "investigation"),
                            # the run (2025 alone) 31 of 100 reaches 0.3 (30)
                            ("five-years", "hp10", "2025", "0.3")}
    # a correction that lowers Q3 to 1 mSv: the alerts stay on record, nothing new
    q3 = next(r for r in doses.current_results(conn, A) if r["dosimeter"] == "T3")
    doses.import_lab_csv(conn, "employee,dosimeter,start,end,hp10,corrects,reason\n"
                         f"{A},T3,2025-07-01,2025-09-30,1,{q3['id']},lab re-read\n",
                         site=SITE, by="officer", now=4.0, today=TODAY, factor=0.5)
    assert evaluate(conn, site) == []
    total, items = dose_alerts.listed(conn, employee=A)
    assert total == 6 and all(i["push"] == "pending" for i in items)
    # the investigation closes with the officer's findings
    p1 = next(i for i in items if i["first"] == "2025-01-01")
    assert p1["investigation_open"] is True
    doses.put_investigation(conn, A, str(p1["period"]), "source change; confirmed",
                            site=SITE, by="officer", now=5.0, known=[str(p1["period"])])
    again = {i["id"]: i for i in dose_alerts.listed(conn, employee=A)[1]}
    assert again[p1["id"]]["investigation_open"] is False
    # every alert row is attested in the ledger by its digest, not its content
    assert ledger.verify(conn).ok and registry.verify_rows(conn) == []
    bodies = [e.body() for e in ledger.entries(conn) if e.kind == "registry"
              and e.body()["registry"] == "dose-alert"]
    assert len(bodies) == 6 and all(set(b) == {"registry", "key", "row", "row_sha256"}
                                    for b in bodies)
    conn.execute("UPDATE dose_alert_rows SET dose_msv = 1 WHERE id = ?", (p1["id"],))
    assert registry.verify_rows(conn) == [
        f"dose_alert_rows row {p1['id']}: does not match ledger entry {p1_seq(conn, p1)}"]


def p1_seq(conn: sqlite3.Connection, row: dict[str, object]) -> int:
    return int(conn.execute("SELECT seq FROM dose_alert_rows WHERE id = ?",
                            (row["id"],)).fetchone()[0])


def test_the_cli_import_raises_and_queues_them(site: SiteConfig, tmp_path: Path,
                                               conn: sqlite3.Connection,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    add_worker(conn, B, sex="M")
    yaml = tmp_path / "site.yaml"
    yaml.write_text(site.model_dump_json(by_alias=True, exclude_none=True), encoding="utf-8")
    report = tmp_path / "r.csv"
    # 4 quarters of 12 mSv: 48 of 50 reaches 0.3, 0.6, 0.9 (45); not over
    report.write_text(HEADER + "".join(f"{B},T{q},2024-{a},2024-{b},12,,,,lab,R\n"
                                       for q, (a, b) in enumerate(Q)), encoding="utf-8")
    assert occmon(["workers", "import-doses", str(yaml), str(report), "--by", "rpo"]) == 0
    err = capsys.readouterr().err
    assert "4 dose results entered" in err and f"{B} approaching year hp10" in err
    total, items = dose_alerts.listed(conn, employee=B, year=2024)
    # year: 0.3, 0.6, 0.9; run (2024 alone) 48 of 100: 0.3; 4 periods above 1.25
    assert total == 3 + 1 + 4
    assert {i["entered_by"] for i in items} == {"rpo"}
    assert conn.execute("SELECT count(*) FROM dose_alert_pushes WHERE done IS NULL"
                        ).fetchone()[0] == 8


def test_an_epd_month_is_judged_at_the_day_close_once_it_is_over(
        site: SiteConfig, conn: sqlite3.Connection) -> None:
    add_worker(conn)
    registry.put_instrument(conn, registry.InstrumentIn(
        serial="EPD-7", type="EPD", device="raddos-1", quantities=["hp10"]), site=SITE,
        by="officer", now=1.0, devices=["raddos-1"])
    registry.put_assignment(conn, registry.AssignmentIn(
        instrument="EPD-7", worker=A, start=at(7), end=at(18)), site=SITE, by="officer",
        now=1.0)
    store = SqliteStore(Path(site.store.path))
    try:  # running total 100.0 at 08:00, 250.0 at 12:00, 400.0 at 17:00 (uSv)
        store.write_readings([hp10(8, 100.0), hp10(12, 250.0), hp10(17, 400.0)])
    finally:
        store.close()
    quiet = site.model_copy(update={"notify": None})  # judged and stored; nobody to tell
    push = DoseAlertPush(quiet, lambda *_: None, worker_id="test-ingest")
    assert push.notifier is None
    # on 2026-05-29 (the day after): May is not over; its part month is not judged
    push.tick(at(12).timestamp() + 86400)
    assert dose_alerts.listed(conn, employee=A)[0] == 0
    # 2026-06-02: May is over: 400 - 100 = 300 uSv = 0.3 mSv over 1 day worn (05-28):
    # periods a year round(365.25 / 1) = 365, level 5 / 365 = 0.0137 mSv (GBZ 128-2019):
    # above it. Year 2026 0.3 of 50: no fraction (15).
    push.tick(at(12).timestamp() + 5 * 86400)
    _total, (alert,) = dose_alerts.listed(conn, employee=A)
    assert (alert["period"], alert["level"], alert["trigger"]) == (
        "EPD:2026-05", "investigate", "epd-day-close")
    assert alert["dose_msv"] == pytest.approx(0.3)
    assert alert["limit_msv"] == pytest.approx(5 / 365, abs=1e-6)  # stored to 1 nSv
    push.tick(at(12).timestamp() + 6 * 86400)  # the next day close: nothing twice
    assert dose_alerts.listed(conn, employee=A)[0] == 1


# ----- rows with only Hp(0.07) or only Hp(3) -----

def test_ring_and_eye_rows_add_to_skin_and_lens_only(conn: sqlite3.Connection,
                                                     site: SiteConfig) -> None:
    add_worker(conn)
    body = "".join(f"{A},TLD-{q},2025-{a},2025-{b},1.5,,,,lab,R\n" for q, (a, b) in enumerate(Q))
    rings = "".join(f"{A},RING-{q},2025-{a},2025-{b},,{v},,,lab,R\n"
                    for q, ((a, b), v) in enumerate(zip(Q, ("40", "35", "ND", "25"),
                                                        strict=True)))
    eye = (f"{A},EYE-1,2025-01-01,2025-03-31,,,12,0.1,lab,R\n"
           f"{A},EYE-2,2025-07-01,2025-09-30,,,<0.1,0.1,lab,R\n")
    # ND needs the lab's MDL: refused whole, naming the line
    with pytest.raises(doses.ImportRefused) as refused:
        enter(conn, body + rings + eye)
    assert [(e.line, e.code) for e in refused.value.errors] == [(8, "no-mdl")]
    rings = rings.replace(",ND,,,", ",ND,,0.2,")
    entered = enter(conn, body + rings + eye)  # body and ring/eye rows of the same days
    assert len(entered) == 4 + 4 + 2
    f = dose_view.dose_file(conn, site, A, now=3.0)
    (year,) = f["years"]
    # Hp(10): the body TLD only, 4 x 1.5 = 6.0 mSv (never a ring's or an eye dosimeter's)
    assert year["hp10_msv"] == pytest.approx(6.0) and year["unmonitored_days"] == 0
    # Hp(0.07) skin/extremities: 40 + 35 + 0.2 x 0.5 (ND, MDL 0.2) + 25 = 100.1 mSv (of 500)
    assert year["hp007_msv"] == pytest.approx(100.1)
    # Hp(3) lens: 12 + 0.1 x 0.5 (<0.1 with MDL 0.1) = 12.05 mSv (of 150)
    assert year["hp3_msv"] == pytest.approx(12.05)
    assert year["verdict"] == "pass"
    ring = [p for p in f["periods"] if p["dosimeter"].startswith("RING")]
    assert len(ring) == 4 and all(p["organ_only"] and p["hp10_msv"] is None for p in ring)
    # the investigation level is Hp(10)'s: only the body periods are judged (1.5 > 1.25)
    assert len(f["investigations"]) == 4
    # the exposure history takes the same figures from the file, each from its dosimeters
    r = dose_history.read(conn, site, A, now=3.0)
    whole = (D(2025, 1, 1), D(2025, 12, 31))
    rows = {e["quantity"]: e for e in dose_history.entries(
        r, *whole, dose_history.year_rows(r, *whole))}
    assert (rows["hp10"]["sum"], rows["hp10"]["count"]) == (pytest.approx(6.0), 4)
    assert (rows["hp007"]["sum"], rows["hp007"]["count"]) == (pytest.approx(100.1), 4)
    assert rows["hp007"]["max"] == 40 and rows["hp007"]["instruments"][0] == "RING-0"
    assert (rows["hp3"]["sum"], rows["hp3"]["count"]) == (pytest.approx(12.05), 2)
    assert len(dose_history.covered_days(r, *whole)) == 365  # the body dosimeter's days
    # a second ring over the same days: two skin results of record: refused
    with pytest.raises(doses.ImportRefused) as twice:
        enter(conn, f"{A},RING-X,2025-02-01,2025-02-28,,3,,,lab,R\n")
    assert [e.code for e in twice.value.errors] == ["period-overlap"]
    # a row with no dose at all
    with pytest.raises(doses.ImportRefused) as empty:
        enter(conn, f"{A},T9,2026-01-01,2026-01-31,,,,,lab,R\n")
    assert [(e.code, e.column) for e in empty.value.errors] == [("missing-value", "hp10")]
    # 2026: an eye dosimeter only, 50 mSv in Q1: lens 50 of 150 reaches 0.3 (45); the year's
    # effective dose is not monitored at all: insufficient, never a pass on 0 mSv
    enter(conn, f"{A},EYE-3,2026-01-01,2026-03-31,,,50,,lab,R\n")
    y26 = next(y for y in dose_view.dose_file(conn, site, A, now=3.0)["years"]
               if y["year"] == 2026)
    assert y26["hp10_msv"] == 0 and y26["hp3_msv"] == pytest.approx(50.0)
    assert y26["unmonitored_days"] == 90 and y26["verdict"] == "insufficient"
    raised = evaluate(conn, site)
    assert ("year", "hp3", "2026", "0.3") in keys(raised)
    assert not [r for r in raised if r["quantity"] == "hp10" and r["scope"] == "year"]
    # a nominal Hp(10) may cover a lost body dosimeter's days a ring result also covers
    dose_view.nominal(conn, site, A, dosimeter="TLD-lost", start=D(2026, 1, 1),
                      end=D(2026, 3, 31), method="given", hp10_msv=0.8, reason="lost",
                      by="officer", now=4.0, today=TODAY)
    y26 = next(y for y in dose_view.dose_file(conn, site, A, now=5.0)["years"]
               if y["year"] == 2026)
    assert y26["hp10_msv"] == pytest.approx(0.8) and y26["hp3_msv"] == pytest.approx(50.0)


def test_a_worker_with_ring_results_only(conn: sqlite3.Connection, site: SiteConfig) -> None:
    add_worker(conn, birth="2008-06-01")  # 18 on 2026-06-01
    # 2026 Q1 ring 160 mSv Hp(0.07): under 18 the limit is 150 (GB 18871-2002 B1.1.1.2)
    enter(conn, f"{A},RING-1,2026-01-01,2026-03-31,,160,,,lab,R\n")
    f = dose_view.dose_file(conn, site, A, now=3.0)
    (minor,) = f["under_18"]
    assert minor["hp007_msv"] == pytest.approx(160.0) and minor["hp10_msv"] == 0
    assert minor["broken"] == ["skin_extremities_under_18"] and minor["verdict"] == "fail"
    assert f["years"][0]["verdict"] == "insufficient"  # 160 of 500 adult; Hp(10) unmonitored
    got = keys(evaluate(conn, site))
    assert {k for k in got if k[0] == "under-18"} == {
        ("under-18", "hp007", "2026", t) for t in ("0.3", "0.6", "0.9", "limit")}
    assert ("year", "hp007", "2026", "0.3") in got  # 160 >= 150 = 0.3 x 500
