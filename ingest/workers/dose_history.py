"""The personal dose file as the exposure history and the yearly notice show it: one source
of truth. Every figure here is the dose file's (``dose_view.dose_file``: lab, nominal and
EPD months as it counts them, the below-MDL rule applied) or its own pro rata rule for a part
of a year (``thresholds.personal_dose.window_dose``, the rule of its pregnancy and under-18
windows); nothing is summed a second way.

Per calendar year (``years``): Hp(10), and Hp(3) / Hp(0.07) where reported, the counted
periods it holds with their source (lab report, nominal with who and why, EPD month), the
limits the dose file applies that year (adult, 16-18, a declared pregnancy), the run of
5 years ending that year, and the verdicts. Per job period and year (``entries``): the
history's rows, one per quantity reported.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ingest.workers import dose_view
from ingest.workers.registry import RegistryError
from occmon.config.schema import SiteConfig
from thresholds import personal_dose as pd
from thresholds.dosefile import PeriodResult

AGENT = "ionising-radiation"
UNIT = "mSv"
QUANTITY = {"hp10": ("Hp(10) 有效剂量 effective", "hp10_msv"),
            "hp3": ("Hp(3) 眼晶状体 lens", "hp3_msv"),
            "hp007": ("Hp(0.07) 四肢/皮肤 extremities/skin", "hp007_msv")}
# the names of the dose file's broken limits, by quantity
BROKEN = {"hp10": ("effective_single_year", "effective_under_18"),
          "hp3": ("lens", "lens_under_18"),
          "hp007": ("skin_extremities", "skin_extremities_under_18")}
_RANK = {"pass": 0, "insufficient": 1, "fail": 2}


def worst(verdicts: Sequence[str | None]) -> str | None:
    got = [v for v in verdicts if v is not None]
    return max(got, key=_RANK.__getitem__) if got else None


def source_text(p: dict[str, Any]) -> str:
    """Where a counted period's figure comes from, as printed."""
    if p["source"] == "lab":
        report = p.get("report") or f"#{p['id']}"
        return f"检测报告 lab {report}" + (f" ({p['lab']})" if p.get("lab") else "")
    if p["source"] == "nominal":
        return (f"名义剂量 nominal {p.get('method') or ''} ({p.get('entered_by')}: "
                f"{p.get('reason')})")
    return f"EPD {str(p['period']).removeprefix('EPD:')}"


@dataclass
class Radiation:
    """A worker's dose file, read once for a history or a notice."""

    file: dict[str, Any]
    counted: list[PeriodResult]   # as the dose file counts them, by start
    rows: list[dict[str, Any]]     # their view rows (source, report, ...), same order

    def year(self, year: int) -> dict[str, Any] | None:
        return next((y for y in self.file["years"] if y["year"] == year), None)


def read(conn: sqlite3.Connection, config: SiteConfig, employee: str,
         now: float) -> Radiation:
    periods = dose_view.counted_periods(conn, config, employee, now)
    try:
        file = dose_view.dose_file(conn, config, employee, now, periods)
    except RegistryError:
        file = {"years": [], "periods": [], "five_years": [], "under_18": [],
                "pregnancies": [], "rules": dose_view.rules_out(config)}
    counted = [p for _s, p, _m in periods[0]]
    rows = [p for p in file["periods"] if p["counted"] and not p.get("organ_only")]
    # ring and eye results (no Hp(10)), after the body's: Hp(0.07) / Hp(3) only
    counted += [p for p, _m in dose_view.organ(conn, config, employee)]
    rows += [p for p in file["periods"] if p.get("organ_only")]
    return Radiation(file, counted, rows)


def _overlap(a0: str, a1: str, b0: dt.date, b1: dt.date) -> bool:
    return dt.date.fromisoformat(a0) <= b1 and b0 <= dt.date.fromisoformat(a1)


def _pregnancies(r: Radiation, lo: dt.date, hi: dt.date) -> list[dict[str, Any]]:
    out = []
    for c in r.file["pregnancies"]:
        end = c["ended"] or (c["dose"] or {}).get("end") or hi.isoformat()
        if _overlap(c["declared"], end, lo, hi):
            out.append(c)
    return out


def year_rows(r: Radiation, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """The dose file's calendar years that touch [first, last], with what applies to each."""
    lim = r.file["rules"]["limits"]
    out = []
    for y in r.file["years"]:
        lo, hi = dt.date(y["year"], 1, 1), dt.date(y["year"], 12, 31)
        if hi < first or lo > last:
            continue
        minor = next((m for m in r.file["under_18"] if m["year"] == y["year"]), None)
        preg = _pregnancies(r, lo, hi)
        run = next((f for f in r.file["five_years"] if f["last_year"] == y["year"]), None)
        limits = {"hp10_msv": lim["adult"]["effective_single_year_msv"],
                  "hp3_msv": lim["adult"]["lens_msv"],
                  "hp007_msv": min(lim["adult"]["skin_msv"], lim["adult"]["extremities_msv"]),
                  "source": lim["adult"]["source"]}
        if minor is not None:  # the dose before the 18th birthday: the 16-18 limits
            limits["under_18"] = {"hp10_msv": lim["under_18"]["effective_msv"],
                                  "hp3_msv": lim["under_18"]["lens_msv"],
                                  "hp007_msv": lim["under_18"]["extremities_skin_msv"],
                                  "source": lim["under_18"]["source"]}
        sources = [{k: p.get(k) for k in ("period", "source", "dosimeter", "start", "end",
                                          "hp10_msv", "hp3_msv", "hp007_msv", "below_mdl",
                                          "lab", "report", "method", "reason", "entered_by")}
                   | {"text": source_text(p)}
                   for p in r.rows if _overlap(p["start"], p["end"], lo, hi)]
        five = None if run is None else {**run, "limit_msv": lim["adult"]["effective_5y_msv"]}
        verdicts = {"year": y["verdict"], "under_18": minor and minor["verdict"],
                    "pregnancy": worst([c["verdict"] for c in preg]),
                    "five_years": five and five["verdict"]}
        out.append({"year": y["year"], "hp10_msv": y["hp10_msv"], "hp3_msv": y["hp3_msv"],
                    "hp007_msv": y["hp007_msv"], "unmonitored_days": y["unmonitored_days"],
                    "above_investigation_level": y["above_investigation_level"],
                    "broken": y["broken"] + (minor["broken"] if minor else []),
                    "sources": sources, "limits": limits, "under_18": minor,
                    "pregnancies": preg, "five_years": five, "verdicts": verdicts,
                    "verdict": worst(list(verdicts.values()))})
    return out


def covered_days(r: Radiation, lo: dt.date, hi: dt.date) -> set[str]:
    """The days of [lo, hi] a counted period covers (no job-based radiation on them)."""
    days: set[str] = set()
    for p, row in zip(r.counted, r.rows, strict=True):
        if row.get("organ_only"):
            continue  # a ring or eye dosimeter does not measure Hp(10)
        a, b = max(p.start, lo), min(p.end, hi)
        while a <= b:
            days.add(a.isoformat())
            a += dt.timedelta(days=1)
    return days


def entries(r: Radiation, lo: dt.date, hi: dt.date, years: Sequence[dict[str, Any]]
            ) -> list[dict[str, Any]]:
    """The history's personal radiation rows of [lo, hi] (within one calendar year): one per
    quantity reported, its dose the dose file's share of those days (``window_dose``), with
    the year's sum, its limit, the periods that reported it (``count``, ``sources``) and
    the verdict."""
    inside = [(p, row) for p, row in zip(r.counted, r.rows, strict=True)
              if p.start <= hi and lo <= p.end]
    y = next((y for y in years if y["year"] == lo.year), None)
    if not inside or y is None:
        return []
    body = [p for p, row in inside if not row.get("organ_only")]
    organ = pd.window_dose([p for p, row in inside if row.get("organ_only")], lo, hi)
    dose = pd.window_dose(body, lo, hi)
    part = {"hp10": dose.hp10_msv if body else None,
            "hp3": pd.plus(dose.hp3_msv, organ.hp3_msv),
            "hp007": pd.plus(dose.hp007_msv, organ.hp007_msv)}
    out = []
    for q, (metric, key) in QUANTITY.items():
        if part[q] is None:
            continue
        limit = (y["limits"].get("under_18") or y["limits"])[key]
        broken = [b for b in y["broken"] if b in BROKEN[q]]
        v = y["verdicts"]
        also = [v["under_18"]] + ([v["pregnancy"], v["five_years"]] if q == "hp10" else [])
        if broken or (q == "hp10" and "fail" in (v["pregnancy"], v["five_years"])):
            verdict: str | None = "fail"
        else:  # a fail of another quantity is not this one's; unmonitored days are
            verdict = worst(["insufficient" if y["unmonitored_days"] else "pass",
                             *(x for x in also if x != "fail")])
        five = y["five_years"] if q == "hp10" else None
        having = [(p, row) for p, row in inside if getattr(p, key) is not None
                  and not (q == "hp10" and row.get("organ_only"))]
        out.append({
            "metric": metric, "quantity": q, "unit": UNIT, "count": len(having),
            "sum": round(float(part[q] or 0.0), 6), "year_sum": y[key], "limit": limit,
            "over": len(broken), "mean": None,
            "max": max(float(getattr(p, key)) for p, _row in having),
            "unmonitored_days": dose.unmonitored_days,
            "five_year_sum": five and five["hp10_msv"],
            "five_years": five and f"{five['first_year']}-{five['last_year']}",
            "five_year_limit": five and five["limit_msv"],
            "pregnancy_limit": (y["pregnancies"][0]["limit_msv"]
                                if q == "hp10" and y["pregnancies"] else None),
            "sources": [row["period"] for _p, row in having],
            "basis": "; ".join(source_text(row) for _p, row in having),
            "instruments": sorted({d for _p, row in having
                                   for d in str(row["dosimeter"]).split("|") if d}),
            "verdict": verdict or "insufficient"})
    return out
