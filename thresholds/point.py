"""Every airborne-exposure metric of one monitoring point's shift, from one step series.

The separate functions (``shift_twa``, ``stel_max``, ``mac_exceedances``,
``peak_excursions``) each rebuild the step series from the raw arrays; a point assessed on
all of them pays that once here, and the series' derived arrays (durations, cumulative sums)
are shared. Results equal those of the separate functions given the same window: the others
with ``start``/``end``, ``shift_twa`` with ``hours=(end - start) / 3600`` (exactly so when
that round-trips, ``start + hours * 3600 == end``, as with whole seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from thresholds.series import StepSeries
from thresholds.shortterm import (
    MacResult,
    PeakResult,
    mac_exceedances_series,
    peak_excursions_series,
)
from thresholds.stel import STEL_WINDOW_S, StelResult, stel_max_series
from thresholds.twa import DEFAULT_MIN_COVERAGE, ShiftTWA, Unmonitored, shift_twa_series
from thresholds.types import ArrayLike


@dataclass(frozen=True)
class PointMetrics:
    """A point's shift: C_TWA always; STEL, MAC and PE when asked for (else None)."""

    twa: ShiftTWA
    stel: StelResult | None
    mac: MacResult | None
    peaks: PeakResult | None


def assess_point(times: ArrayLike, values: ArrayLike, *, start: float, end: float,
                 max_gap: float, stel: bool = True, mac: float | None = None,
                 pc_twa: float | None = None, window: float = STEL_WINDOW_S,
                 unmonitored: Unmonitored = "missing",
                 min_coverage: float = DEFAULT_MIN_COVERAGE,
                 min_window_coverage: float = DEFAULT_MIN_COVERAGE) -> PointMetrics:
    """C_TWA over the shift [start, end), and on request the largest ``window`` TWA
    (``stel``), MAC exceedances (``mac`` given) and peak excursions (``pc_twa`` given).

    Same conventions and arguments as the separate functions; ``min_coverage`` is the TWA's,
    ``min_window_coverage`` the STEL windows'.
    """
    series = StepSeries.build(times, values, max_gap=max_gap, start=start, end=end)
    return PointMetrics(
        twa=shift_twa_series(series, unmonitored=unmonitored, min_coverage=min_coverage),
        stel=stel_max_series(series, window=window, unmonitored=unmonitored,
                             min_window_coverage=min_window_coverage) if stel else None,
        mac=mac_exceedances_series(series, mac=mac) if mac is not None else None,
        peaks=peak_excursions_series(series, pc_twa=pc_twa, bridge=max_gap)
        if pc_twa is not None else None,
    )
