"""``occmon assess --periods``: a worker's personal dose results, one line per monitoring
period, judged on each calendar year and each 5 consecutive years (``thresholds.dose_file``).

CSV columns ``start,end,hp10[,hp007[,hp3[,follow_up]]]``: the period's first and last day
(ISO dates, inclusive), Hp(10), optionally Hp(0.07) and Hp(3) in ``--unit`` (mSv or uSv;
empty = not measured) and the recorded outcome of an investigation. A header line is
optional. A dose may be reported below the detection level (``ND``, ``<LOD``, ``<0.05``):
it is entered by the rule of ``thresholds.lod`` and listed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np

import thresholds as thr
from thresholds.dosefile import DoseFile, PeriodResult
from thresholds.lod import RULE, parse_result

_HEADER = ("start", "period_start", "from", "开始")
_COLUMNS = ("start", "end", "hp10", "hp007", "hp3", "follow_up")


class PeriodInputError(ValueError):
    """A malformed line: ``occmon assess`` prints it and exits 2."""


def _msv(text: str, unit: str, agent: thr.Agent, where: str, lod: float | None,
         below: list[dict[str, Any]], quantity: str) -> float | None:
    if not text:
        return None
    try:
        rep = parse_result(text, lod)
    except ValueError as exc:
        msg = str(exc) if "detection" in str(exc) else f"unparsable dose {text!r}"
        raise PeriodInputError(f"{where}: {msg}") from None
    usv = float(np.asarray(thr.to_canonical(np.array([rep.value]), unit, agent))[0])
    if not (math.isfinite(usv) and usv >= 0):
        raise PeriodInputError(f"{where}: dose must be a finite value >= 0, got {text!r}")
    if rep.below_lod:
        below.append({"where": where, "quantity": quantity, "reported": rep.text,
                      "lod": rep.lod, "entered_msv": round(usv / 1000.0, 6)})
    return usv / 1000.0


def read_periods(path: Path, unit: str, agent: thr.Agent, lod: float | None
                 ) -> tuple[list[PeriodResult], list[dict[str, Any]]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise PeriodInputError(f"cannot read {path}: {exc.strerror}") from None
    out: list[PeriodResult] = []
    below: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        # csv quoting: a follow-up note may hold commas ("a, b")
        fields = [f.strip() for f in next(csv.reader([line]))]
        if number == 1 and fields[0].casefold() in _HEADER:
            continue
        where = f"{path.name} line {number}"
        if not 3 <= len(fields) <= len(_COLUMNS):
            raise PeriodInputError(f"{where}: expected columns start,end,hp10"
                                   f"[,hp007[,hp3[,follow_up]]], got {len(fields)}")
        fields += [""] * (len(_COLUMNS) - len(fields))
        try:
            start, end = dt.date.fromisoformat(fields[0]), dt.date.fromisoformat(fields[1])
        except ValueError:
            raise PeriodInputError(f"{where}: unparsable date in {fields[0]!r},{fields[1]!r} "
                                   "(YYYY-MM-DD expected)") from None
        hp10 = _msv(fields[2], unit, agent, where, lod, below, "hp10")
        if hp10 is None:
            raise PeriodInputError(f"{where}: Hp(10) is required (a lost dosimeter's nominal "
                                   "dose is entered as its figure)")
        hp007 = _msv(fields[3], unit, agent, where, lod, below, "hp007")
        hp3 = _msv(fields[4], unit, agent, where, lod, below, "hp3")
        mdl = tuple(b["quantity"] for b in below if b["where"] == where)
        try:
            out.append(PeriodResult(start, end, hp10, hp007, hp3, mdl, fields[5] or None))
        except ValueError as exc:
            raise PeriodInputError(f"{where}: {exc}") from None
    if not out:
        raise PeriodInputError(f"{path.name}: no period results")
    return out, below


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def content(result: DoseFile) -> dict[str, Any]:
    lim = result.limits
    return {
        "limits": {"effective_single_year_msv": lim.effective_single_year_msv,
                   "effective_5y_msv": 5 * lim.effective_5y_avg_msv,
                   "lens_msv": lim.lens_msv, "skin_msv": lim.skin_msv,
                   "extremities_msv": lim.extremities_msv,
                   "investigation_msv_per_year": lim.investigation_msv_per_year,
                   "sources": ["GB 18871-2002 附录B B1.1.1",
                               lim.investigation_source.cite()]},
        "periods": [{"start": p.start.isoformat(), "end": p.end.isoformat(), "days": p.days,
                     "hp10_msv": _r(p.hp10_msv), "periods_per_year": p.periods_per_year,
                     "investigation_level_msv": _r(p.investigation_level_msv),
                     "investigate": p.investigate, "over_3_months": p.over_3_months,
                     "below_mdl": list(p.below_mdl)} for p in result.periods],
        "investigations": [{"period": i, "start": result.periods[i].start.isoformat(),
                            "hp10_msv": _r(result.periods[i].hp10_msv),
                            "level_msv": _r(result.periods[i].investigation_level_msv),
                            "follow_up": result.periods[i].follow_up,
                            "follow_up_recorded": result.periods[i].follow_up is not None}
                           for i in result.investigations],
        "years": [{"year": y.year, "hp10_msv": _r(y.hp10_msv), "hp3_msv": _r(y.hp3_msv),
                   "hp007_msv": _r(y.hp007_msv), "span_days": y.span_days,
                   "unmonitored_days": y.unmonitored_days, "broken": list(y.broken),
                   "verdict": y.verdict} for y in result.years],
        "five_years": [{"first_year": r.first_year, "last_year": r.last_year,
                        "hp10_msv": _r(r.hp10_msv), "verdict": r.verdict}
                       for r in result.five_years],
        "unmonitored": [[a.isoformat(), b.isoformat()] for a, b in result.unmonitored],
        "verdicts": {"annual": result.annual_verdict, "five_year": result.five_year_verdict},
        "verdict": result.verdict,
    }


def assess_periods(args: argparse.Namespace, agent: thr.Agent) -> dict[str, Any]:
    if agent.kind != "radiation":
        raise PeriodInputError(f"--periods is for personal dose results; agent {agent.id!r} "
                               f"is {agent.kind}")
    unit = thr.canonical_unit(agent, args.unit)
    if unit != "uSv":
        raise PeriodInputError(f"--periods takes doses (mSv, uSv), not {args.unit!r}")
    periods, below = read_periods(args.file, args.unit, agent, args.lod)
    ppy = args.periods_per_year if args.periods_per_year_given else None
    try:
        result = thr.dose_file(periods, periods_per_year=ppy)
    except ValueError as exc:
        raise PeriodInputError(f"{args.file.name}: {exc}") from None
    out: dict[str, Any] = {
        "agent": {"id": agent.id, "zh": agent.zh, "en": agent.en, "kind": agent.kind},
        "unit": "mSv", "input_unit": args.unit, **content(result),
        "below_detection": {"count": len(below), "rule": RULE, "results": below},
    }
    return out
