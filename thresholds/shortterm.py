"""Short-term metrics: MAC exceedances and peak excursions (PE); the STEL is in ``stel``.

GBZ 2.1-2019 clause 3: MAC must not be exceeded at any time; for an agent with a PC-TWA and
no PC-STEL (dusts included), excursions above 3 x PC-TWA last at most 15 min each, happen at
most 4 times a working day, at least 1 h apart, and never exceed 5 x PC-TWA. The working day
is the shift (``peak_excursions_per_shift``), not the calendar day. A sampling gap is missing
data: shorter than the sensor's expiry it never splits an excursion, and no gap is evidence of
a breach (rules a gap leaves open are ``undetermined``, the verdict ``insufficient``).

Runs above a threshold come from the step function of ``thresholds.series`` without any
Python loop over readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thresholds.series import StepSeries
from thresholds.twa import DEFAULT_MIN_COVERAGE
from thresholds.types import ArrayLike, Verdict

PE_MULTIPLE = 3.0
PE_CEILING_MULTIPLE = 5.0
PE_MAX_DURATION_S = 15 * 60.0
PE_MAX_COUNT = 4
PE_MIN_SPACING_S = 3600.0


def evidence_verdict(failed: bool, coverage: float,
                     min_coverage: float = DEFAULT_MIN_COVERAGE) -> Verdict:
    """A breach seen is a fail whatever the coverage; a pass needs enough coverage."""
    if failed:
        return "fail"
    return "pass" if coverage >= min_coverage else "insufficient"


@dataclass(frozen=True)
class Interval:
    """A run of readings above a threshold: [start, end) seconds and the highest reading."""

    start: float
    end: float
    max: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def _intervals(series: StepSeries, threshold: float) -> tuple[Interval, ...]:
    starts, stops, peaks = series.runs(series.v > threshold)
    return tuple(Interval(float(a), float(b), float(m))
                 for a, b, m in zip(starts.tolist(), stops.tolist(), peaks.tolist(), strict=True))


@dataclass(frozen=True)
class MacResult:
    """MAC exceedances in a shift (GBZ 2.1-2019 cl. 3: never to be exceeded)."""

    mac: float
    exceedances: tuple[Interval, ...]
    max_value: float
    coverage: float

    @property
    def exceeded(self) -> bool:
        return bool(self.exceedances)


def mac_exceedances(times: ArrayLike, values: ArrayLike, *, mac: float, start: float,
                    end: float, max_gap: float) -> MacResult:
    """Intervals where readings are above MAC, with duration and maximum; the shift maximum."""
    series = StepSeries.build(times, values, max_gap=max_gap, start=start, end=end)
    return mac_exceedances_series(series, mac=mac)


def mac_exceedances_series(series: StepSeries, *, mac: float) -> MacResult:
    """``mac_exceedances`` of a series already clipped to the shift."""
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    return MacResult(mac, _intervals(series, mac), series.value_range[1], cover)


@dataclass(frozen=True)
class Excursion(Interval):
    """A PE excursion: [start, end) spans any gap it bridged; ``held_s`` is the time readings
    above 3 x PC-TWA actually held (the monitored part), the figure a breach is proven on."""

    held_s: float


@dataclass(frozen=True)
class PeakResult:
    """Excursions above 3 x PC-TWA in one working day (shift) and which PE rules broke
    (GBZ 2.1-2019 cl. 3).

    ``broken``: rules the monitored readings prove broken. ``undetermined``: rules that
    unmonitored time leaves open (a gap of at least ``bridge`` s between two excursions
    hides whether they were one, longer excursion or two close ones): missing data is never
    evidence of a breach, nor of compliance. ``separate``: excursions proven separate (with
    monitored time at or below 3 x PC-TWA between them), the number the count rule uses.
    """

    pc_twa: float
    excursions: tuple[Excursion, ...]
    broken: tuple[str, ...]
    coverage: float
    undetermined: tuple[str, ...] = ()
    separate: int = 0
    bridge_s: float = 0.0

    @property
    def partial(self) -> bool:
        """Part of the shift was unmonitored: the verdict rests on partial data."""
        return self.coverage < 1.0

    def verdict(self, min_coverage: float = DEFAULT_MIN_COVERAGE) -> Verdict:
        """Fail on a proven breach; ``insufficient`` while a gap leaves a rule open or the
        coverage is below ``min_coverage``; else pass."""
        if self.broken:
            return "fail"
        if self.undetermined:
            return "insufficient"
        return evidence_verdict(False, self.coverage, min_coverage)


PE_RULES = {
    "duration": "each excursion above 3 x PC-TWA at most 15 min",
    "count": "at most 4 excursions a working day",
    "spacing": "excursions at least 1 h apart",
    "ceiling": "never above 5 x PC-TWA",
}


def peak_excursions(times: ArrayLike, values: ArrayLike, *, pc_twa: float, start: float,
                    end: float, max_gap: float, bridge: float | None = None) -> PeakResult:
    """Excursions above 3 x PC-TWA in the working day [start, end) with the PE rules they
    break (keys of ``PE_RULES``; GBZ 2.1-2019 cl. 3).

    ``bridge`` (default ``max_gap``, the sensor's expiry): unmonitored time shorter than it
    between two readings above 3 x PC-TWA does not split the excursion (rejected readings in
    the middle of a peak are a sensor fault, not a dip). Spacing is measured from the end of
    one excursion to the start of the next.
    """
    series = StepSeries.build(times, values, max_gap=max_gap, start=start, end=end)
    return peak_excursions_series(series, pc_twa=pc_twa,
                                  bridge=max_gap if bridge is None else bridge)


def peak_excursions_series(series: StepSeries, *, pc_twa: float, bridge: float) -> PeakResult:
    """``peak_excursions`` of a series already clipped to one working day (shift).

    Runs are built on the segments above 3 x PC-TWA only (few), never a loop over readings.
    Two such segments next to each other (no monitored reading at or below 3 x PC-TWA
    between them) are one excursion when the unmonitored time between them is under
    ``bridge``; otherwise two excursions that are not *proven* separate. Rules:
    duration broken when an excursion held above 3x for over 15 min (``held_s``), open when
    only its span with the gaps does; count broken by more than 4 proven-separate
    excursions, open when the gap-split ones make more than 4; spacing broken by proven-
    separate excursions under 1 h apart, open when only a gap separates them by less;
    ceiling broken by any reading above 5 x PC-TWA.
    """
    if not bridge >= 0:
        raise ValueError(f"bridge must be >= 0 s, got {bridge}")
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    at = np.flatnonzero(series.v > PE_MULTIPLE * pc_twa)
    if at.size == 0:
        return PeakResult(pc_twa, (), (), cover, (), 0, bridge)
    t, s, v = series.t[at], series.s[at], series.v[at]
    neighbours = np.diff(at) == 1            # nothing monitored at or below 3x between
    gap = t[1:] - s[:-1]                     # unmonitored time between (0: contiguous)
    same_run = neighbours & ((gap <= 0) | (gap < bridge))
    heads = np.flatnonzero(np.concatenate(([True], ~same_run)))
    tails = np.append(heads[1:] - 1, at.size - 1)
    starts, stops = t[heads], s[tails]
    peaks = np.maximum.reduceat(v, heads)
    held = np.add.reduceat(s - t, heads)
    # a run after the first starts a new proven-separate group unless only a gap precedes it
    new_group = np.concatenate(([True], ~neighbours[heads[1:] - 1]))
    group_heads = np.flatnonzero(new_group)
    group_tails = np.append(group_heads[1:] - 1, heads.size - 1)
    g_start, g_stop = starts[group_heads], stops[group_tails]
    broken: list[str] = []
    open_: list[str] = []
    if np.any(held > PE_MAX_DURATION_S):
        broken.append("duration")
    elif np.any(g_stop - g_start > PE_MAX_DURATION_S):
        open_.append("duration")
    if group_heads.size > PE_MAX_COUNT:
        broken.append("count")
    elif heads.size > PE_MAX_COUNT:
        open_.append("count")
    if np.any(g_start[1:] - g_stop[:-1] < PE_MIN_SPACING_S):
        broken.append("spacing")
    elif np.any((starts[1:] - stops[:-1] < PE_MIN_SPACING_S) & ~new_group[1:]):
        open_.append("spacing")
    if np.any(peaks > PE_CEILING_MULTIPLE * pc_twa):
        broken.append("ceiling")
    excursions = tuple(Excursion(float(a), float(b), float(m), float(h)) for a, b, m, h in
                       zip(starts.tolist(), stops.tolist(), peaks.tolist(), held.tolist(),
                           strict=True))
    return PeakResult(pc_twa, excursions, tuple(broken), cover, tuple(open_),
                      int(group_heads.size), bridge)


def peak_excursions_per_shift(times: ArrayLike, values: ArrayLike, *, pc_twa: float,
                              shifts: Sequence[tuple[float, float]], max_gap: float,
                              bridge: float | None = None) -> list[PeakResult]:
    """``peak_excursions`` of each working day (shift) [start, end): the PE count, spacing
    and duration rules hold per working day (GBZ 2.1-2019 cl. 3), never per calendar day,
    so excursions of two shifts are never counted together."""
    return [peak_excursions(times, values, pc_twa=pc_twa, start=a, end=b, max_gap=max_gap,
                            bridge=bridge) for a, b in shifts]
