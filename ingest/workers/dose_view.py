"""A worker's personal dose file as read: the stored results (``doses``) and the electronic
dosimeters' months (``attribution``), judged by ``thresholds.personal_dose``.

**Which periods count.** A lab or nominal result is the record (GBZ 128: the passive
dosimeter is the dose of record). An electronic dosimeter's calendar month (its days worn,
from the attributed cumulative Hp(10), ``source: EPD``) counts only where no lab or nominal
result overlaps it; otherwise it is listed with ``counted: false``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from ingest.daily.windows import iso_local, zone
from ingest.workers import attribution, epd_days, registry
from ingest.workers.doses import (
    QUANTITIES,
    current_results,
    day_of,
    entered_msv,
    investigations,
    organ_only,
    overlaps,
    pregnancies,
    put_nominal,
)
from ingest.workers.registry import RegistryError
from occmon.config.schema import SiteConfig
from thresholds import personal_dose as pd
from thresholds.dosefile import PeriodResult
from thresholds.radiation import radiation_limits

Meta = dict[str, Any]


def _result_period(r: dict[str, Any], factor: float) -> tuple[PeriodResult, Meta]:
    values: dict[str, float | None] = {}
    below = []
    for q in QUANTITIES:
        if r[q]:
            values[q], is_below = entered_msv(r[q], r["mdl_msv"], factor)
            if is_below:
                below.append(q)
        else:
            values[q] = None
    hp10 = values["hp10"] or 0.0  # an organ-only result (no Hp(10)) is judged apart: organ()
    p = PeriodResult(day_of(r["start"]), day_of(r["end"]), hp10, values["hp007"], values["hp3"],
                     tuple(below))
    meta = {"period": str(r["id"]), "id": r["id"], "source": r["source"],
            "dosimeter": r["dosimeter"], "reported": {q: r[q] or None for q in QUANTITIES},
            "mdl_msv": r["mdl_msv"], "lab": r["lab"], "report": r["report"],
            "method": r["method"] or None, "reason": r["reason"],
            "entered_by": r["entered_by"], "corrects": r["corrects"]}
    return p, meta


def epd_periods(conn: sqlite3.Connection, config: SiteConfig, employee: str,
                now: float) -> list[tuple[PeriodResult, Meta]]:
    """The worker's electronic-dosimeter Hp(10) per calendar month (site-local days), from
    the readings attributed to them; a month's period runs over its days worn."""
    epd = [a for a in registry.assignments(conn, worker=employee)
           if (inst := registry.instrument(conn, a["instrument"])) is not None
           and inst["type"] == "EPD" and inst["device"]]
    if not epd:
        return []
    tz = ZoneInfo(config.site.timezone)
    lo = min(a["start"] for a in epd)
    hi = max(now if a["end"] is None else min(a["end"], now) for a in epd)
    if hi <= lo:
        return []
    worn = epd_days.pieces(conn, employee, lo, hi, {a["id"] for a in epd})
    months: dict[str, dict[str, Any]] = {}
    for w in worn:  # the days worn, per month (a month at a time)
        day = dt.datetime.fromtimestamp(w.start, tz).date()
        last = dt.datetime.fromtimestamp(max(w.start, w.end - 1e-6), tz).date()
        while day <= last:
            after = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            upto = min(last, after - dt.timedelta(days=1))
            m = months.setdefault(day.strftime("%Y-%m"), {"start": day, "end": upto,
                                                          "serials": set(), "usv": None})
            m["start"], m["end"] = min(m["start"], day), max(m["end"], upto)
            m["serials"].add(w.instrument)
            day = after
    # Each day's dose summed over the pieces in their order, then the days of a month in
    # day order: the additions ``attribution.daily_exposure`` makes, over the series only.
    # Closed days come from the stored day doses (``epd_days``), the rest from readings.
    bounds = attribution.day_bounds(lo, hi, tz)
    per_day: dict[int, float] = {}
    for doses in epd_days.piece_day_doses(conn, config, worn, bounds, now):
        for i, dose in doses:
            per_day[i] = per_day.get(i, 0.0) + dose
    for i in sorted(per_day):
        key = bounds[i][0][:7]
        if key in months:
            m = months[key]
            m["usv"] = (m["usv"] or 0.0) + per_day[i]
    out = []
    for key, m in sorted(months.items()):
        if m["usv"] is None:
            continue  # worn, but fewer than two readings: no dose seen
        p = PeriodResult(m["start"], m["end"], m["usv"] / 1000.0)
        out.append((p, {"period": f"EPD:{key}", "id": None, "source": "EPD",
                        "dosimeter": "|".join(sorted(m["serials"])),
                        "reported": {"hp10": f"{m['usv']:g} uSv", "hp007": None, "hp3": None},
                        "mdl_msv": None, "lab": "", "report": "", "method": None,
                        "reason": "", "entered_by": "attribution", "corrects": None}))
    return out


def counted_periods(conn: sqlite3.Connection, config: SiteConfig, employee: str, now: float
                    ) -> tuple[list[tuple[str, PeriodResult, Meta]],
                               list[tuple[str, PeriodResult, Meta]]]:
    """(counted, shown only): lab and nominal results count; an EPD month counts where no
    result overlaps it."""
    factor = config.personal_dose.mdl_factor
    results = [_result_period(r, factor) for r in current_results(conn, employee)
               if not organ_only(r)]
    counted = [(m["source"], p, m) for p, m in results]
    shown = []
    for p, m in epd_periods(conn, config, employee, now):
        if any(overlaps(p.start, p.end, q.start, q.end) for q, _m in results):
            shown.append(("EPD", p, m))
        else:
            counted.append(("EPD", p, m))
    counted.sort(key=lambda c: c[1].start)
    return counted, shown


def organ(conn: sqlite3.Connection, config: SiteConfig, employee: str
          ) -> list[tuple[PeriodResult, Meta]]:
    """The worker's results without Hp(10) (ring, eye dosimeters): lens and skin/extremity
    doses only, beside the body dosimeter's periods (``doses.organ_only``)."""
    factor = config.personal_dose.mdl_factor
    return [_result_period(r, factor) for r in current_results(conn, employee)
            if organ_only(r)]


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _window(d: pd.WindowDose | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"start": d.start.isoformat(), "end": d.end.isoformat(), "hp10_msv": _r(d.hp10_msv),
            "hp3_msv": _r(d.hp3_msv), "hp007_msv": _r(d.hp007_msv), "days": d.days,
            "unmonitored_days": d.unmonitored_days}


def _period_out(p: PeriodResult, meta: Meta, counted: bool) -> dict[str, Any]:
    return {**meta, "start": p.start.isoformat(), "end": p.end.isoformat(), "days": p.days,
            "hp10_msv": _r(p.hp10_msv), "hp007_msv": _r(p.hp007_msv), "hp3_msv": _r(p.hp3_msv),
            "below_mdl": list(p.below_mdl), "counted": counted}


def rules_out(config: SiteConfig) -> dict[str, Any]:
    lim = radiation_limits()
    r = config.personal_dose
    return {
        "max_period_days": pd.MAX_PERIOD_DAYS, "mdl_factor": r.mdl_factor,
        "recording_level_msv_per_year": r.recording_level_msv_per_year,
        "alert_fraction": r.alert_fraction,
        "limits": {
            "adult": {"effective_single_year_msv": lim.effective_single_year_msv,
                      "effective_5y_msv": 5 * lim.effective_5y_avg_msv,
                      "lens_msv": lim.lens_msv, "skin_msv": lim.skin_msv,
                      "extremities_msv": lim.extremities_msv, "source": pd.ADULT_SOURCE},
            "under_18": {"effective_msv": pd.MINOR_EFFECTIVE_MSV,
                         "lens_msv": pd.MINOR_LENS_MSV,
                         "extremities_skin_msv": pd.MINOR_EXTREMITIES_MSV,
                         "source": pd.MINOR_SOURCE},
            "pregnancy": {"hp10_msv": r.pregnancy_msv, "source": pd.PREGNANCY_SOURCE},
            "investigation_msv_per_year": lim.investigation_msv_per_year,
            "investigation_source": lim.investigation_source.cite()},
        "below_mdl": f"entered as MDL x {r.mdl_factor} (GBZ 128-2019, verify clause)",
        "nominal_methods": list(pd.NOMINAL_METHODS),
    }


Counted = tuple[list[tuple[str, PeriodResult, Meta]], list[tuple[str, PeriodResult, Meta]]]


def dose_file(conn: sqlite3.Connection, config: SiteConfig, employee: str,
              now: float, read: Counted | None = None) -> dict[str, Any]:
    """The worker's dose file: periods (every source), years, 5-year runs, under-18 years,
    pregnancies, investigations (open until an officer records findings) and alerts.
    ``read``: ``counted_periods`` when the caller has them already (one EPD read)."""
    w = registry.worker(conn, employee)
    if w is None:
        raise RegistryError("unknown-worker", f"no worker {employee!r}", 404)
    counted, shown = read or counted_periods(conn, config, employee, now)
    follow: dict[str, list[dict[str, Any]]] = {}
    for inv in investigations(conn, employee):
        follow.setdefault(inv["period"], []).append(
            {"id": inv["id"], "findings": inv["findings"],
             "entered": iso_local(inv["entered"], zone(config.site.timezone)),
             "entered_by": inv["entered_by"]})
    declared = pregnancies(conn, employee)
    organs = organ(conn, config, employee)
    out: dict[str, Any] = {"rules": rules_out(config), "periods": [], "years": [],
                           "five_years": [], "under_18": [], "pregnancies": [],
                           "investigations": [], "alerts": [], "unmonitored": [],
                           "verdicts": {}, "verdict": "insufficient"}
    if not counted and not organs:
        out["periods"] = [_period_out(p, m, False) for _s, p, m in shown]
        out["pregnancies"] = [{"id": d["id"], "declared": d["declared"], "ended": d["ended"],
                               "dose": None, "verdict": "insufficient"} for d in declared]
        return out
    judged = pd.judge([p for _s, p, _m in counted], birth_date=day_of(w["birth_date"]),
                      pregnancies=[(day_of(d["declared"]),
                                    day_of(d["ended"]) if d["ended"] else None)
                                   for d in declared],
                      rules=config.personal_dose.rules(),
                      organ=[p for p, _m in organs])
    f = judged.file
    periods = []
    for i, ((_s, p, meta), c) in enumerate(zip(counted, f.periods, strict=True)):
        entry = _period_out(p, meta, True)
        entry.update({
            "periods_per_year": c.periods_per_year,
            "investigation_level_msv": _r(c.investigation_level_msv),
            "investigate": c.investigate,
            "recording_level_msv": _r(judged.recording_levels_msv[i]),
            "below_recording_level": judged.below_recording[i],
            "follow_up": follow.get(meta["period"], [])})
        entry["investigation_open"] = c.investigate and not entry["follow_up"]
        periods.append(entry)
        if c.investigate:
            out["investigations"].append({
                "period": meta["period"], "start": entry["start"], "end": entry["end"],
                "hp10_msv": entry["hp10_msv"], "level_msv": entry["investigation_level_msv"],
                "open": entry["investigation_open"], "follow_up": entry["follow_up"]})
    periods += [_period_out(p, m, False) for _s, p, m in shown]
    periods += [{**_period_out(p, m, True), "hp10_msv": None, "organ_only": True}
                for p, m in organs]
    periods.sort(key=lambda e: (e["start"], not e["counted"]))
    minors = [{"year": m.year, **(_window(m.dose) or {}), "broken": list(m.broken),
               "verdict": m.verdict} for m in judged.minor_years]
    preg = [{"id": d["id"], "declared": d["declared"], "ended": d["ended"],
             "dose": _window(c.dose), "limit_msv": c.limit_msv, "verdict": c.verdict}
            for d, c in zip(declared, judged.pregnancies, strict=True)]
    out.update({
        "periods": periods,
        "years": [{"year": y.year, "hp10_msv": _r(y.hp10_msv), "hp3_msv": _r(y.hp3_msv),
                   "hp007_msv": _r(y.hp007_msv), "span_days": y.span_days,
                   "unmonitored_days": y.unmonitored_days, "broken": list(y.broken),
                   # GBZ 128-2019: the investigation level is 5 mSv a year (informative
                   # here; investigations are recorded per period)
                   "above_investigation_level": y.hp10_msv > f.limits.investigation_msv_per_year,
                   "verdict": y.verdict} for y in f.years],
        "five_years": [{"first_year": r.first_year, "last_year": r.last_year,
                        "hp10_msv": _r(r.hp10_msv), "verdict": r.verdict}
                       for r in f.five_years],
        "under_18": minors, "pregnancies": preg,
        "alerts": [{"scope": a.scope, "quantity": a.quantity, "first": a.first,
                    "last": a.last, "dose_msv": _r(a.dose_msv), "limit_msv": a.limit_msv,
                    "fraction": _r(a.dose_msv / a.limit_msv), "level": a.level,
                    "source": a.source} for a in judged.alerts],
        "unmonitored": [[a.isoformat(), b.isoformat()] for a, b in f.unmonitored],
        "verdicts": {"annual": f.annual_verdict, "five_year": f.five_year_verdict,
                     "under_18": _worst([m.verdict for m in judged.minor_years]),
                     "pregnancy": _worst([c.verdict for c in judged.pregnancies])},
        "verdict": judged.verdict,
    })
    return out


def _worst(verdicts: Sequence[str]) -> str | None:
    rank = {"pass": 0, "insufficient": 1, "fail": 2}
    return max(verdicts, key=rank.__getitem__) if verdicts else None


def workers_with_results(conn: sqlite3.Connection) -> list[str]:
    """Employees with a dose result or a radiation category (whose files an officer
    watches)."""
    found = {r[0] for r in conn.execute("SELECT DISTINCT employee FROM dose_rows")}
    found |= {w["employee"] for w in registry.workers(conn) if w["category"] != "none"}
    return sorted(found)


def nominal(conn: sqlite3.Connection, config: SiteConfig, employee: str, *, dosimeter: str,
            start: dt.date, end: dt.date, method: str, hp10_msv: float | None, reason: str,
            by: str, now: float, today: dt.date) -> dict[str, Any]:
    """``doses.put_nominal`` with the worker's counted periods as the history."""
    history = [p for _s, p, _m in counted_periods(conn, config, employee, now)[0]]
    return put_nominal(conn, employee, dosimeter=dosimeter, start=start, end=end,
                       method=method, hp10_msv=hp10_msv, reason=reason, history=history,
                       site=config.site.id, by=by, now=now, today=today)
