"""A worker's personal dose file (个人剂量档案): monitoring-period results judged against the
limits they are limits for.

GB 18871-2002 annex B1.1.1: effective dose 50 mSv in any single year and 20 mSv a year
averaged over 5 consecutive years (100 mSv in 5 years); lens of the eye 150 mSv a year; skin
and extremities 500 mSv a year. GBZ 128-2019: a monitoring period is usually 1 month and at
most 3 months; the investigation level is 5 mSv a year, i.e. 5 mSv / (periods a year) for one
period. A result above the investigation level starts an **investigation** (its outcome is
recorded); it is not a limit and never 超标. Hp(10) is taken as the effective dose, Hp(3) as
the lens dose and Hp(0.07) as the skin/extremity dose.

occmon's policies (docs/records.md, "Personal dose file"):
- a period's doses are shared among the calendar years it spans pro rata to its days;
- the 5-year limit is checked on every run of 5 consecutive calendar years on file (sliding),
  and on the years on file when there are fewer than 5;
- days between the first period's start and the last period's end that no period covers are
  unmonitored: a year (and a 5-year run) holding them is ``insufficient`` unless a limit is
  already proven broken; a complete result is never ``insufficient``;
- a period longer than 3 calendar months is kept and counted, and flagged ``over_3_months``;
- an organ dose (Hp(3), Hp(0.07)) not reported for a period is not judged for it (no figure is
  invented); a year is judged on the organ doses it has;
- periods a year for the investigation level: given, else round(365.25 / period days).

Pure: dates are arguments; no clock.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from thresholds.catalogue import RadiationLimits
from thresholds.radiation import radiation_limits
from thresholds.types import Verdict

_RANK = {"pass": 0, "insufficient": 1, "fail": 2}


def _worst(verdicts: Sequence[Verdict]) -> Verdict:
    return max(verdicts, key=_RANK.__getitem__) if verdicts else "insufficient"


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):   # the same day, or the month's last
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class PeriodResult:
    """One monitoring period's result (mSv); ``end`` is the period's last day (inclusive).

    ``below_mdl`` names the quantities ("hp10", "hp007", "hp3") reported below the minimum
    detectable level and entered by the substitution rule (the value given is already the
    substituted one). ``follow_up`` is the investigation's recorded outcome, if any.
    """

    start: dt.date
    end: dt.date
    hp10_msv: float
    hp007_msv: float | None = None
    hp3_msv: float | None = None
    below_mdl: tuple[str, ...] = ()
    follow_up: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period {self.start}..{self.end}: end is before start")
        for name, value in (("Hp(10)", self.hp10_msv), ("Hp(0.07)", self.hp007_msv),
                            ("Hp(3)", self.hp3_msv)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"period {self.start}..{self.end}: {name} must be a finite "
                                 f"dose >= 0 mSv, got {value}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class PeriodCheck:
    """A period as judged: its investigation level and whether it calls an investigation."""

    start: dt.date
    end: dt.date
    days: int
    hp10_msv: float
    periods_per_year: int
    investigation_level_msv: float
    investigate: bool
    follow_up: str | None
    over_3_months: bool
    below_mdl: tuple[str, ...]


@dataclass(frozen=True)
class YearDose:
    """One calendar year's doses (pro rata shares of the periods in it) and its verdict."""

    year: int
    hp10_msv: float
    hp3_msv: float | None
    hp007_msv: float | None
    span_days: int         # days of the year inside the file's span (first start..last end)
    unmonitored_days: int  # of those, days no period covers
    broken: tuple[str, ...]
    verdict: Verdict


@dataclass(frozen=True)
class FiveYears:
    """A run of up to 5 consecutive calendar years and its effective dose."""

    first_year: int
    last_year: int
    hp10_msv: float
    verdict: Verdict


@dataclass(frozen=True)
class DoseFile:
    periods: tuple[PeriodCheck, ...]
    years: tuple[YearDose, ...]
    five_years: tuple[FiveYears, ...]
    unmonitored: tuple[tuple[dt.date, dt.date], ...]   # uncovered runs of days, inclusive
    annual_verdict: Verdict
    five_year_verdict: Verdict
    verdict: Verdict
    limits: RadiationLimits
    investigations: tuple[int, ...] = field(default=())  # indices into ``periods``


def period_investigation_level(periods_per_year: int,
                               limits: RadiationLimits | None = None) -> float:
    """GBZ 128-2019: the annual investigation level (5 mSv) over the periods of a year."""
    if not 1 <= periods_per_year <= 366:
        raise ValueError(f"periods per year must be in 1..366, got {periods_per_year}")
    return radiation_limits(limits).investigation_msv_per_year / periods_per_year


def _share(p: PeriodResult, year: int) -> tuple[float, int]:
    """The fraction of ``p`` (by days) in calendar ``year``, and those days."""
    lo = max(p.start, dt.date(year, 1, 1))
    hi = min(p.end, dt.date(year, 12, 31))
    days = (hi - lo).days + 1 if hi >= lo else 0
    return days / p.days, days


def _gaps(periods: Sequence[PeriodResult]) -> list[tuple[dt.date, dt.date]]:
    out = []
    for a, b in pairwise(periods):
        if (b.start - a.end).days > 1:
            out.append((a.end + dt.timedelta(days=1), b.start - dt.timedelta(days=1)))
    return out


def dose_file(results: Sequence[PeriodResult], *, periods_per_year: int | None = None,
              limits: RadiationLimits | None = None) -> DoseFile:
    """Judge a worker's period results on each calendar year and each 5-year run.

    Fail on proof (a year's Hp(10) over 50 mSv, Hp(3) over 150, Hp(0.07) over 500; 5
    consecutive years over 100 mSv); else ``insufficient`` where days inside the file's span
    are unmonitored; else pass. Periods must not overlap (``ValueError`` names them).
    """
    lim = radiation_limits(limits)
    if not results:
        raise ValueError("no period results")
    periods = sorted(results, key=lambda p: p.start)
    for a, b in pairwise(periods):
        if b.start <= a.end:
            raise ValueError(f"periods {a.start}..{a.end} and {b.start}..{b.end} overlap: "
                             "a day's dose would be counted twice")
    checks = []
    for p in periods:
        n = periods_per_year if periods_per_year is not None else max(
            1, min(366, round(365.25 / p.days)))
        level = period_investigation_level(n, lim)
        checks.append(PeriodCheck(
            p.start, p.end, p.days, p.hp10_msv, n, level, p.hp10_msv > level, p.follow_up,
            p.end >= _add_months(p.start, 3), p.below_mdl))
    gaps = _gaps(periods)
    first, last = periods[0].start, periods[-1].end
    # each period's pro rata shares, added to the years it spans: one pass over the periods
    sums: dict[int, list[Any]] = {}   # year -> [hp10, hp3 | None, hp007 | None, covered days]
    for p in periods:
        for year in range(p.start.year, p.end.year + 1):
            frac, days = _share(p, year)
            acc = sums.setdefault(year, [0.0, None, None, 0])
            acc[0] += frac * p.hp10_msv
            if p.hp3_msv is not None:
                acc[1] = (acc[1] or 0.0) + frac * p.hp3_msv
            if p.hp007_msv is not None:
                acc[2] = (acc[2] or 0.0) + frac * p.hp007_msv
            acc[3] += days
    years = []
    for year in range(first.year, last.year + 1):
        hp10, hp3, hp007, covered = sums.get(year, [0.0, None, None, 0])
        lo, hi = max(first, dt.date(year, 1, 1)), min(last, dt.date(year, 12, 31))
        span = (hi - lo).days + 1
        broken = []
        if hp10 > lim.effective_single_year_msv:
            broken.append("effective_single_year")
        if hp3 is not None and hp3 > lim.lens_msv:
            broken.append("lens")
        if hp007 is not None and hp007 > min(lim.skin_msv, lim.extremities_msv):
            broken.append("skin_extremities")
        verdict: Verdict = ("fail" if broken else
                            "insufficient" if covered < span else "pass")
        years.append(YearDose(year, hp10, hp3, hp007, span, span - covered, tuple(broken),
                              verdict))
    runs = []
    width = min(5, len(years))
    for i in range(len(years) - width + 1):
        block = years[i:i + width]
        total = sum(y.hp10_msv for y in block)
        v: Verdict = ("fail" if total > 5 * lim.effective_5y_avg_msv else
                      "insufficient" if any(y.unmonitored_days for y in block) else "pass")
        runs.append(FiveYears(block[0].year, block[-1].year, total, v))
    annual = _worst([y.verdict for y in years])
    five = _worst([r.verdict for r in runs])
    return DoseFile(
        periods=tuple(checks), years=tuple(years), five_years=tuple(runs),
        unmonitored=tuple(gaps), annual_verdict=annual, five_year_verdict=five,
        verdict=_worst([annual, five]), limits=lim,
        investigations=tuple(i for i, c in enumerate(checks) if c.investigate))
