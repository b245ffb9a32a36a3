"""Mixtures with the same health effect: I = sum(C_i / L_i) <= 1, by hand."""

from __future__ import annotations

import math

import pytest

from thresholds import MixtureTerm, mixture_assessment


def test_each_agent_passes_alone_but_the_mixture_fails() -> None:
    # toluene 20/50 = 0.4, xylene 15/50 = 0.3, ethylbenzene 60/100 = 0.6: I = 1.3 > 1
    r = mixture_assessment([MixtureTerm("toluene", 20, 20, 50), MixtureTerm("xylene", 15, 15, 50),
                            MixtureTerm("ethylbenzene", 60, 60, 100)])
    assert r.index == pytest.approx(1.3) and r.verdict == "fail"
    assert [t.ratio for t in r.terms] == pytest.approx([0.4, 0.3, 0.6])


def test_index_equal_to_one_passes() -> None:
    # 0.4 + 0.3 + 30/100 = 1.0: "not exceeding" passes
    r = mixture_assessment([MixtureTerm("toluene", 20, 20, 50), MixtureTerm("xylene", 15, 15, 50),
                            MixtureTerm("ethylbenzene", 30, 30, 100)])
    assert r.index == pytest.approx(1.0) and r.verdict == "pass"


def test_missing_data_is_insufficient_unless_the_lower_bound_is_over() -> None:
    # toluene half monitored: extrapolated 20 (0.4), lower bound 10 (0.2); xylene 0.3
    half = MixtureTerm("toluene", 20, 10, 50, sufficient=False)
    r = mixture_assessment([half, MixtureTerm("xylene", 15, 15, 50)])
    assert r.index_lower == pytest.approx(0.5) and r.verdict == "insufficient"
    # lower bounds 0.2 + 45/50 = 1.1 > 1: proven whatever the unmonitored time held
    over = mixture_assessment([half, MixtureTerm("xylene", 45, 45, 50)])
    assert over.index_lower == pytest.approx(1.1) and over.verdict == "fail"
    nan = mixture_assessment([MixtureTerm("toluene", math.nan, 0.0, 50, False),
                              MixtureTerm("xylene", 15, 15, 50)])
    assert nan.verdict == "insufficient"


def test_a_mixture_needs_two_agents_and_positive_limits() -> None:
    with pytest.raises(ValueError, match="at least two"):
        mixture_assessment([MixtureTerm("toluene", 20, 20, 50)])
    with pytest.raises(ValueError, match="must be > 0"):
        mixture_assessment([MixtureTerm("a", 1, 1, 0), MixtureTerm("b", 1, 1, 1)])
