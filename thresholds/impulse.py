"""Impulse noise: impulses counted per working day (shift) against GBZ 2.2-2007's peak limits.

GBZ 2.2-2007 cl. 11, Table 10: the LCpeak limit depends on the number of impulses a working
day: n <= 100: 140 dB(C); 100 < n <= 1000: 130; 1000 < n <= 10000: 120. The limit is picked
by the count, then every impulse of that day is judged against it.

An impulse, as occmon counts it (an occmon policy, not the standard's wording): one LCpeak
reading above ``threshold_db`` (default ``DEFAULT_IMPULSE_THRESHOLD_DB`` = 120 dB(C), the
strictest band: no impulse at or below it can break any limit of the table). A sound level
meter reports the highest peak of each interval (1 s on the Modbus profile); the standard's
impulses are at least 1 s apart, so one interval holds at most one. Impulses at or below the
threshold are not counted, so the count is a lower bound of the standard's n.

Missing data is never evidence of a breach: unmonitored time may have held more impulses,
which can only lower the limit. So a peak above the limit of the count seen is a proven
fail (the true count is at least that); a pass needs ``min_coverage`` *and* the count
extrapolated over the unmonitored time to keep the same verdict, else ``insufficient``.
More than 10,000 impulses is outside the table: any impulse above 120 dB(C) (the strictest
band, which a larger count cannot relax) fails, otherwise ``insufficient``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from thresholds.catalogue import NoiseLimits
from thresholds.noise import impulse_peak_limit
from thresholds.series import StepSeries
from thresholds.twa import DEFAULT_MIN_COVERAGE
from thresholds.types import ArrayLike, Verdict

DEFAULT_IMPULSE_THRESHOLD_DB = 120.0
STRICTEST_PEAK_DB = 120.0
MAX_PEAK_DB = 194.0     # the loudest undistorted sound in air: no threshold above it


@dataclass(frozen=True)
class ImpulseShift:
    """One working day's impulses (GBZ 2.2-2007 cl. 11, Table 10).

    ``count``: readings above ``threshold_db``; ``limit_db``: the band of that count (None
    above 10,000); ``over``: impulses above the limit (above 120 dB(C) when ``limit_db`` is
    None), from ``over_start`` (the first one's time) to ``over_end`` (the end of the last
    one's reading interval), seconds; ``projected_count``: the count scaled to the
    whole shift by its coverage (the count the unmonitored time could add up to).
    """

    count: int
    threshold_db: float
    max_peak_db: float
    limit_db: float | None
    over: int
    over_start: float | None
    over_end: float | None
    coverage: float
    projected_count: int
    verdict: Verdict

    @property
    def partial(self) -> bool:
        """Part of the shift was unmonitored: the count is a lower bound."""
        return self.coverage < 1.0


def impulse_shift(times: ArrayLike, peaks_db: ArrayLike, *, start: float, end: float,
                  max_gap: float, threshold_db: float = DEFAULT_IMPULSE_THRESHOLD_DB,
                  min_coverage: float = DEFAULT_MIN_COVERAGE,
                  limits: NoiseLimits | None = None) -> ImpulseShift:
    """The impulses of the shift [start, end) from LCpeak readings (dB(C)); a reading holds
    ``max_gap`` s at most (the coverage), a NaN reading is rejected (a gap)."""
    series = StepSeries.build(times, peaks_db, max_gap=max_gap, start=start, end=end)
    return impulse_shift_series(series, threshold_db=threshold_db, min_coverage=min_coverage,
                                limits=limits)


def impulse_shift_series(series: StepSeries, *, threshold_db: float = DEFAULT_IMPULSE_THRESHOLD_DB,
                         min_coverage: float = DEFAULT_MIN_COVERAGE,
                         limits: NoiseLimits | None = None) -> ImpulseShift:
    """``impulse_shift`` of a series already clipped to the shift."""
    if not 0.0 <= threshold_db <= MAX_PEAK_DB:
        raise ValueError(f"impulse threshold must be 0-{MAX_PEAK_DB:g} dB(C), got {threshold_db}")
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    impulses = series.v > threshold_db
    count = int(np.count_nonzero(impulses))
    top = float(series.v.max()) if series.v.size else float("nan")
    limit = impulse_peak_limit(count, limits)
    judged = STRICTEST_PEAK_DB if limit is None else limit
    over_at = np.flatnonzero(series.v > judged)
    projected = math.ceil(count / cover) if cover > 0 else count
    verdict: Verdict
    if over_at.size:
        verdict = "fail"    # the true count is at least ``count``: its limit is no higher
    elif limit is None or cover <= 0 or cover < min_coverage:
        verdict = "insufficient"
    else:
        band = impulse_peak_limit(projected, limits)
        verdict = "pass" if band is not None and not top > band else "insufficient"
    first = float(series.t[over_at[0]]) if over_at.size else None
    last = float(series.s[over_at[-1]]) if over_at.size else None
    return ImpulseShift(count, float(threshold_db), top, limit, int(over_at.size), first, last,
                        cover, projected, verdict)
