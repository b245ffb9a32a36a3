"""Catalogue rows added or corrected against GBZ 2.1-2019 / DOMAIN.md, every row's citation,
and dust set-points that follow the fraction measured."""

from __future__ import annotations

import pytest

from thresholds import CatalogueError, catalogue, lookup, parse_catalogue, setpoints


def test_chromium_vi_compounds_row() -> None:
    # DOMAIN.md: 三氧化铬、铬酸盐、重铬酸盐 (as Cr): PC-TWA 0.05, G1 (verify)
    a = lookup("六价铬")
    assert a.id == "chromium-vi" and lookup("重铬酸盐") is a and lookup("Cr(VI)") is a
    assert (a.mac, a.pc_twa, a.pc_stel) == (None, 0.05, None)
    assert "G1" in a.notes and a.basis == "as Cr (按Cr计)"
    assert a.confidence == "verify" and "pc_twa" in a.verify_fields
    assert a.source.row == "三氧化铬、铬酸盐、重铬酸盐 (按Cr计)"
    # TWA-only: alarm 3 x 0.05 = 0.15, pre-alarm 0.075 (GBZ/T 223 inference)
    sp = setpoints(a)
    assert (sp.pre_alarm, sp.alarm) == pytest.approx((0.075, 0.15))


@pytest.mark.parametrize(("agent", "notes"), [
    ("styrene", {"皮", "G2B"}), ("dichloromethane", {"G2A"}),
    ("lead-dust", {"G2B (铅)", "G2A (铅的无机化合物)"}),
    ("lead-fume", {"G2B (铅)", "G2A (铅的无机化合物)"})])
def test_carcinogen_and_skin_notes_are_marked_for_verification(agent: str,
                                                               notes: set[str]) -> None:
    a = lookup(agent)
    assert notes <= set(a.notes) and "notes" in a.verify_fields


def test_no2_row_is_named_as_the_2019_edition() -> None:
    a = lookup("氮氧化物")            # the older name still resolves, to the NO2 row
    assert a.id == "no2" and a.zh == "二氧化氮" and a.source.row == "二氧化氮"
    assert (a.pc_twa, a.pc_stel) == (5, 10)


def test_every_row_names_its_standard_table_and_row() -> None:
    for a in catalogue():
        for src in (a.source, *(x.source for x in a.amendments),
                    *(v.source for v in a.variants)):
            assert src.standard and src.row and (src.table or src.clause), a.id


def test_a_row_without_its_table_row_is_refused() -> None:
    text = ("agents:\n  - {id: x, kind: chemical, zh: x, en: x, mac: 1, highly_toxic: false,"
            " confidence: verify, source: {standard: GBZ 2.1-2019, edition: '2019'}}\n")
    with pytest.raises(CatalogueError, match="'x': field source: must name"):
        parse_catalogue(text)


def test_respirable_dust_setpoints_follow_the_respirable_limit() -> None:
    cement = lookup("cement-dust")       # total 4, respirable 1.5 mg/m3
    total = setpoints(cement)
    assert (total.pre_alarm, total.alarm, total.high_alarm) == (6.0, 12.0, 24.0)  # 1.5/3/6 x 4
    resp = setpoints(cement, fraction="respirable")
    assert (resp.pre_alarm, resp.alarm, resp.high_alarm) == pytest.approx((2.25, 4.5, 9.0))
    assert "respirable" in resp.derivation["alarm"]
    gbt = setpoints(cement, "GB/T 50493", fraction="respirable")
    assert (gbt.pre_alarm, gbt.alarm) == (1.5, 3.0)                  # 100 % / 200 % OEL
    with pytest.raises(ValueError, match="no respirable-dust PC-TWA"):
        setpoints(lookup("welding-fume"), fraction="respirable")
    with pytest.raises(ValueError, match="'total' or 'respirable'"):
        setpoints(cement, fraction="inhalable")
