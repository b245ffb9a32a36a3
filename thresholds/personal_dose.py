"""The rules of a worker's personal dose file beyond the adult limits of ``dosefile``: the
90-day period, results below the detection limit, the recording level, a lost dosimeter's
nominal dose, the limits of 16-18-year-olds and of a declared pregnancy, and the alerts that
tell an officer a worker is nearing a limit.

Figures and where they come from (docs/workers.md, "Personal dose file"):
- GB 18871-2002 附录B B1.1.1.1: effective 50 mSv in one year, 100 mSv in 5 consecutive years
  (20 a year averaged); lens 150, extremities and skin 500 mSv a year (``dosefile``).
- GB 18871-2002 附录B B1.1.1.2 (DOMAIN.md writes "B1.1.2"): apprentices and students aged
  16-18: effective 6 mSv a year, lens 50, extremities and skin 150 mSv a year. occmon applies
  them to the dose received before the 18th birthday, in each calendar year.
- Declared pregnancy (GB 18871-2002 6.4.2.1, verify clause; DOMAIN.md section 3): the
  embryo/foetus is protected to the public level, 1 mSv (GB 18871-2002 附录B B1.2.1) for the
  rest of the pregnancy; occmon sums Hp(10) from the declaration day on (configurable).
- GBZ 128-2019 (DOMAIN.md section 3): a monitoring period is at most 3 months (a calendar
  quarter: 90-92 days; DOMAIN.md's "90 days" would refuse most quarters); the
  investigation level is 5 mSv a year over the periods of a year. A result below the minimum
  detectable level (MDL) is entered as MDL x 0.5 (``thresholds.lod``; verify clause; the
  factor is the site's). The recording level is the site's (default 1 mSv a year over the
  periods of a year, verify against GBZ 128-2019): a result below it is still counted as
  reported and only marked, so no dose is ever dropped.
- A lost dosimeter's nominal dose (occmon's rule, verify against GBZ 128-2019): the worker's
  own dose over the same days one year earlier, when those days were monitored; else the
  annual dose limit pro rata to the period's days (20 mSv, or 6 before the 18th birthday);
  or a figure an officer gives with its basis. It is always a recorded entry with who and why.

Pure: dates are arguments; no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from thresholds.catalogue import RadiationLimits
from thresholds.dosefile import DoseFile, PeriodResult, YearDose, _add_months, dose_file
from thresholds.radiation import radiation_limits
from thresholds.types import Verdict

# GBZ 128-2019 (DOMAIN.md section 3): a period is at most 3 months. DOMAIN.md also writes
# "at most 90 days"; a calendar quarter is 90 to 92 days, so occmon refuses a period that
# reaches 3 calendar months after its start (the longest quarter, 92 days, passes).
MAX_PERIOD_DAYS = 92
# GB 18871-2002 附录B B1.1.1.2: apprentices and students aged 16-18 (mSv a year)
MINOR_EFFECTIVE_MSV = 6.0
MINOR_LENS_MSV = 50.0
MINOR_EXTREMITIES_MSV = 150.0
MINOR_SOURCE = "GB 18871-2002 附录B B1.1.1.2"
ADULT_SOURCE = "GB 18871-2002 附录B B1.1.1.1"
PREGNANCY_SOURCE = "GB 18871-2002 6.4.2.1 (verify), public level 附录B B1.2.1"
NOMINAL_METHODS = ("previous-year", "pro-rata-limit", "given")
EARLIEST = dt.date(1950, 1, 1)
LATEST = dt.date(2199, 12, 31)  # the API's day window (api.timeparams)
AlertLevel = Literal["approaching", "exceeded"]
# The steps at which a raised (stored, pushed) alert is made, as fractions of each limit
# (docs/workers.md, "Dose alerts"). Against the 50 mSv year (GB 18871-2002 附录B B1.1.1.1):
# 0.3 = 15 mSv, three times GBZ 128-2019's 5 mSv annual investigation level; 0.6 = 30 mSv, more
# than the 20 mSv a year the 5-year limit allows on average (the year has spent more than
# its share); 0.9 = 45 mSv, the last warning (one more average quarter, 5 mSv, breaks it).
# Above the limit is always an ``exceeded`` alert; a period above its investigation level
# (GBZ 128-2019) is an ``investigate`` alert.
ALERT_FRACTIONS = (0.3, 0.6, 0.9)
INVESTIGATION_SOURCE = "GBZ 128-2019 (investigation level, 5 mSv a year over the periods)"
FRACTION_TOLERANCE_MSV = 1e-9  # pro-rata shares: 29.999999999 mSv reaches 0.6 x 50
_RANK = {"pass": 0, "insufficient": 1, "fail": 2}


class PeriodRefused(ValueError):
    """A period the file does not take; ``code`` is the error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DoseRules:
    """The site's choices (``personal_dose:`` in the site file), with occmon's defaults."""

    mdl_factor: float = 0.5
    recording_level_msv_per_year: float = 1.0
    alert_fraction: float = 0.75
    pregnancy_msv: float = 1.0
    alert_fractions: tuple[float, ...] = ALERT_FRACTIONS


def check_period(start: dt.date, end: dt.date, today: dt.date | None = None) -> None:
    """Refuse a reversed period, one over 90 days, or one that ends after ``today``."""
    if end < start:
        raise PeriodRefused("period-reversed", f"period {start}..{end}: end is before start")
    if start < EARLIEST:
        raise PeriodRefused("period-too-early", f"period {start}..{end} starts before "
                            f"{EARLIEST}: no personal dose record of a living worker does")
    if end > LATEST:
        raise PeriodRefused("period-too-late", f"period {start}..{end} ends after {LATEST}")
    days = (end - start).days + 1
    if end >= _add_months(start, 3):
        raise PeriodRefused("period-too-long", f"period {start}..{end} is {days} days, more "
                            "than 3 months: a monitoring period is at most 3 months (GBZ "
                            f"128-2019; a calendar quarter, {MAX_PERIOD_DAYS} days at most); "
                            "split it into the lab's periods")
    if today is not None and end > today:
        raise PeriodRefused("period-in-future", f"period {start}..{end} ends after today "
                            f"({today}): a result is entered once the period is over")


def birthday(birth: dt.date, age: int) -> dt.date:
    """The day ``birth`` turns ``age`` (29 February: 1 March in a common year)."""
    year = min(max(birth.year + age, dt.MINYEAR), dt.MAXYEAR)  # a nonsense birth stays a date
    try:
        return birth.replace(year=year)
    except ValueError:
        return dt.date(year, 3, 1)


def share(p: PeriodResult, lo: dt.date, hi: dt.date) -> tuple[float, int]:
    """The fraction (by days) of ``p`` inside [lo, hi], and those days."""
    a, b = max(p.start, lo), min(p.end, hi)
    days = (b - a).days + 1 if b >= a else 0
    return days / p.days, days


@dataclass(frozen=True)
class WindowDose:
    """Doses received within [start, end] (pro rata shares of the periods in it)."""

    start: dt.date
    end: dt.date
    hp10_msv: float
    hp3_msv: float | None
    hp007_msv: float | None
    days: int
    unmonitored_days: int


def window_dose(periods: Sequence[PeriodResult], lo: dt.date, hi: dt.date) -> WindowDose:
    hp10, hp3, hp007, covered = 0.0, None, None, 0
    for p in periods:
        frac, days = share(p, lo, hi)
        if not days:
            continue
        hp10 += frac * p.hp10_msv
        if p.hp3_msv is not None:
            hp3 = (hp3 or 0.0) + frac * p.hp3_msv
        if p.hp007_msv is not None:
            hp007 = (hp007 or 0.0) + frac * p.hp007_msv
        covered += days
    span = (hi - lo).days + 1
    return WindowDose(lo, hi, hp10, hp3, hp007, span, max(0, span - covered))


@dataclass(frozen=True)
class MinorYear:
    """The dose of a calendar year received before the 18th birthday, against B1.1.1.2."""

    year: int
    dose: WindowDose
    broken: tuple[str, ...]
    verdict: Verdict


@dataclass(frozen=True)
class PregnancyCheck:
    declared: dt.date
    ended: dt.date | None
    dose: WindowDose | None  # None: no period on file after the declaration yet
    limit_msv: float
    verdict: Verdict


@dataclass(frozen=True)
class Alert:
    """A worker near (``approaching``: at least the fraction) or over (``exceeded``) a limit."""

    scope: str        # year | five-years | under-18 | pregnancy
    quantity: str     # hp10 | hp3 | hp007
    first: str        # year, first year of the run, or declaration day
    last: str
    dose_msv: float
    limit_msv: float
    level: AlertLevel
    source: str


@dataclass(frozen=True)
class Crossing:
    """A threshold a dose has reached: a fraction of a limit (``approaching``), the limit
    itself (``exceeded``), or a period's investigation level (``investigate``). Raised once
    (``ingest.workers.dose_alerts``): its key is the worker, ``scope``, ``quantity``,
    ``first`` and ``threshold``; ``last`` and the dose may grow (a pregnancy's window, a
    run of fewer than 5 years)."""

    scope: str        # year | five-years | under-18 | pregnancy | period
    quantity: str     # hp10 | hp3 | hp007
    first: str        # year, first year of the run, declaration day, or period start
    last: str
    threshold: str    # "0.3" ... (a fraction), "limit", "investigation"
    level: str        # approaching | exceeded | investigate
    dose_msv: float
    limit_msv: float  # the limit, or the period's investigation level
    source: str
    period: int | None = None  # scope "period": the index into ``file.periods``


@dataclass(frozen=True)
class PersonalDose:
    file: DoseFile
    recording_levels_msv: tuple[float, ...]   # per period of ``file.periods``
    below_recording: tuple[bool, ...]
    minor_years: tuple[MinorYear, ...]
    pregnancies: tuple[PregnancyCheck, ...]
    alerts: tuple[Alert, ...]
    verdict: Verdict
    crossings: tuple[Crossing, ...] = ()


def _alert(out: list[Alert], scope: str, quantity: str, first: str, last: str,
           dose: float | None, limit: float, fraction: float, source: str) -> None:
    if dose is None:
        return
    if dose > limit:
        out.append(Alert(scope, quantity, first, last, dose, limit, "exceeded", source))
    elif dose >= fraction * limit:
        out.append(Alert(scope, quantity, first, last, dose, limit, "approaching", source))


def plus(a: float | None, b: float | None) -> float | None:
    """The sum of two organ doses, either of which may be unreported (None)."""
    return a if b is None else b if a is None else a + b


def _minor_years(periods: Sequence[PeriodResult], organ: Sequence[PeriodResult],
                 birth: dt.date) -> list[MinorYear]:
    adult = birthday(birth, 18)
    both = [*periods, *organ]
    first, last = min(p.start for p in both), max(p.end for p in both)
    out = []
    for year in range(first.year, min(last.year, adult.year) + 1):
        lo = max(first, dt.date(year, 1, 1))
        hi = min(last, dt.date(year, 12, 31), adult - dt.timedelta(days=1))
        if hi < lo:
            continue
        e, o = window_dose(periods, lo, hi), window_dose(organ, lo, hi)
        d = WindowDose(lo, hi, e.hp10_msv, plus(e.hp3_msv, o.hp3_msv),
                       plus(e.hp007_msv, o.hp007_msv), e.days, e.unmonitored_days)
        broken = [name for name, dose, limit in (
            ("effective_under_18", d.hp10_msv, MINOR_EFFECTIVE_MSV),
            ("lens_under_18", d.hp3_msv, MINOR_LENS_MSV),
            ("skin_extremities_under_18", d.hp007_msv, MINOR_EXTREMITIES_MSV))
            if dose is not None and dose > limit]
        verdict: Verdict = ("fail" if broken else
                            "insufficient" if d.unmonitored_days else "pass")
        out.append(MinorYear(year, d, tuple(broken), verdict))
    return out


def _with_organs(f: DoseFile, organ: Sequence[PeriodResult], lim: RadiationLimits) -> DoseFile:
    """``f`` with the organ-only periods (a ring's Hp(0.07), an eye dosimeter's Hp(3), worn
    beside the body dosimeter) added to the lens and skin/extremity sums of their years,
    pro rata by days; never to Hp(10). A year with organ doses and no Hp(10) result is
    listed with its effective dose unmonitored (``insufficient`` unless an organ limit is
    broken)."""
    if not organ:
        return f
    sums: dict[int, list[Any]] = {}  # year -> [hp3 | None, hp007 | None, first, last]
    for p in organ:
        for year in range(p.start.year, p.end.year + 1):
            lo, hi = dt.date(year, 1, 1), dt.date(year, 12, 31)
            frac, _days = share(p, lo, hi)
            acc = sums.setdefault(year, [None, None, max(p.start, lo), min(p.end, hi)])
            if p.hp3_msv is not None:
                acc[0] = (acc[0] or 0.0) + frac * p.hp3_msv
            if p.hp007_msv is not None:
                acc[1] = (acc[1] or 0.0) + frac * p.hp007_msv
            acc[2], acc[3] = min(acc[2], max(p.start, lo)), max(acc[3], min(p.end, hi))
    by_year = {y.year: y for y in f.years}
    years = []
    for year in sorted(set(by_year) | set(sums)):
        hp3, hp007, lo, hi = sums.get(year, [None, None, None, None])
        y = by_year.get(year)
        if y is None:
            span = (hi - lo).days + 1
            y = YearDose(year, 0.0, None, None, span, span, (), "insufficient")
        hp3, hp007 = plus(y.hp3_msv, hp3), plus(y.hp007_msv, hp007)
        broken = [b for b in y.broken if b == "effective_single_year"]
        if hp3 is not None and hp3 > lim.lens_msv:
            broken.append("lens")
        if hp007 is not None and hp007 > min(lim.skin_msv, lim.extremities_msv):
            broken.append("skin_extremities")
        verdict: Verdict = ("fail" if broken else
                            "insufficient" if y.unmonitored_days else "pass")
        years.append(replace(y, hp3_msv=hp3, hp007_msv=hp007, broken=tuple(broken),
                             verdict=verdict))
    annual = max((y.verdict for y in years), key=_RANK.__getitem__)
    five = f.five_year_verdict
    return replace(f, years=tuple(years), annual_verdict=annual,
                   verdict=max((annual, five), key=_RANK.__getitem__))


Check = tuple[str, str, str, str, float | None, float, str]  # scope, q, first, last, dose..


def _checks(f: DoseFile, minors: Sequence[MinorYear], preg: Sequence[PregnancyCheck],
            lim: RadiationLimits) -> list[Check]:
    """Every dose judged against a limit: (scope, quantity, first, last, dose, limit,
    source)."""
    out: list[Check] = []
    for y in f.years:
        yr = str(y.year)
        out += [("year", "hp10", yr, yr, y.hp10_msv, lim.effective_single_year_msv,
                 ADULT_SOURCE),
                ("year", "hp3", yr, yr, y.hp3_msv, lim.lens_msv, ADULT_SOURCE),
                ("year", "hp007", yr, yr, y.hp007_msv, min(lim.skin_msv, lim.extremities_msv),
                 ADULT_SOURCE)]
    out += [("five-years", "hp10", str(r.first_year), str(r.last_year), r.hp10_msv,
             5 * lim.effective_5y_avg_msv, ADULT_SOURCE) for r in f.five_years]
    for m in minors:
        yr = str(m.year)
        out += [("under-18", q, yr, yr, got, limit, MINOR_SOURCE) for q, got, limit in (
            ("hp10", m.dose.hp10_msv, MINOR_EFFECTIVE_MSV),
            ("hp3", m.dose.hp3_msv, MINOR_LENS_MSV),
            ("hp007", m.dose.hp007_msv, MINOR_EXTREMITIES_MSV))]
    out += [("pregnancy", "hp10", c.declared.isoformat(), c.dose.end.isoformat(),
             c.dose.hp10_msv, c.limit_msv, PREGNANCY_SOURCE) for c in preg if c.dose]
    return out


def crossings(f: DoseFile, checks: Sequence[Check],
              fractions: Sequence[float]) -> tuple[Crossing, ...]:
    """Every threshold reached: each of ``fractions`` of each limit (at or above, to
    ``FRACTION_TOLERANCE_MSV``), each limit exceeded (above, as the verdicts judge), and each
    period above its investigation level (GBZ 128-2019, as ``dosefile`` flags it)."""
    out = []
    for scope, q, first, last, dose, limit, source in checks:
        if dose is None:
            continue
        for frac in sorted(fractions):
            if dose >= frac * limit - FRACTION_TOLERANCE_MSV:
                out.append(Crossing(scope, q, first, last, f"{frac:g}", "approaching", dose,
                                    limit, source))
        if dose > limit:
            out.append(Crossing(scope, q, first, last, "limit", "exceeded", dose, limit,
                                source))
    for i, c in enumerate(f.periods):
        if c.investigate:
            out.append(Crossing("period", "hp10", c.start.isoformat(), c.end.isoformat(),
                                "investigation", "investigate", c.hp10_msv,
                                c.investigation_level_msv, INVESTIGATION_SOURCE, i))
    return tuple(out)


def _empty(lim: RadiationLimits) -> DoseFile:
    return DoseFile((), (), (), (), "insufficient", "insufficient", "insufficient", lim)


def judge(results: Sequence[PeriodResult], *, birth_date: dt.date,
          pregnancies: Sequence[tuple[dt.date, dt.date | None]] = (),
          rules: DoseRules = DoseRules(),
          limits: RadiationLimits | None = None,
          organ: Sequence[PeriodResult] = ()) -> PersonalDose:
    """The adult verdicts of ``dosefile.dose_file``, plus the recording level of each
    period, the under-18 years, each declared pregnancy, the alerts (``rules``) and the
    thresholds crossed. ``organ``: periods of dosimeters that report only Hp(0.07) and/or
    Hp(3) (their ``hp10_msv`` is ignored), summed into the lens and skin/extremity doses."""
    lim = radiation_limits(limits)
    f = _with_organs(dose_file(results, limits=lim) if results else _empty(lim), organ, lim)
    periods = sorted(results, key=lambda p: p.start)
    levels = tuple(rules.recording_level_msv_per_year / c.periods_per_year for c in f.periods)
    below = tuple(c.hp10_msv < lvl for c, lvl in zip(f.periods, levels, strict=True))
    minors = _minor_years(periods, organ, birth_date) if (periods or organ) else []
    checks = []
    for declared, ended in pregnancies:
        hi = min(ended or periods[-1].end, periods[-1].end) if periods else declared
        dose = window_dose(periods, declared, hi) if periods and hi >= declared else None
        verdict: Verdict = ("insufficient" if dose is None else
                            "fail" if dose.hp10_msv > rules.pregnancy_msv else
                            "insufficient" if dose.unmonitored_days else "pass")
        checks.append(PregnancyCheck(declared, ended, dose, rules.pregnancy_msv, verdict))
    judged = _checks(f, minors, checks, lim)
    alerts: list[Alert] = []
    for scope, q, first, last, got, limit, source in judged:
        _alert(alerts, scope, q, first, last, got, limit, rules.alert_fraction, source)
    verdicts = [f.verdict, *(m.verdict for m in minors), *(c.verdict for c in checks)]
    return PersonalDose(f, levels, below, tuple(minors), tuple(checks), tuple(alerts),
                        max(verdicts, key=_RANK.__getitem__),
                        crossings(f, judged, rules.alert_fractions))


def nominal_dose(method: str, start: dt.date, end: dt.date, *, birth_date: dt.date,
                 history: Sequence[PeriodResult] = (), given_msv: float | None = None,
                 limits: RadiationLimits | None = None) -> float:
    """A lost dosimeter's Hp(10) for [start, end] (mSv) by ``method`` (module docstring).

    ``previous-year``: the worker's dose over the same days a year earlier (``history``),
    refused (``no-previous-year``) unless every one of those days was monitored.
    ``pro-rata-limit``: 20 mSv a year (6 before the 18th birthday) x days / 365.
    ``given``: ``given_msv``, the officer's figure.
    """
    check_period(start, end)
    days = (end - start).days + 1
    if method == "previous-year":
        lo, hi = birthday(start, -1), birthday(end, -1)
        d = window_dose(history, lo, hi)
        if not history or d.unmonitored_days:
            raise PeriodRefused("no-previous-year", f"the days {lo}..{hi} a year earlier are "
                                "not all monitored on file: use method 'pro-rata-limit' or "
                                "'given'")
        return d.hp10_msv
    if method == "pro-rata-limit":
        annual = (MINOR_EFFECTIVE_MSV if end < birthday(birth_date, 18)
                  else radiation_limits(limits).effective_5y_avg_msv)
        return annual * days / 365.0
    if method == "given":
        if given_msv is None or not given_msv >= 0:
            raise PeriodRefused("nominal-needs-dose", "method 'given' needs 'hp10_msv' >= 0")
        return given_msv
    raise PeriodRefused("unknown-method", f"method {method!r}: one of {NOMINAL_METHODS}")
