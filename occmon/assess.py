"""``occmon assess``: a hygienist's CSV from a portable instrument, assessed against the limits.

The I/O shell only: parse the command line and the CSV, call ``thresholds``, print one JSON
object. CSV columns ``time,value`` (header optional); ISO 8601 times with or without offset;
naive times are site-local, Asia/Shanghai unless ``--tz`` says otherwise. Errors (unknown agent,
bad unit, unparsable line N) go to stderr and exit 2; an assessment, whatever its verdicts,
exits 0.

Modes: ``--impulse`` reads LCpeak dB(C) readings and counts the shift's impulses against the
count's peak limit (GBZ 2.2-2007 cl. 11, Table 10); ``--week`` reads up to 7 days and
assesses each worked day's shift and the week (LEX,W; weekly C_TWA with the 40-h reduction
factor, GBZ 2.1-2019 A.7.3), in ``occmon.assess_week``. ``--break-minutes`` are not worked:
the reduction factor counts working hours, not the shift's span. ``--periods`` reads a
worker's personal dose results per monitoring period and judges each calendar year and each
5 consecutive years (``occmon.assess_periods``); ``--with AGENT:UNIT:FILE`` adds agents with
the same health effect over the same shift and judges the mixture (``occmon.assess_mixture``).
Values reported below detection (``ND``, ``<LOD`` with ``--lod``, ``<0.05``) are accepted,
entered as half the limit and listed (``thresholds.lod``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

import thresholds as thr
from thresholds.lod import RULE as LOD_RULE
from thresholds.lod import is_below_lod, parse_result
from thresholds.types import FloatArray, Verdict

DEFAULT_TZ = "Asia/Shanghai"


class InputError(Exception):
    """Bad input: printed as ``occmon assess: error: ...`` with exit code 2."""


@dataclass(frozen=True)
class Readings:
    times: FloatArray
    values: FloatArray
    # below-detection results (line, reported text, limit), entered by ``thresholds.lod``
    below_lod: tuple[tuple[int, str, float | None], ...] = ()


def _parse_time(text: str, tz: tzinfo) -> datetime:
    stamp = datetime.fromisoformat(text.strip())
    return stamp.replace(tzinfo=tz) if stamp.tzinfo is None else stamp


def read_csv(path: Path, tz: tzinfo, lod: float | None = None) -> Readings:
    """``time,value`` lines; the first line may be a header; blank lines are skipped.

    A value reported below detection (``ND``, ``<LOD`` with ``lod``, ``<0.05``) is kept,
    entered as the limit x 0.5 (``thresholds.lod``) and listed in ``below_lod``."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    times: list[float] = []
    values: list[float] = []
    below: list[tuple[int, str, float | None]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if number == 1 and fields[0].casefold() in ("time", "timestamp", "datetime", "t"):
            continue
        where = f"{path.name} line {number}"
        if len(fields) != 2:
            raise InputError(f"{where}: expected 2 columns time,value, got {len(fields)}")
        try:
            t = _parse_time(fields[0], tz).timestamp()
        except ValueError:
            raise InputError(f"{where}: unparsable time {fields[0]!r} (ISO 8601 expected)"
                             ) from None
        try:
            reported = parse_result(fields[1], lod)
        except ValueError as exc:
            detail = str(exc) if is_below_lod(fields[1]) else f"unparsable value {fields[1]!r}"
            raise InputError(f"{where}: {detail}") from None
        v = reported.value
        if reported.below_lod:
            below.append((number, reported.text, reported.lod))
        if times and t <= times[-1]:
            raise InputError(f"{where}: time {fields[0]} is not after the previous reading")
        times.append(t)
        values.append(v)
    return Readings(np.array(times, dtype=np.float64), np.array(values, dtype=np.float64),
                    tuple(below))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="occmon assess", description=__doc__.splitlines()[0])
    p.add_argument("file", type=Path, help="CSV with columns time,value")
    p.add_argument("--agent", required=True, help="catalogue id, CAS, zh or en name")
    p.add_argument("--unit", required=True, help="unit of the values: mg/m3, ppm, dBA, uSv ...")
    p.add_argument("--shift-start", help="ISO 8601; default: the first reading")
    p.add_argument("--shift-hours", type=float, default=8.0, help="default 8")
    p.add_argument("--max-gap", type=float,
                   help="seconds a reading holds at most; default 2 x median interval")
    p.add_argument("--unmonitored", choices=("missing", "zero"), default="missing",
                   help="unmonitored time: missing data (default) or known no exposure")
    p.add_argument("--min-coverage", type=float, default=thr.DEFAULT_MIN_COVERAGE)
    p.add_argument("--fraction", choices=("total", "respirable"), default="total",
                   help="dust fraction measured (GBZ 2.1-2019 Table 2)")
    p.add_argument("--altitude", type=float, help="site altitude m (CO highland MAC)")
    p.add_argument("--edition", help="limit edition, e.g. 'base' for benzene before Amd 1")
    p.add_argument("--periods-per-year", type=int, default=None,
                   help="radiation: monitoring periods a year this file is one of (default 12; "
                        "with --periods: round(365.25 / period days))")
    p.add_argument("--periods", action="store_true",
                   help="radiation: the file holds period results start,end,hp10[,hp007[,hp3"
                        "[,follow_up]]]; judged per calendar year and 5 consecutive years")
    p.add_argument("--with", dest="with_", action="append", default=[],
                   metavar="AGENT:UNIT:FILE",
                   help="another agent with the same health effect over the same shift "
                        "(repeatable): the mixture index sum(C_TWA_i / PC-TWA_i) <= 1")
    p.add_argument("--lod", type=float,
                   help="detection limit (in --unit) of results reported as ND or <LOD; "
                        "'<0.05' carries its own")
    p.add_argument("--tz", default=DEFAULT_TZ, help=f"zone of naive times (default {DEFAULT_TZ})")
    p.add_argument("--break-minutes", type=float, default=0.0,
                   help="breaks in each shift, minutes: not working hours (reduction factor)")
    p.add_argument("--impulse", action="store_true",
                   help="noise: the values are LCpeak dB(C); count impulses per shift and "
                        "judge them against the count's peak limit (GBZ 2.2-2007 Table 10)")
    p.add_argument("--impulse-threshold", type=float, default=thr.DEFAULT_IMPULSE_THRESHOLD_DB,
                   help="an LCpeak reading above this is an impulse (default "
                        f"{thr.DEFAULT_IMPULSE_THRESHOLD_DB:g} dB(C), an occmon policy)")
    p.add_argument("--week", action="store_true",
                   help="up to 7 days of readings: each worked day's shift (starting at the "
                        "time of day of --shift-start) and the week: LEX,W or weekly C_TWA")
    return p


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else round(float(x), 6)


def _iso(t: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(t, tz).isoformat()


def working_hours(hours: float, break_minutes: float) -> float:
    """Shift hours less its breaks: what the reduction factor counts (GBZ 2.1-2019 A.7.3)."""
    if not 0 <= break_minutes < hours * 60.0:
        raise InputError(f"--break-minutes must be >= 0 and less than the shift "
                         f"({hours * 60.0:g} min), got {break_minutes:g}")
    return hours - break_minutes / 60.0


def impulse_content(imp: thr.ImpulseShift, tz: tzinfo) -> dict[str, Any]:
    """A shift's impulse count and verdict as JSON (GBZ 2.2-2007 Table 10)."""
    return {"count": imp.count, "threshold_db": imp.threshold_db,
            "limit_db": imp.limit_db, "max_peak_db": _num(imp.max_peak_db),
            "over_limit": imp.over,
            "first_over": _iso(imp.over_start, tz) if imp.over_start is not None else None,
            "coverage": _num(imp.coverage), "projected_count": imp.projected_count,
            "partial": imp.partial}


def _below_content(readings: Readings, unit: str, agent: thr.Agent) -> dict[str, Any]:
    """Below-detection readings: how many, the rule that entered them, and each one."""
    return {"count": len(readings.below_lod), "rule": LOD_RULE, "input_unit": unit,
            "agent": agent.id,
            "results": [{"line": n, "reported": text, "lod": lod}
                        for n, text, lod in readings.below_lod]}


def _default_gap(times: FloatArray) -> float:
    if times.size < 2:
        return 60.0
    return max(1.0, 2.0 * float(np.median(np.diff(times))))


def assess(args: argparse.Namespace) -> dict[str, Any]:
    try:
        tz: tzinfo = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {args.tz!r}") from None
    agent = thr.lookup(args.agent)
    if args.periods:   # a personal dose file: period results, not readings
        from occmon.assess_periods import assess_periods
        args.periods_per_year_given = args.periods_per_year is not None
        return assess_periods(args, agent)
    if args.periods_per_year is None:
        args.periods_per_year = 12
    unit = thr.canonical_unit(agent, args.unit)
    readings = read_csv(args.file, tz, args.lod)
    values = np.asarray(thr.to_canonical(readings.values, args.unit, agent), dtype=np.float64)
    times = readings.times
    if not args.shift_hours > 0 or args.shift_hours > 24:
        raise InputError(f"--shift-hours must be in (0, 24], got {args.shift_hours}")
    gap = float(args.max_gap) if args.max_gap is not None else _default_gap(times)
    if not gap > 0:
        raise InputError(f"--max-gap must be > 0 s, got {gap}")
    hours = float(args.shift_hours)
    working = working_hours(hours, args.break_minutes)
    if args.impulse and agent.kind != "noise":
        raise InputError(f"--impulse is for noise (LCpeak dB(C)); agent {agent.id!r} is "
                         f"{agent.kind}")
    if args.week:   # its --shift-start is a time of day (HH:MM) or an ISO time
        from occmon.assess_week import assess_week
        return assess_week(args, agent, unit, times, values, tz, gap)
    if args.shift_start is not None:
        try:
            start = _parse_time(args.shift_start, tz).timestamp()
        except ValueError:
            raise InputError(f"--shift-start: unparsable time {args.shift_start!r}") from None
    elif times.size:
        start = float(times[0])
    else:
        raise InputError(f"{args.file.name}: no readings and no --shift-start")
    end = start + hours * 3600.0
    common = {"start": start, "max_gap": gap}
    out: dict[str, Any] = {
        "agent": {"id": agent.id, "zh": agent.zh, "en": agent.en, "kind": agent.kind,
                  "cas": agent.cas},
        "unit": unit, "input_unit": args.unit,
        "shift": {"start": _iso(start, tz), "end": _iso(end, tz), "hours": hours},
        "max_gap_s": gap, "unmonitored": args.unmonitored,
    }
    if args.break_minutes:
        out["shift"]["working_hours"] = _num(working)
    if args.unit.strip().casefold() in ("ppm", "ppb", "%vol", "%lel"):
        out["reference_conditions"] = thr.STANDARD_REFERENCE.as_dict()
    verdicts: dict[str, Verdict] = {}
    twa = thr.shift_twa(times, values, hours=hours, unmonitored=args.unmonitored,
                        min_coverage=args.min_coverage, **common)
    out["coverage"] = _num(twa.coverage)
    out["readings"] = int(times.size)
    if readings.below_lod:
        out["below_detection"] = _below_content(readings, args.unit, agent)
    if args.with_ and agent.kind not in ("chemical", "dust"):
        raise InputError(f"--with is for airborne agents; agent {agent.id!r} is {agent.kind}")
    if agent.kind in ("chemical", "dust"):
        _airborne(out, verdicts, agent, args, times, values, twa, tz, end)
        if args.with_:
            from occmon.assess_mixture import assess_mixture
            rf = thr.reduction_factor_day(working)
            out["mixture"] = assess_mixture(args, agent, twa, start, rf, tz)
            verdicts["mixture"] = out["mixture"]["verdict"]
    elif agent.kind == "noise" and args.impulse:
        assert agent.noise is not None
        imp = thr.impulse_shift(times, values, start=start, end=end, max_gap=gap,
                                threshold_db=args.impulse_threshold,
                                min_coverage=args.min_coverage, limits=agent.noise)
        out["limits"] = {"impulse_peak_db": [{"max_impulses": b.max_impulses,
                                              "peak_db": b.peak_db}
                                             for b in agent.noise.impulse_peak],
                         "sources": [agent.source.cite()]}
        out["impulses"] = impulse_content(imp, tz)
        verdicts["impulse"] = imp.verdict
    elif agent.kind == "noise":
        noise = thr.shift_noise(times, values, hours=hours, unmonitored=args.unmonitored,
                                min_coverage=args.min_coverage, **common)
        assert agent.noise is not None
        out["limits"] = {"lex_8h": agent.noise.lex_8h, "sources": [agent.source.cite()]}
        out.update(laeq=_num(noise.laeq), lex_8h=_num(noise.lex_8h),
                   dose_percent=_num(noise.dose_percent),
                   noise_grade=None if math.isnan(noise.lex_8h) else thr.noise_grade(noise.lex_8h))
        verdicts["noise"] = noise.verdict(agent.noise.lex_8h)
    else:
        _radiation(out, verdicts, agent, args, times, values, twa, gap, start, end)
    out["verdicts"] = verdicts
    return out


def _airborne(out: dict[str, Any], verdicts: dict[str, Verdict], agent: thr.Agent,
              args: argparse.Namespace, times: FloatArray, values: FloatArray,
              twa: thr.ShiftTWA, tz: tzinfo, end: float) -> None:
    if agent.canonical_unit not in (None, "mg/m3"):
        raise InputError(f"agent {agent.id!r} has no occupational exposure limit to assess")
    lim = agent.limits(edition=args.edition, altitude_m=args.altitude)
    start, gap, hours = end - twa.shift_s, float(out["max_gap_s"]), twa.shift_s / 3600.0
    pc_twa = lim.pc_twa
    if agent.kind == "dust":
        pc_twa = lim.pc_twa_total if args.fraction == "total" else lim.pc_twa_respirable
        if pc_twa is None:
            raise InputError(f"agent {agent.id!r} has no {args.fraction} dust limit")
    rf = thr.reduction_factor_day(working_hours(hours, args.break_minutes))
    out["limits"] = {"mac": lim.mac, "pc_twa": pc_twa, "pc_stel": lim.pc_stel,
                     "reduction_factor": _num(rf),
                     "pc_twa_applied": _num(pc_twa * rf) if pc_twa is not None else None,
                     "fraction": args.fraction if agent.kind == "dust" else None,
                     "edition": lim.edition, "confidence": lim.confidence,
                     "sources": list(lim.sources)}
    coverage = twa.coverage
    if pc_twa is not None:
        out["c_twa"] = _num(twa.c_twa)
        out["c_twa_lower_bound"] = _num(twa.c_twa_lower)
        verdicts["twa"] = thr.twa_verdict(twa, pc_twa, rf)
    window = {"start": start, "end": end, "max_gap": gap}
    if lim.pc_stel is not None:
        stel = thr.stel_max(times, values, unmonitored=args.unmonitored,
                            min_window_coverage=args.min_coverage, **window)
        out["stel_max"] = _num(stel.stel_max)
        verdicts["stel"] = ("insufficient" if math.isnan(stel.stel_max) else
                            thr.evidence_verdict(stel.stel_max > lim.pc_stel, coverage,
                                                 args.min_coverage))
    elif pc_twa is not None:
        pe = thr.peak_excursions(times, values, pc_twa=pc_twa, **window)
        out["peak_excursions"] = [{"start": _iso(x.start, tz), "end": _iso(x.end, tz),
                                   "duration_s": _num(x.duration_s), "max": _num(x.max)}
                                  for x in pe.excursions]
        out["pe_rules_broken"] = [thr.PE_RULES[b] for b in pe.broken]
        out["pe_rules_undetermined"] = [thr.PE_RULES[b] for b in pe.undetermined]
        verdicts["pe"] = pe.verdict(args.min_coverage)
    if lim.mac is not None:
        mac = thr.mac_exceedances(times, values, mac=lim.mac, **window)
        out["mac_exceeded"] = mac.exceeded
        out["mac_max"] = _num(mac.max_value)
        out["mac_exceedances"] = [{"start": _iso(x.start, tz), "end": _iso(x.end, tz),
                                   "duration_s": _num(x.duration_s), "max": _num(x.max)}
                                  for x in mac.exceedances]
        verdicts["mac"] = thr.evidence_verdict(mac.exceeded, coverage, args.min_coverage)


def _radiation(out: dict[str, Any], verdicts: dict[str, Verdict], agent: thr.Agent,
               args: argparse.Namespace, times: FloatArray, values: FloatArray,
               twa: thr.ShiftTWA, gap: float, start: float, end: float) -> None:
    rad = agent.radiation
    assert rad is not None
    if out["unit"] == "uSv/h":
        series = thr.StepSeries.build(times, values, max_gap=gap, start=start, end=end)
        dose_usv = series.integral() / 3600.0
        if args.unmonitored == "missing" and series.monitored() > 0:
            dose_usv *= series.span / series.monitored()
    else:   # a cumulative Hp(10) log: the rule of the daily record (sum of rises)
        inside = (times >= start) & (times < end)
        dose_usv = thr.cumulative_dose(values[inside]) or 0.0
    result = thr.dose_assessment([dose_usv / 1000.0], periods_per_year=args.periods_per_year)
    out["limits"] = {"effective_5y_avg_msv": rad.effective_5y_avg_msv,
                     "effective_single_year_msv": rad.effective_single_year_msv,
                     "investigation_level_msv": _num(result.investigation_level_msv),
                     "sources": [agent.source.cite(), rad.investigation_source.cite()]}
    out["dose_msv"] = _num(dose_usv / 1000.0)
    out["investigate"] = bool(result.investigate)
    verdicts["dose"] = (result.verdict if result.verdict == "fail" else
                        thr.evidence_verdict(False, twa.coverage, args.min_coverage))


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        report = assess(args)
    except (InputError, thr.ThresholdsError, ValueError) as exc:
        print(f"occmon assess: error: {exc}", file=sys.stderr)
        return 2
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0
