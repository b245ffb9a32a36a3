"""Alarm set-points (GBZ/T 223-2009, GB/T 50493-2019) and EN 689:2018 tests."""

from __future__ import annotations

import pytest

from thresholds import SetPoints, en689_preliminary, en689_utl_test, lookup, setpoints, u_threshold


@pytest.mark.parametrize(("agent", "pre", "alarm", "high"), [
    ("h2s", 5, 10, 20),            # MAC 10
    ("cl2", 0.5, 1, 2),            # MAC 1
    ("nh3", 15, 30, 60),           # PC-STEL 30
    ("benzene", 3, 6, 12),         # amended PC-STEL 6 applies by default
    ("lead-fume", 0.045, 0.09, 0.18),   # TWA only: 3 x 0.03
    ("silica-dust-80", 0.75, 1.5, 3.0),
])
def test_gbzt223(agent: str, pre: float, alarm: float, high: float) -> None:
    sp = setpoints(lookup(agent))
    assert (sp.pre_alarm, sp.alarm, sp.high_alarm) == pytest.approx((pre, alarm, high))
    assert sp.unit == "mg/m3" and sp.profile == "GBZ/T 223"
    assert "GBZ/T 223-2009" in sp.derivation["pre_alarm"]
    assert "employer" in sp.derivation["high_alarm"]


def test_twa_only_derivation_says_inference() -> None:
    sp = setpoints(lookup("vinyl-chloride"))
    assert sp.alarm == 30 and "inference" in sp.derivation["alarm"]
    assert "peak-exposure" in sp.derivation["alarm"]


@pytest.mark.parametrize(("agent", "pre", "alarm", "unit"), [
    ("h2s", 10, 20, "mg/m3"), ("co", 30, 60, "mg/m3"), ("methane", 25, 50, "%LEL")])
def test_gbt50493(agent: str, pre: float, alarm: float, unit: str) -> None:
    sp = setpoints(lookup(agent), "GB/T 50493")
    assert (sp.pre_alarm, sp.alarm, sp.unit) == (pre, alarm, unit)
    assert "GB/T 50493-2019 cl. 5.5.2" in sp.derivation["alarm"]


def test_gbt50493_oxygen() -> None:
    sp = setpoints(lookup("oxygen"), "GB/T 50493")
    assert (sp.low_alarm, sp.alarm, sp.unit) == (19.5, 23.5, "%vol")


def test_overrides_are_recorded() -> None:
    sp = setpoints(lookup("h2s"), overrides={"high_alarm": 30.0})
    assert isinstance(sp, SetPoints) and sp.high_alarm == 30.0
    assert sp.derivation["high_alarm"].startswith("override")
    assert not sp.derivation["alarm"].startswith("override")
    with pytest.raises(ValueError, match="rise"):
        setpoints(lookup("h2s"), overrides={"pre_alarm": 50.0})
    with pytest.raises(ValueError, match="not a set-point"):
        setpoints(lookup("h2s"), overrides={"siren": 1.0})


def test_setpoint_errors() -> None:
    with pytest.raises(ValueError, match="unknown set-point profile"):
        setpoints(lookup("h2s"), "ISO 1")
    with pytest.raises(ValueError, match="GB/T 50493"):
        setpoints(lookup("methane"))
    with pytest.raises(ValueError, match="airborne"):
        setpoints(lookup("noise"))


# ---- EN 689:2018 ----

@pytest.mark.parametrize(("n", "u_t"), [(6, 2.187), (10, 2.005)])
def test_u_threshold_domain_values(n: int, u_t: float) -> None:
    assert u_threshold(n) == u_t


# Recollection of the EN 689:2018 Annex F table (not checked against the printed text: verify).
ANNEX_F = {7: 2.120, 8: 2.072, 9: 2.035, 11: 1.981, 12: 1.961, 13: 1.944, 14: 1.929,
           15: 1.917, 16: 1.905, 17: 1.895, 18: 1.886, 19: 1.878, 20: 1.870, 21: 1.863,
           22: 1.857, 23: 1.851, 24: 1.846, 25: 1.841, 26: 1.836, 27: 1.832, 28: 1.828,
           29: 1.824, 30: 1.820}


@pytest.mark.parametrize("n", sorted(ANNEX_F))
def test_u_threshold_table(n: int) -> None:
    assert u_threshold(n) == pytest.approx(ANNEX_F[n], abs=0.0015)


def test_u_threshold_decreases() -> None:
    values = [u_threshold(n) for n in range(6, 31)]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize(("results", "outcome"), [
    ([0.5, 0.9, 0.99], "compliant"),                  # 3 < 0.1 OEL (OEL 10)
    ([0.5, 0.9, 1.0], "inconclusive"),                # 1.0 is not < 0.1 x 10
    ([1.4, 1.4, 1.4, 1.4], "compliant"),              # 4 < 0.15 OEL
    ([1.9, 1.9, 1.9, 1.9, 1.9], "compliant"),         # 5 < 0.2 OEL
    ([1.9, 1.9, 1.9, 1.9, 2.1], "inconclusive"),
    ([0.1, 0.1, 11.0], "non-compliant"),              # any > OEL
    ([0.1, 0.1], "inconclusive"),
])
def test_preliminary(results: list[float], outcome: str) -> None:
    assert en689_preliminary(results, 10.0).outcome == outcome


def test_utl_test() -> None:
    # ln x with mean m, sd s: compliant iff (ln OEL - m)/s >= 2.187 at n = 6.
    good = [1.0, 1.2, 0.8, 1.1, 0.9, 1.0]
    r = en689_utl_test(good, 10.0)
    assert r.outcome == "compliant" and r.u_t == 2.187 and r.u_r is not None and r.u_r > 2.187
    bad = [1.0, 5.0, 0.5, 8.0, 2.0, 3.0]
    assert en689_utl_test(bad, 10.0).outcome == "non-compliant"
    assert en689_utl_test(good[:5], 10.0).outcome == "inconclusive"
    with pytest.raises(ValueError, match="> 0"):
        en689_utl_test([0.0, *good[1:]], 10.0)


def test_fixed_point_results_are_advisory() -> None:
    r = en689_utl_test([1.0, 1.2, 0.8, 1.1, 0.9, 1.0], 10.0, fixed_point=True)
    assert r.advisory and "advisory" in r.detail
    assert not en689_preliminary([0.1, 0.1, 0.1], 10.0).advisory
