"""Short-term metrics: MAC exceedances and peak excursions (PE); the STEL is in ``stel``.

GBZ 2.1-2019 clause 3: MAC must not be exceeded at any time; for an agent with a PC-TWA and
no PC-STEL (dusts included), excursions above 3 x PC-TWA last at most 15 min each, happen at
most 4 times a working day, at least 1 h apart, and never exceed 5 x PC-TWA.

Runs above a threshold come from the step function of ``thresholds.series`` without any
Python loop over readings.
"""

from __future__ import annotations

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
class PeakResult:
    """Excursions above 3 x PC-TWA and which PE rules broke (GBZ 2.1-2019 cl. 3)."""

    pc_twa: float
    excursions: tuple[Interval, ...]
    broken: tuple[str, ...]
    coverage: float


PE_RULES = {
    "duration": "each excursion above 3 x PC-TWA at most 15 min",
    "count": "at most 4 excursions a working day",
    "spacing": "excursions at least 1 h apart",
    "ceiling": "never above 5 x PC-TWA",
}


def peak_excursions(times: ArrayLike, values: ArrayLike, *, pc_twa: float, start: float,
                    end: float, max_gap: float) -> PeakResult:
    """Excursions above 3 x PC-TWA with the PE rules they break (keys of ``PE_RULES``).

    Spacing is measured from the end of one excursion to the start of the next.
    """
    series = StepSeries.build(times, values, max_gap=max_gap, start=start, end=end)
    return peak_excursions_series(series, pc_twa=pc_twa)


def peak_excursions_series(series: StepSeries, *, pc_twa: float) -> PeakResult:
    """``peak_excursions`` of a series already clipped to the shift."""
    starts, stops, peaks = series.runs(series.v > PE_MULTIPLE * pc_twa)
    excursions = tuple(Interval(float(a), float(b), float(m)) for a, b, m in
                       zip(starts.tolist(), stops.tolist(), peaks.tolist(), strict=True))
    broken = []
    if np.any(stops - starts > PE_MAX_DURATION_S):
        broken.append("duration")
    if starts.size > PE_MAX_COUNT:
        broken.append("count")
    if np.any(starts[1:] - stops[:-1] < PE_MIN_SPACING_S):
        broken.append("spacing")
    if np.any(peaks > PE_CEILING_MULTIPLE * pc_twa):
        broken.append("ceiling")
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    return PeakResult(pc_twa, excursions, tuple(broken), cover)
