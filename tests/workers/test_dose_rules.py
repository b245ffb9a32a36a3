"""The personal dose file's rules on a real SQLite store and in ``thresholds.personal_dose``:
the 3-month period, a lost dosimeter's nominal dose (with who and why, in the ledger), the
limits of 16-18-year-olds (GB 18871-2002 B1.1.1.2), a declared pregnancy, lens and
extremities (B1.1.1.1), the approaching-limit alert, and electronic dosimeters' months.
Every expected figure is worked by hand in the test."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from ingest.schema import connect
from ingest.store import SqliteStore
from ingest.workers import dose_view, doses, registry
from occmon import ledger
from occmon.cli import main as occmon
from occmon.config.schema import SiteConfig
from tests.workers.site import DAY, A, B, add_worker, at, hp10
from thresholds import personal_dose as pd
from thresholds.dosefile import PeriodResult

SITE = "demo-plant"
TODAY = dt.date(2026, 12, 1)
D = dt.date


def enter(conn: sqlite3.Connection, rows: str) -> list[dict[str, object]]:
    text = "employee,dosimeter,start,end,hp10,hp007,hp3,mdl_msv,lab,report\n" + rows
    return doses.import_lab_csv(conn, text, site=SITE, by="officer", now=2.0, today=TODAY,
                                factor=0.5)


def test_a_period_is_at_most_three_months() -> None:
    pd.check_period(D(2023, 1, 1), D(2023, 3, 31))           # 90 days
    pd.check_period(D(2024, 7, 1), D(2024, 9, 30))           # 92 days: a calendar quarter
    for start, end, code in ((D(2024, 1, 1), D(2024, 4, 1), "period-too-long"),  # 92 days
                             (D(2023, 1, 31), D(2023, 4, 30), "period-too-long"),
                             (D(2023, 3, 1), D(2023, 2, 1), "period-reversed"),
                             (D(1, 1, 1), D(1, 1, 31), "period-too-early"),
                             (D(9999, 12, 1), D(9999, 12, 31), "period-too-late"),
                             (D(2026, 11, 1), D(2026, 12, 2), "period-in-future")):
        with pytest.raises(pd.PeriodRefused) as refused:
            pd.check_period(start, end, TODAY if code == "period-in-future" else None)
        assert refused.value.code == code, (start, end)


def test_the_cli_refuses_a_report_with_a_long_period_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    demo = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"
    store = tmp_path / "store.db"
    cfg = tmp_path / "site.yaml"
    cfg.write_text(demo.read_text(encoding="utf-8").replace(
        "store: {path: var/occmon.db}", f"store: {{path: {store}}}"), encoding="utf-8")
    sheet = tmp_path / "workers.csv"
    sheet.write_text("employee,name,sex,birth_date,job,category\n"
                     f"{A},张三,F,1990-03-04,探伤工,A\n", encoding="utf-8")
    assert occmon(["workers", "import", str(cfg), str(sheet)]) == 0
    report = tmp_path / "lab.csv"
    head = "employee,dosimeter,start,end,hp10,mdl_msv,lab,report\n"
    report.write_text(head + f"{A},T1,2025-01-01,2025-03-31,0.4,0.1,lab,R1\n"
                      f"{A},T2,2025-04-01,2025-07-31,0.4,0.1,lab,R1\n", encoding="utf-8")
    capsys.readouterr()
    assert occmon(["workers", "import-doses", str(cfg), str(report)]) == 1
    err = capsys.readouterr().err
    assert "line 3: period-too-long: end:" in err and "122 days" in err
    assert "nothing entered" in err
    c = connect(store)
    try:
        assert doses.current_results(c, A) == []   # line 2 was good, and is not entered
    finally:
        c.close()
    report.write_text(head + f"{A},T1,2025-01-01,2025-03-31,ND,0.1,lab,R1\n", encoding="utf-8")
    assert occmon(["workers", "import-doses", str(cfg), str(report)]) == 0
    assert "1 dose results entered" in capsys.readouterr().err


def test_a_lost_dosimeters_nominal_dose_is_an_entry_with_who_and_why(
    conn: sqlite3.Connection, site: SiteConfig,
) -> None:
    add_worker(conn)
    enter(conn, f"{A},T1,2024-04-01,2024-06-30,0.91,,,,lab,R1\n"
                f"{A},T2,2024-07-01,2024-09-30,0.46,,,,lab,R2\n")

    def nominal(method: str, start: D, end: D, given: float | None = None,
                reason: str = "badge lost in the changing room") -> dict[str, object]:
        return dose_view.nominal(conn, site, A, dosimeter="T9", start=start, end=end,
                                 method=method, hp10_msv=given, reason=reason,
                                 by="officer-li", now=3.0, today=TODAY)

    # the same days a year earlier, 2024-04-01..06-30, all monitored: 0.91 mSv
    row = nominal("previous-year", D(2025, 4, 1), D(2025, 6, 30))
    assert row["hp10"] == "0.91" and row["source"] == "nominal"
    assert row["method"] == "previous-year" and row["entered_by"] == "officer-li"
    # 2025-07-15..08-14 a year earlier is half in T2's quarter: 31 of its 92 days
    # -> 0.46 x 31 / 92 = 0.155 mSv
    row = nominal("previous-year", D(2025, 7, 15), D(2025, 8, 14))
    assert float(str(row["hp10"])) == pytest.approx(0.46 * 31 / 92, abs=1e-6)
    # 2025-10-01..12-31 a year earlier has no result: refused, another method named
    with pytest.raises(registry.RegistryError) as none:
        nominal("previous-year", D(2025, 10, 1), D(2025, 12, 31))
    assert none.value.code == "no-previous-year"
    # the annual limit pro rata: 20 mSv x 92 / 365 = 5.041096 mSv
    row = nominal("pro-rata-limit", D(2025, 10, 1), D(2025, 12, 31))
    assert float(str(row["hp10"])) == pytest.approx(20 * 92 / 365, abs=1e-6)
    with pytest.raises(registry.RegistryError) as overlap:
        nominal("given", D(2025, 12, 1), D(2025, 12, 31), 0.2)
    assert overlap.value.code == "period-overlap"
    with pytest.raises(registry.RegistryError) as why:
        nominal("given", D(2026, 1, 1), D(2026, 1, 31), 0.2, reason=" ")
    assert why.value.code == "reason-required"
    nominal("given", D(2026, 1, 1), D(2026, 1, 31), 0.2)

    f = dose_view.dose_file(conn, site, A, at(12).timestamp())
    by_source = [(p["source"], p["method"]) for p in f["periods"]]
    assert by_source == [("lab", None), ("lab", None), ("nominal", "previous-year"),
                         ("nominal", "previous-year"), ("nominal", "pro-rata-limit"),
                         ("nominal", "given")]
    assert all(p["reason"] == "badge lost in the changing room" for p in f["periods"][2:])
    kinds = [e.body()["registry"] for e in ledger.entries(conn)]
    assert kinds.count("dose") == 6
    assert ledger.verify(conn).ok and registry.verify_rows(conn) == []


def test_sixteen_to_eighteen_year_olds_have_their_own_limits() -> None:
    # born 2004-07-01: 18 on 2022-07-01. 2022: Q1 and Q2 before the birthday, Q3 after.
    periods = [PeriodResult(D(2022, 1, 1), D(2022, 3, 31), 2.0, 100.0, 30.0),
               PeriodResult(D(2022, 4, 1), D(2022, 6, 30), 4.5, 40.0, 25.0),
               PeriodResult(D(2022, 7, 1), D(2022, 9, 30), 3.0, 10.0, 5.0)]
    got = pd.judge(periods, birth_date=D(2004, 7, 1))
    (minor,) = got.minor_years
    # under 18: Hp(10) 2 + 4.5 = 6.5 > 6; Hp(3) 30 + 25 = 55 > 50; Hp(0.07) 140 <= 150
    assert (minor.dose.start, minor.dose.end) == (D(2022, 1, 1), D(2022, 6, 30))
    assert minor.dose.hp10_msv == pytest.approx(6.5)
    assert minor.dose.hp3_msv == pytest.approx(55.0)
    assert minor.dose.hp007_msv == pytest.approx(140.0)
    assert minor.broken == ("effective_under_18", "lens_under_18")
    assert minor.verdict == "fail" and got.verdict == "fail"
    # the whole year against the adult limits passes: 9.5 of 50, 60 of 150, 150 of 500
    (year,) = got.file.years
    assert year.hp10_msv == pytest.approx(9.5) and year.verdict == "pass"
    # alerts (75 %): Hp(0.07) 140 >= 112.5 of 150 approaching; the other two exceeded
    under = {(a.quantity, a.level) for a in got.alerts if a.scope == "under-18"}
    assert under == {("hp10", "exceeded"), ("hp3", "exceeded"), ("hp007", "approaching")}
    assert all(a.source == pd.MINOR_SOURCE for a in got.alerts if a.scope == "under-18")
    # a period across the 18th birthday is shared by days: born 2004-05-16, Q2 2022 holds
    # 45 days before it (04-01..05-15) of 91: 4.5 x 45 / 91 = 2.2253
    got = pd.judge(periods[1:2], birth_date=D(2004, 5, 16))
    assert got.minor_years[0].dose.hp10_msv == pytest.approx(4.5 * 45 / 91)
    assert got.minor_years[0].verdict == "pass"
    # the nominal dose pro rata uses 6 mSv a year before the 18th birthday
    assert pd.nominal_dose("pro-rata-limit", D(2022, 1, 1), D(2022, 1, 31),
                           birth_date=D(2004, 7, 1)) == pytest.approx(6 * 31 / 365)


def test_a_declared_pregnancy_holds_hp10_to_one_msv_from_the_declaration(
    conn: sqlite3.Connection, site: SiteConfig,
) -> None:
    add_worker(conn)
    add_worker(conn, B, sex="M")
    with pytest.raises(registry.RegistryError) as male:
        doses.put_pregnancy(conn, B, D(2024, 5, 16), None, reason="", corrects=None,
                            site=SITE, by="officer", now=3.0, today=TODAY)
    assert male.value.code == "not-female"
    enter(conn, f"{A},T5,2024-05-01,2024-05-31,0.62,,,,lab,R5\n"
                f"{A},T6,2024-06-01,2024-06-30,0.3,,,,lab,R6\n")
    declared = doses.put_pregnancy(conn, A, D(2024, 5, 16), None, reason="", corrects=None,
                                   site=SITE, by="officer", now=3.0, today=TODAY)
    f = dose_view.dose_file(conn, site, A, at(12).timestamp())
    (p,) = f["pregnancies"]
    # May 16-31 is 16 of May's 31 days: 0.62 x 16 / 31 = 0.32; June 0.3 -> 0.62 mSv
    assert p["dose"]["hp10_msv"] == pytest.approx(0.62)
    assert p["verdict"] == "pass" and p["limit_msv"] == 1.0
    assert not [a for a in f["alerts"] if a["scope"] == "pregnancy"]  # 0.62 < 0.75
    enter(conn, f"{A},T7,2024-07-01,2024-07-31,0.45,,,,lab,R7\n")
    f = dose_view.dose_file(conn, site, A, at(12).timestamp())
    # + July 0.45 -> 1.07 > 1 mSv
    assert f["pregnancies"][0]["dose"]["hp10_msv"] == pytest.approx(1.07)
    assert f["pregnancies"][0]["verdict"] == "fail" and f["verdicts"]["pregnancy"] == "fail"
    (alert,) = [a for a in f["alerts"] if a["scope"] == "pregnancy"]
    assert alert["level"] == "exceeded" and alert["first"] == "2024-05-16"
    # the pregnancy ended on 2024-06-30 (a correction of the declaration, with a reason):
    # back to 0.62 mSv, a pass
    doses.put_pregnancy(conn, A, D(2024, 5, 16), D(2024, 6, 30), reason="birth 2024-06-30",
                        corrects=int(declared["id"]), site=SITE, by="officer", now=4.0,
                        today=TODAY)
    f = dose_view.dose_file(conn, site, A, at(12).timestamp())
    assert f["pregnancies"][0]["dose"]["hp10_msv"] == pytest.approx(0.62)
    assert f["pregnancies"][0]["verdict"] == "pass"
    assert registry.verify_rows(conn) == []


def test_lens_and_extremities_per_year_and_the_alert_fraction() -> None:
    q = [(D(2023, 1, 1), D(2023, 3, 31)), (D(2023, 4, 1), D(2023, 6, 30)),
         (D(2023, 7, 1), D(2023, 9, 30)), (D(2023, 10, 1), D(2023, 12, 31))]
    # Hp(3) 4 x 40 = 160 > 150 (lens); Hp(0.07) 4 x 95 = 380 >= 0.75 x 500 = 375
    periods = [PeriodResult(a, b, 1.0, 95.0, 40.0) for a, b in q]
    got = pd.judge(periods, birth_date=D(1990, 1, 1))
    (year,) = got.file.years
    assert year.hp3_msv == pytest.approx(160.0) and year.hp007_msv == pytest.approx(380.0)
    assert year.broken == ("lens",) and year.verdict == "fail"
    assert {(a.quantity, a.level, a.limit_msv) for a in got.alerts} == {
        ("hp3", "exceeded", 150.0), ("hp007", "approaching", 500.0)}
    # at 80 % of the limit (the site's fraction), 380 of 500 (76 %) is no alert
    got = pd.judge(periods, birth_date=D(1990, 1, 1), rules=pd.DoseRules(alert_fraction=0.8))
    assert {a.quantity for a in got.alerts} == {"hp3"}
    # Hp(10) 4 x 9.4 = 37.6 >= 37.5 (75 % of 50): approaching, and the verdict still passes
    got = pd.judge([PeriodResult(a, b, 9.4) for a, b in q], birth_date=D(1990, 1, 1))
    assert [(a.scope, a.quantity, a.level) for a in got.alerts] == [
        ("year", "hp10", "approaching")]
    assert got.file.years[0].hp10_msv == pytest.approx(37.6) and got.verdict == "pass"


def test_an_electronic_dosimeters_month_counts_where_no_lab_result_covers_it(
    conn: sqlite3.Connection, site: SiteConfig,
) -> None:
    add_worker(conn)
    registry.put_instrument(conn, registry.InstrumentIn(
        serial="EPD-1", type="EPD", device="raddos-1", quantities=["hp10"]), site=SITE,
        by="officer", now=1.0, devices=[d.id for d in site.devices])
    registry.put_assignment(conn, registry.AssignmentIn(
        instrument="EPD-1", worker=A, start=at(8), end=at(17)), site=SITE, by="officer",
        now=1.0)
    store = SqliteStore(Path(site.store.path))
    store.write_readings([hp10(8, 100.0), hp10(12, 130.0), hp10(17, 145.0)])
    store.close()
    now = at(18).timestamp()
    f = dose_view.dose_file(conn, site, A, now)
    # 2026-05: worn on 05-28 only, 145 - 100 = 45 uSv = 0.045 mSv; counted, nothing else
    (epd,) = f["periods"]
    assert (epd["source"], epd["period"], epd["counted"]) == ("EPD", "EPD:2026-05", True)
    assert (epd["start"], epd["end"]) == (DAY.isoformat(), DAY.isoformat())
    assert epd["hp10_msv"] == pytest.approx(0.045) and epd["dosimeter"] == "EPD-1"
    # a lab result for May: the lab's is the dose of record, the EPD month is shown only
    enter(conn, f"{A},TLD-5,2026-05-01,2026-05-31,0.06,,,,lab,R5\n")
    f = dose_view.dose_file(conn, site, A, now)
    assert [(p["source"], p["counted"]) for p in f["periods"]] == [("lab", True),
                                                                  ("EPD", False)]
    assert f["years"][0]["hp10_msv"] == pytest.approx(0.06)


def test_a_lab_correction_is_a_new_row_and_a_void_cancels_a_result(
    conn: sqlite3.Connection, site: SiteConfig,
) -> None:
    add_worker(conn)
    add_worker(conn, B)
    first, second = enter(conn, f"{A},T1,2024-01-01,2024-03-31,0.8,,,,lab,R1\n"
                                f"{A},T2,2024-04-01,2024-06-30,0.6,,,,lab,R1\n")
    head = "employee,dosimeter,start,end,hp10,lab,report,corrects,void,reason\n"

    def refused(text: str) -> set[tuple[int, str]]:
        with pytest.raises(doses.ImportRefused) as exc:
            doses.import_lab_csv(conn, head + text, site=SITE, by="officer", now=3.0,
                                 today=TODAY, factor=0.5)
        return {(e.line, e.code) for e in exc.value.errors}

    one, two = first["id"], second["id"]
    assert refused(f"{A},T1,2024-01-01,2024-03-31,0.9,lab,R1b,{one},,\n") == {
        (2, "reason-required")}
    assert refused(f"{A},T1,2024-01-01,2024-03-31,0.9,lab,R1b,{one},,misread\n"
                   f"{A},T1,2024-01-01,2024-03-31,0.7,lab,R1b,{one},,misread\n") == {
        (3, "corrected-twice"), (3, "period-overlap")}
    assert refused(f"{B},T1,2024-01-01,2024-03-31,0.9,lab,R1b,{one},,wrong worker\n") == {
        (2, "unknown-result")}
    assert refused(f"{A},T3,2024-07-01,2024-09-30,0.1,lab,R3,,true,\n") == {(2, "void-new")}
    # T1 re-read as 0.9 (correction); T2 was B's badge: voided on A, entered on B
    doses.import_lab_csv(conn, head + f"{A},T1,2024-01-01,2024-03-31,0.9,lab,R1b,{one},,"
                         "lab re-read\n"
                         f"{A},T2,2024-04-01,2024-06-30,0.6,lab,R1b,{two},true,B's badge\n"
                         f"{B},T2,2024-04-01,2024-06-30,0.6,lab,R1b,,,\n",
                         site=SITE, by="officer", now=4.0, today=TODAY, factor=0.5)
    f = dose_view.dose_file(conn, site, A, at(12).timestamp())
    assert [(p["start"], p["hp10_msv"], p["corrects"]) for p in f["periods"]] == [
        ("2024-01-01", pytest.approx(0.9), one)]
    assert [r["hp10"] for r in doses.result_history(conn, A)] == ["0.8", "0.6", "0.9", "0.6"]
    assert dose_view.dose_file(conn, site, B, at(12).timestamp())["years"][0]["hp10_msv"] == \
        pytest.approx(0.6)
    assert ledger.verify(conn).ok and registry.verify_rows(conn) == []
