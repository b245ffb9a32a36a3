"""``occmon assess --week``: up to 7 days of a portable instrument's readings as a working week.

Each local date whose shift (the time of day of ``--shift-start``, default the first
reading's, for ``--shift-hours``) holds readings is a worked day. Every day is assessed on its
own shift, then the week as a whole:

- noise (LAeq): each day's LEX,8h, then LEX,W = 10 lg((1/5) sum 10^(0.1 LEX,8h,d)) <= 85 dB(A)
  (GBZ 2.2-2007 cl. 11, weeks that are not 5 x 8 h); with ``--impulse``, each day's impulse
  count against its peak limit (Table 10) instead;
- chemicals and dusts with a PC-TWA: each day's C_TWA against PC-TWA x RF(day's working
  hours), its PE per working day, STEL and MAC; the week's C_TWA = sum(C_i T_i) / 40 h against
  PC-TWA x RF(week's working hours) (GBZ 2.1-2019 cl. 3 and A.7.3, ``thresholds.week``).

Working hours are the shift less ``--break-minutes``, never the window's span.
"""

from __future__ import annotations

import argparse
import datetime as dt
from datetime import tzinfo
from typing import Any

import numpy as np

import thresholds as thr
from occmon.assess import InputError, _iso, _num, _parse_time, impulse_content, working_hours
from thresholds.types import FloatArray, Verdict

MAX_DAYS = 7


def _shift_time(args: argparse.Namespace, times: FloatArray, tz: tzinfo) -> dt.time:
    if args.shift_start is None:
        return dt.datetime.fromtimestamp(float(times[0]), tz).time()
    text = args.shift_start.strip()
    try:
        return dt.time.fromisoformat(text) if len(text) <= 8 else _parse_time(
            text, tz).astimezone(tz).time()
    except ValueError:
        raise InputError(f"--shift-start: unparsable time {args.shift_start!r} (HH:MM or "
                         "ISO 8601)") from None


def shift_windows(args: argparse.Namespace, times: FloatArray, tz: tzinfo
                  ) -> list[tuple[dt.date, float, float]]:
    """(date, start, end) of each worked day: a shift at the same time of day on every date
    from the first reading's to the last's, kept when it holds a reading."""
    if times.size == 0:
        raise InputError("--week needs readings")
    at = _shift_time(args, times, tz)
    first = dt.datetime.fromtimestamp(float(times[0]), tz).date()
    last = dt.datetime.fromtimestamp(float(times[-1]), tz).date()
    span = (last - first).days + 1
    if span > MAX_DAYS + 1:     # one more date: a night shift's end spills past midnight
        raise InputError(f"--week: the readings span {span} calendar days; a week file holds "
                         f"at most {MAX_DAYS} days")
    out = []
    day = first - dt.timedelta(days=1)      # a night shift may start the day before
    while day <= last:
        start = dt.datetime.combine(day, at, tzinfo=tz).timestamp()
        end = start + float(args.shift_hours) * 3600.0
        i, j = np.searchsorted(times, [start, end])
        if j > i:
            out.append((day, start, end))
        day += dt.timedelta(days=1)
    if len(out) > MAX_DAYS:
        raise InputError(f"--week: {len(out)} worked days; a week has at most {MAX_DAYS}")
    return out


def assess_week(args: argparse.Namespace, agent: thr.Agent, unit: str, times: FloatArray,
                values: FloatArray, tz: tzinfo, gap: float) -> dict[str, Any]:
    """The week's report: one entry per worked day and the week's figures and verdicts."""
    if agent.kind not in ("noise", "chemical", "dust"):
        raise InputError(f"--week is for noise and airborne agents; agent {agent.id!r} is "
                         f"{agent.kind}")
    hours = float(args.shift_hours)
    working = working_hours(hours, args.break_minutes)
    windows = shift_windows(args, times, tz)
    verdicts: dict[str, Verdict] = {}
    out: dict[str, Any] = {
        "agent": {"id": agent.id, "zh": agent.zh, "en": agent.en, "kind": agent.kind,
                  "cas": agent.cas},
        "unit": unit, "input_unit": args.unit, "max_gap_s": gap,
        "unmonitored": args.unmonitored, "readings": int(times.size),
    }
    days: list[dict[str, Any]] = []
    week: dict[str, Any] = {"days_worked": len(windows), "shift_hours": hours,
                            "working_hours": _num(working * len(windows))}
    common = {"max_gap": gap, "min_coverage": args.min_coverage}
    if agent.kind == "noise":
        assert agent.noise is not None
        noises = []
        for date, a, b in windows:
            entry: dict[str, Any] = {"date": date.isoformat(), "start": _iso(a, tz),
                                     "end": _iso(b, tz), "working_hours": _num(working)}
            if args.impulse:
                imp = thr.impulse_shift(times, values, start=a, end=b, limits=agent.noise,
                                        threshold_db=args.impulse_threshold, **common)
                entry["impulses"] = impulse_content(imp, tz)
                verdicts[f"impulse:{date.isoformat()}"] = imp.verdict
            else:
                sn = thr.shift_noise(times, values, start=a, hours=hours,
                                     unmonitored=args.unmonitored, **common)
                noises.append(sn)
                entry.update(laeq=_num(sn.laeq), lex_8h=_num(sn.lex_8h),
                             dose_percent=_num(sn.dose_percent), coverage=_num(sn.coverage))
                verdicts[f"noise:{date.isoformat()}"] = sn.verdict(agent.noise.lex_8h)
            days.append(entry)
        if noises:
            wn = thr.week_noise(noises, [working] * len(noises), args.min_coverage,
                                agent.noise.lex_w)
            week.update(lex_w=_num(wn.lex_w), lex_w_lower_bound=_num(wn.lex_w_lower),
                        coverage=_num(wn.coverage))
            verdicts["lex_w"] = wn.verdict
        out["limits"] = {"lex_8h": agent.noise.lex_8h, "lex_w": agent.noise.lex_w,
                         "sources": [agent.source.cite()]}
    else:
        out["limits"] = _airborne_week(args, agent, times, values, tz, gap, windows, working,
                                       days, week, verdicts)
    out["week"] = {**week, "days": days}
    out["verdicts"] = verdicts
    return out


def _airborne_week(args: argparse.Namespace, agent: thr.Agent, times: FloatArray,
                   values: FloatArray, tz: tzinfo, gap: float,
                   windows: list[tuple[dt.date, float, float]], working: float,
                   days: list[dict[str, Any]], week: dict[str, Any],
                   verdicts: dict[str, Verdict]) -> dict[str, Any]:
    """Each day's metrics and the week's C_TWA into ``days``/``week``/``verdicts``; returns
    the limits applied."""
    if agent.canonical_unit not in (None, "mg/m3"):
        raise InputError(f"agent {agent.id!r} has no occupational exposure limit to assess")
    lim = agent.limits(edition=args.edition, altitude_m=args.altitude)
    pc_twa = lim.pc_twa
    if agent.kind == "dust":
        pc_twa = lim.pc_twa_total if args.fraction == "total" else lim.pc_twa_respirable
    if pc_twa is None:
        raise InputError(f"--week judges a PC-TWA; agent {agent.id!r} has none "
                         "(assess its MAC shift by shift)")
    rf_day = float(thr.reduction_factor_day(working))
    twas = []
    for date, a, b in windows:
        key = date.isoformat()
        point = thr.assess_point(times, values, start=a, end=b, max_gap=gap,
                                 stel=lim.pc_stel is not None, mac=lim.mac,
                                 pc_twa=pc_twa if lim.pc_stel is None else None,
                                 unmonitored=args.unmonitored, min_coverage=args.min_coverage,
                                 min_window_coverage=args.min_coverage)
        twas.append(point.twa)
        entry: dict[str, Any] = {"date": key, "start": _iso(a, tz), "end": _iso(b, tz),
                                 "working_hours": _num(working), "c_twa": _num(point.twa.c_twa),
                                 "coverage": _num(point.twa.coverage),
                                 "reduction_factor": _num(rf_day)}
        verdicts[f"twa:{key}"] = thr.twa_verdict(point.twa, pc_twa, rf_day)
        if point.stel is not None and lim.pc_stel is not None:
            entry["stel_max"] = _num(point.stel.stel_max)
            verdicts[f"stel:{key}"] = (
                "insufficient" if np.isnan(point.stel.stel_max) else thr.evidence_verdict(
                    point.stel.stel_max > lim.pc_stel, point.twa.coverage, args.min_coverage))
        if point.peaks is not None:
            entry["peak_excursions"] = len(point.peaks.excursions)
            entry["pe_rules_broken"] = [thr.PE_RULES[r] for r in point.peaks.broken]
            entry["pe_rules_undetermined"] = [thr.PE_RULES[r] for r in point.peaks.undetermined]
            verdicts[f"pe:{key}"] = point.peaks.verdict(args.min_coverage)
        if point.mac is not None:
            entry["mac_max"] = _num(point.mac.max_value)
            verdicts[f"mac:{key}"] = thr.evidence_verdict(point.mac.exceeded,
                                                          point.twa.coverage, args.min_coverage)
        days.append(entry)
    wt = thr.week_twa(twas, [working] * len(twas), pc_twa, args.min_coverage)
    week.update(c_twa=_num(wt.c_twa), c_twa_lower_bound=_num(wt.c_twa_lower),
                reduction_factor=_num(wt.reduction_factor), pc_twa_applied=_num(wt.limit),
                coverage=_num(wt.coverage))
    verdicts["twa_week"] = wt.verdict
    return {"mac": lim.mac, "pc_twa": pc_twa, "pc_stel": lim.pc_stel,
            "reduction_factor_day": _num(rf_day), "reduction_factor_week":
            _num(wt.reduction_factor), "edition": lim.edition, "confidence": lim.confidence,
            "sources": list(lim.sources)}
