"""The catalogue against DOMAIN.md, to the digit, plus lookup and validation behaviour."""

from __future__ import annotations

import pytest

from thresholds import CatalogueError, UnknownAgent, catalogue, lookup, parse_catalogue

# DOMAIN.md section 1, Table 1 excerpt: id -> (MAC, PC-TWA, PC-STEL, confidence). None = "-".
DOMAIN_CHEMICALS: dict[str, tuple[float | None, float | None, float | None, str]] = {
    "co": (None, 20, 30, "H"),
    "h2s": (10, None, None, "H"),
    "cl2": (1, None, None, "H"),
    "nh3": (None, 20, 30, "H"),
    "benzene": (None, 6, 10, "H"),
    "toluene": (None, 50, 100, "verify"),
    "xylene": (None, 50, 100, "H"),
    "formaldehyde": (0.5, None, None, "verify"),
    "so2": (None, 5, 10, "H"),
    "no2": (None, 5, 10, "H"),
    "hcn": (1, None, None, "verify"),
    "phosgene": (0.5, None, None, "H"),
    "hcl": (7.5, None, None, "H"),
    "hf": (2, None, None, "H"),
    "co2": (None, 9000, 18000, "H"),
    "ozone": (0.3, None, None, "H"),
    "methanol": (None, 25, 50, "H"),
    "styrene": (None, 50, 100, "verify"),
    "n-hexane": (None, 100, 180, "verify"),
    "ethyl-acetate": (None, 200, 300, "verify"),
    "acetone": (None, 300, 450, "verify"),
    "dichloromethane": (None, 200, None, "verify"),
    "trichloroethylene": (None, 30, None, "verify"),
    "vinyl-chloride": (None, 10, None, "H"),
    "arsine": (0.03, None, None, "verify"),
    "phosphine": (0.3, None, None, "verify"),
    "lead-dust": (None, 0.05, None, "H"),
    "lead-fume": (None, 0.03, None, "H"),
    "manganese": (None, 0.15, None, "verify"),
}
# DOMAIN.md notes column: id -> notes that must be present.
DOMAIN_NOTES = {"benzene": {"皮", "G1"}, "toluene": {"皮"}, "formaldehyde": {"敏", "G1"},
                "hcn": {"皮"}, "methanol": {"皮"}, "styrene": {"皮"}, "n-hexane": {"皮"},
                "trichloroethylene": {"G1"}, "vinyl-chloride": {"G1"}}
# DOMAIN.md section 1, Table 2: id -> (total, respirable, confidence).
DOMAIN_DUSTS: dict[str, tuple[float, float | None, str]] = {
    "silica-dust-10-50": (1, 0.7, "H"),
    "silica-dust-50-80": (0.7, 0.3, "H"),
    "silica-dust-80": (0.5, 0.2, "H"),
    "coal-dust": (4, 2.5, "verify"),
    "cement-dust": (4, 1.5, "verify"),
    "welding-fume": (4, None, "H"),
    "graphite-dust": (4, 2, "verify"),
    "wood-dust": (3, None, "verify"),
    "limestone-dust": (8, 4, "verify"),
    "talc-dust": (3, 1, "verify"),
    "other-dust": (8, None, "verify"),
}


@pytest.mark.parametrize("agent_id", sorted(DOMAIN_CHEMICALS))
def test_chemical_rows_match_domain(agent_id: str) -> None:
    mac, twa, stel, confidence = DOMAIN_CHEMICALS[agent_id]
    a = catalogue().get(agent_id)
    assert (a.kind, a.mac, a.pc_twa, a.pc_stel) == ("chemical", mac, twa, stel)
    assert a.confidence == confidence
    assert DOMAIN_NOTES.get(agent_id, set()) <= set(a.notes)
    assert a.source.standard == "GBZ 2.1-2019" and a.source.row


@pytest.mark.parametrize("agent_id", sorted(DOMAIN_DUSTS))
def test_dust_rows_match_domain(agent_id: str) -> None:
    total, respirable, confidence = DOMAIN_DUSTS[agent_id]
    a = catalogue().get(agent_id)
    assert (a.kind, a.pc_twa_total, a.pc_twa_respirable) == ("dust", total, respirable)
    assert (a.mac, a.pc_stel) == (None, None)
    assert a.confidence == confidence


def test_benzene_keeps_both_editions_and_applies_the_amendment() -> None:
    a = lookup("苯")
    base = a.limits(edition="base")
    assert (base.pc_twa, base.pc_stel, base.confidence) == (6, 10, "H")
    amended = a.limits()
    assert (amended.pc_twa, amended.pc_stel, amended.confidence) == (3, 6, "verify")
    assert "Amendment No. 1" in amended.edition and len(amended.sources) == 2
    with pytest.raises(UnknownAgent, match="no edition"):
        a.limits(edition="1999")


@pytest.mark.parametrize(("altitude", "mac", "twa"), [
    (None, None, 20), (1500, None, 20), (2000, None, 20), (2500, 20, None), (3000, 20, None),
    (3001, 15, None), (4500, 15, None)])
def test_co_highland_variants(altitude: float | None, mac: float | None,
                              twa: float | None) -> None:
    lim = lookup("co").limits(altitude_m=altitude)
    assert (lim.mac, lim.pc_twa) == (mac, twa)


def test_noise_and_radiation_rows() -> None:
    noise = lookup("noise").noise
    assert noise is not None and (noise.lex_8h, noise.lex_w) == (85, 85)
    assert [(b.max_impulses, b.peak_db) for b in noise.impulse_peak] == [
        (100, 140), (1000, 130), (10000, 120)]
    assert [(b.grade, b.lower_db) for b in noise.grade_bands] == [
        ("I", 85), ("II", 90), ("III", 94), ("IV", 100)]
    assert "noise.grade_bands" in lookup("noise").verify_fields
    rad = lookup("radiation").radiation
    assert rad is not None
    assert (rad.effective_5y_avg_msv, rad.effective_single_year_msv, rad.lens_msv,
            rad.skin_msv, rad.extremities_msv, rad.investigation_msv_per_year) == (
        20, 50, 150, 500, 500, 5)
    assert "radiation.investigation_msv_per_year" in lookup("radiation").verify_fields


def test_every_row_cites_a_source_and_extras_are_marked() -> None:
    domain = set(DOMAIN_CHEMICALS) | set(DOMAIN_DUSTS) | {"noise", "ionising-radiation",
                                                         "oxygen"}
    for a in catalogue():
        assert a.source.standard and a.source.edition
        if a.id not in domain:
            assert a.confidence == "verify", a.id
        if a.kind in ("chemical",) and a.highly_toxic:
            assert "highly_toxic" in a.verify_fields, a.id


@pytest.mark.parametrize(("query", "expected"), [
    ("h2s", "h2s"), ("H2S", "h2s"), ("7783-06-4", "h2s"), ("硫化氢", "h2s"),
    ("Hydrogen Sulfide", "h2s"), ("  benzene ", "benzene"), ("butyl acetate", "butyl-acetate"),
    ("TDI", "tdi"), ("MnO2", "manganese"), ("radiation", "ionising-radiation")])
def test_lookup(query: str, expected: str) -> None:
    assert lookup(query).id == expected


def test_unknown_agent_suggests_close_matches() -> None:
    with pytest.raises(UnknownAgent) as info:
        lookup("benzen")
    assert "benzene" in info.value.suggestions
    assert "did you mean" in str(info.value)


def test_shared_cas_is_ambiguous() -> None:
    with pytest.raises(UnknownAgent, match="several agents") as info:
        lookup("14808-60-7")
    assert set(info.value.suggestions) == {"silica-dust-10-50", "silica-dust-50-80",
                                           "silica-dust-80"}


GOOD_ROW = """
agents:
  - id: test-gas
    kind: chemical
    zh: 测试气
    en: test gas
    cas: 7783-06-4
    mac: 1
    highly_toxic: false
    confidence: H
    source: {standard: GBZ 2.1-2019, edition: "2019", table: "表1 (Table 1)", row: 测试气}
"""


def test_good_row_parses() -> None:
    assert parse_catalogue(GOOD_ROW).get("test-gas").mac == 1


@pytest.mark.parametrize(("old", "new", "message"), [
    ("mac: 1", "mac: -1", "field mac"),
    ("cas: 7783-06-4", "cas: 7783-06-5", "field cas"),
    ("id: test-gas", "id: Test Gas", "field id"),
    ("confidence: H", "confidence: maybe", "field confidence"),
    ("mac: 1", "pc_twa: 5\n    pc_stel: 2", "field pc_stel"),
    ("mac: 1", "mac: 1\n    pc_twa_total: 1", "field pc_twa_total"),
    ("mac: 1", "mac: 1\n    colour: red", "field colour"),
])
def test_bad_row_names_row_and_field(old: str, new: str, message: str) -> None:
    text = GOOD_ROW.replace(old, new)
    with pytest.raises(CatalogueError, match=message) as info:
        parse_catalogue(text)
    assert "test-gas" in str(info.value) or "Test Gas" in str(info.value)


def test_duplicate_names_rejected() -> None:
    twice = GOOD_ROW + GOOD_ROW.split("agents:")[1].replace("id: test-gas", "id: other")
    with pytest.raises(CatalogueError, match=r"'other'.*already names 'test-gas'"):
        parse_catalogue(twice)
