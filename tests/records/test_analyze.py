"""One step series per point (``analyze.Readings``) gives the figures of building one per window.

The analyzer slices each window's series out of one built over the day and its shifts; these
tests hold it to what ``thresholds`` computes from the window's readings directly, bit for
bit, on irregular readings with rejected values and gaps, and shifts past midnight.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

import thresholds
from ingest.daily.analyze import Readings, Series, _shift_twa, analyze, clip, num
from ingest.daily.memory import keep_freed_memory
from ingest.daily.spec import PointSpec, point_spec
from ingest.daily.windows import Window, day_window, zone
from occmon.config import load
from occmon.config.records import Shift
from occmon.config.schema import SiteConfig

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"
DAY = dt.date(2026, 5, 12)
TZ = zone("Asia/Shanghai")
NIGHT = [Shift(name="night", start="22:00", hours=8), Shift(name="day", start="06:00", hours=8),
         Shift(name="half", start="14:00", hours=7.5)]


@pytest.fixture(scope="module")
def config() -> SiteConfig:
    return load(DEMO)


def _spec(config: SiteConfig, agent: str) -> PointSpec:
    point = next(p for p in config.points if p.agent == agent)
    return point_spec(config, point)


def _windows() -> tuple[Window, list[Window]]:
    day = day_window(DAY, TZ)
    shifts = []
    for s in NIGHT:
        start = dt.datetime.combine(DAY, s.start_time(), tzinfo=TZ).timestamp()
        shifts.append(Window(s.name, start, start + s.hours * 3600.0))
    return day, shifts


def _day(seed: int, level: float, start: float, end: float) -> Series:
    """Jittered ~20 s readings over [start - 1 h, end): rejected ones, a 40-min gap and
    surges of several lengths."""
    rng = np.random.default_rng(seed)
    steps = rng.uniform(5.0, 35.0, int((end - start + 3600) / 20) + 10)
    t = start - 3600.0 + np.cumsum(steps)
    t = t[t < end]
    v = rng.lognormal(np.log(level), 0.4, t.size)
    v[rng.random(t.size) < 0.03] = np.nan
    for at, minutes, factor in ((0.3, 12, 4.0), (0.55, 40, 2.5), (0.8, 3, 8.0)):
        i = int(at * t.size)
        v[i:i + minutes * 3] = factor * level
    gap = (t > start + 0.6 * (end - start)) & (t < start + 0.6 * (end - start) + 2400)
    return t[~gap], v[~gap]


def _same_series(a: thresholds.StepSeries, b: thresholds.StepSeries) -> None:
    assert (a.start, a.end) == (b.start, b.end)
    for x, y in ((a.t, b.t), (a.s, b.s), (a.v, b.v)):
        assert x.shape == y.shape
        assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("seed", range(6))
def test_held_is_exactly_the_series_built_from_the_window_readings(config: SiteConfig,
                                                                   seed: int) -> None:
    spec = _spec(config, "ammonia")
    day, shifts = _windows()
    lo, hi = day.start, max(w.end for w in shifts)
    raw = _day(seed, 10.0, lo, hi + 7200)
    readings = Readings(spec, {"concentration": raw}, lo, hi)
    hold = spec.hold("concentration")
    t, _ = raw
    inside = t[(t >= lo) & (t < hi)]
    edges = [(day.start, day.end), *((w.start, w.end) for w in shifts),
             (float(inside[5]), float(inside[40])),          # edges at reading times
             (float(inside[5]) + 0.5, float(inside[5]) + 0.7),  # no reading in it
             (lo, lo), (hi - 10.0, hi),
             (lo - 600.0, lo + 600.0), (hi - 600.0, hi + 600.0)]  # past the span: built alone
    for a, b in edges:
        expected = thresholds.StepSeries.build(*clip(raw, a, b), max_gap=hold, start=a, end=b)
        got = readings.held("concentration", a, b)
        _same_series(got, expected)
        assert got.monitored() == expected.monitored()
        assert got.integral() == expected.integral()


def test_analyze_gives_the_figures_of_the_window_functions(config: SiteConfig) -> None:
    day, shifts = _windows()
    lo, hi = day.start, max(w.end for w in shifts)
    checked = 0
    for seed, agent in enumerate(("ammonia", "h2s", "cement-dust", "ammonia", "h2s")):
        spec = _spec(config, agent)
        limit = spec.limits.mac or spec.pc_twa or 1.0
        raw = _day(seed, 0.4 * limit, lo, hi)
        hold = spec.hold("concentration")
        readings = Readings(spec, {"concentration": raw}, lo, hi)
        for win, twa_wins in ((day, shifts), *((w, [w]) for w in shifts)):
            out = analyze(spec, readings, win, twa_wins, 0.75)
            t, v = clip(raw, win.start, win.end)
            kw = {"start": win.start, "end": win.end, "max_gap": hold}
            good = v[np.isfinite(v)]
            assert out.fields["readings"] == good.size
            assert out.fields["mean"] == num(float(good.mean()))
            if spec.pc_twa is not None:
                twas = [thresholds.shift_twa(*clip(raw, w.start, w.end), start=w.start,
                                             hours=w.hours, max_gap=hold).c_twa
                        for w in twa_wins]
                assert out.fields["c_twa"] == num(max(x for x in twas if np.isfinite(x)))
            if spec.limits.pc_stel is not None:
                stel = thresholds.stel_max(t, v, start=win.start, end=win.end, max_gap=hold)
                assert out.fields["stel_max"] == num(stel.stel_max)
                checked += 1
            if spec.limits.mac is not None:
                mac = thresholds.mac_exceedances(t, v, mac=spec.limits.mac, **kw)
                got = [(e["start"], e["end"], e["peak"]) for e in out.events
                       if e["type"] == "mac"]
                assert got == [(num(i.start, 3), num(i.end, 3), num(i.max))
                               for i in mac.exceedances]
                checked += bool(got)
            if spec.pc_twa is not None and spec.limits.pc_stel is None:
                # per working day: each shift of twa_wins on its own (GBZ 2.1-2019 cl. 3)
                pes = [thresholds.peak_excursions(*clip(raw, w.start, w.end),
                                                  pc_twa=spec.pc_twa, start=w.start,
                                                  end=w.end, max_gap=hold)
                       for w in twa_wins]
                assert out.fields["peak_excursions"] == sum(len(p.excursions) for p in pes)
                assert out.fields["pe_broken"] == [r for r in thresholds.PE_RULES
                                                   if any(r in p.broken for p in pes)]
                assert [out.verdicts[f"peak:{w.name}"] for w in twa_wins] == [
                    p.verdict(0.75) for p in pes]
                checked += any(p.excursions for p in pes)
    assert checked >= 8  # STEL on every NH3 window, some MAC and PE events seen


def test_shift_twa_of_a_window_that_does_not_round_trip_its_hours(config: SiteConfig) -> None:
    spec = _spec(config, "ammonia")
    day, _ = _windows()
    raw = _day(9, 10.0, day.start, day.end)
    readings = Readings(spec, {"concentration": raw}, day.start, day.end)
    start = day.start + 3600.0
    rng = np.random.default_rng(5)
    end = next(e for e in (start + rng.uniform(1000.0, 30000.0) for _ in range(10_000))
               if e - start != (e - start) / 3600.0 * 3600.0)  # the shift's length differs
    w = Window("odd", start, end)
    expected = thresholds.shift_twa(*clip(raw, start, end), start=start, hours=w.hours,
                                    max_gap=spec.hold("concentration"))
    assert _shift_twa(readings, "concentration", w, 0.75) == expected
    w = Window("round", start, start + 3 * 3600.0)
    expected = thresholds.shift_twa(*clip(raw, w.start, w.end), start=w.start, hours=w.hours,
                                    max_gap=spec.hold("concentration"))
    assert _shift_twa(readings, "concentration", w, 0.75) == expected


def test_records_config_shifts_past_midnight_are_analysed_once_per_window(
        config: SiteConfig) -> None:
    # the close analyses the day then each shift with one Readings: its series is built once
    spec = _spec(config, "cement-dust")
    day, shifts = _windows()
    raw = _day(3, 2.0, day.start, shifts[0].end)
    readings = Readings(spec, {"concentration": raw}, day.start, shifts[0].end)
    analyze(spec, readings, day, shifts, 0.75)
    for w in shifts:
        analyze(spec, readings, w, [w], 0.75)
    assert list(readings._spans) == ["concentration"]


def test_malloc_thresholds_are_set_once_on_glibc() -> None:
    import platform

    first = keep_freed_memory()
    assert keep_freed_memory() is first
    assert first is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
