"""A worker's occupational and exposure history (职业史和职业病危害接触史): the periods of
each job, and for each period and calendar year the hazard factors and exposure levels, each
marked with its source, for a diagnosing institution; and the year's notice of results for
the worker (告知).

Periods come from the worker's registry rows: the first from ``joined`` (else the day the
worker was entered), a new one on the day a correction changing the 工种 was entered (the
registry has no separate effective date: ``reason`` says why), the last to ``left`` (else
the window's end).

Exposure levels, per period, year and agent:
- ``personal`` noise: the shifts the worker wore a noise dosimeter (``ingest.workers.noise``):
  count, highest and energy-mean LEX,8h, shifts above 85 dB(A), highest LCpeak;
- ``personal`` radiation: the personal dose file's (``dose_history``: lab, nominal and EPD
  months as ``dose_view`` counts them), per quantity reported (Hp(10), Hp(3), Hp(0.07)),
  with the year's sum, its limit (adult or 16-18), a pregnancy's and the 5-year sum, their
  sources and verdicts; job-based radiation only on days no counted period covers;
- ``personal`` chemicals: the shifts the worker wore a gas detector (``chemicals``): C_TWA
  = sum(C_i T_i) / 8 h against PC-TWA, or the highest reading against a MAC;
- ``job``: the closed days' job records of the period's job (time-activity profile over the
  site's points, ``ingest.daily.jobs``) for every agent of the profile, on the days the
  worker's own instrument did not measure that agent. A job-based level describes the
  places, not the person.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest.daily.windows import zone
from ingest.workers import chemicals, dose_history, noise, registry
from occmon.config.schema import SiteConfig
from thresholds.catalogue import lookup
from thresholds.noise import CRITERION_DB

NOISE_AGENT = "noise"
RADIATION_AGENT = "ionising-radiation"


@dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    end: dt.date
    job: str
    job_id: str | None  # the site file's job (岗位) it maps to; None: no time-activity profile


def _day(at: float, config: SiteConfig) -> dt.date:
    return dt.datetime.fromtimestamp(at, zone(config.site.timezone)).date()


def periods(conn: sqlite3.Connection, config: SiteConfig, employee: str,
            first: dt.date, last: dt.date) -> list[Period]:
    """The worker's job periods clipped to [first, last]."""
    rows = registry.worker_history(conn, employee)
    if not rows:
        return []
    current = rows[-1]
    begin = (dt.date.fromisoformat(rows[0]["joined"]) if rows[0]["joined"]
             else _day(rows[0]["entered"], config))
    end = dt.date.fromisoformat(current["left_on"]) if current["left_on"] else last
    spans: list[tuple[dt.date, str]] = [(begin, rows[0]["job"])]
    for row in rows[1:]:
        if row["job"] != spans[-1][1]:
            spans.append((max(_day(row["entered"], config), begin), row["job"]))
    out = []
    for i, (start, job) in enumerate(spans):
        stop = spans[i + 1][0] - dt.timedelta(days=1) if i + 1 < len(spans) else end
        lo, hi = max(start, first), min(stop, last)
        if lo <= hi:
            found = noise.job_of(config, job)
            out.append(Period(lo, hi, job, found.id if found else None))
    return out


def _profile(config: SiteConfig, p: Period) -> list[dict[str, Any]]:
    """The time-activity profile (points and hours per shift) of the period's job."""
    found = noise.job_of(config, p.job)
    return [] if found is None else [{"point": s.point, "hours": s.hours} for s in found.profile]


def _years(p: Period) -> list[tuple[dt.date, dt.date]]:
    return [(max(p.start, dt.date(y, 1, 1)), min(p.end, dt.date(y, 12, 31)))
            for y in range(p.start.year, p.end.year + 1)]


def _agent(agent_id: str) -> dict[str, str]:
    try:
        a = lookup(agent_id)
        return {"id": a.id, "zh": a.zh, "en": a.en}
    except Exception:  # an agent the catalogue no longer has: keep the id as recorded
        return {"id": agent_id, "zh": agent_id, "en": agent_id}


def _energy_mean(levels: Sequence[float]) -> float:
    return float(10.0 * np.log10(np.mean(np.power(10.0, 0.1 * np.asarray(levels)))))


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def _entry(p: Period, lo: dt.date, hi: dt.date, agent: str, source: str, **kw: Any
           ) -> dict[str, Any]:
    a = _agent(agent)
    return {"from": lo.isoformat(), "to": hi.isoformat(), "year": lo.year, "job": p.job,
            "job_id": p.job_id, "agent": a["id"], "agent_zh": a["zh"], "agent_en": a["en"],
            "source": source, **kw}


def _personal(conn: sqlite3.Connection, config: SiteConfig, employee: str, p: Period,
              lo: dt.date, hi: dt.date, worker: dict[str, Any],
              radiation: dose_history.Radiation, years: Sequence[dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """The personal entries of [lo, hi] and, per agent, the days with a personal figure."""
    out: list[dict[str, Any]] = []
    nf = noise.noise_file(conn, config, worker, lo, hi)
    shifts = [s for s in nf.shifts if s["lex_8h"] is not None]
    if shifts:
        lexes = [float(s["lex_8h"]) for s in shifts]
        peaks = [float(s["lcpeak_max"]) for s in shifts if s["lcpeak_max"] is not None]
        weeks = [w for w in nf.weeks if w["lex_w_applies"]]
        out.append(_entry(
            p, lo, hi, NOISE_AGENT, "personal", metric="LEX,8h", unit="dB(A)",
            basis=nf.basis, instruments=sorted({i for s in shifts for i in s["instruments"]}),
            count=len(shifts), max=_r(max(lexes)), mean=_r(_energy_mean(lexes)),
            limit=CRITERION_DB, over=sum(x > CRITERION_DB for x in lexes),
            lcpeak_max=_r(max(peaks)) if peaks else None,
            impulse_fails=sum(s["impulse_verdict"] == "fail" for s in shifts),
            lex_w_max=_r(max(w["lex_w"] for w in weeks)) if weeks else None,
            verdict="fail" if any(x > CRITERION_DB for x in lexes) else "pass"))
    rad = dose_history.entries(radiation, lo, hi, years)
    out += [_entry(p, lo, hi, RADIATION_AGENT, "personal", **e) for e in rad]
    covered = {NOISE_AGENT: {s["day"] for s in nf.shifts}}
    if rad:
        covered[RADIATION_AGENT] = dose_history.covered_days(radiation, lo, hi)
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in chemicals.personal_chemicals(conn, config, employee, lo, hi):
        by_agent[row["agent"]].append(row)
    for agent, rows in sorted(by_agent.items()):
        covered[agent] = {r["day"] for r in rows}
        twa = rows[0]["pc_twa"] is not None
        values = [float(r["c_twa"] if twa else r["max"]) for r in rows]
        lim = rows[0]["pc_twa"] if twa else rows[0]["mac"]
        out.append(_entry(
            p, lo, hi, agent, "personal", metric=rows[0]["metric"], unit=chemicals.UNIT,
            basis="gas detector", instruments=sorted({i for r in rows
                                                      for i in r["instruments"]}),
            count=len(rows), max=_r(max(values), 4),
            mean=_r(float(np.mean(values)), 4) if twa else None, limit=lim,
            over=sum(r["verdict"] == "fail" for r in rows),
            verdict="fail" if any(r["verdict"] == "fail" for r in rows) else
            "pass" if all(r["verdict"] == "pass" for r in rows) else "insufficient"))
    return out, covered


def _job(conn: sqlite3.Connection, config: SiteConfig, p: Period, lo: dt.date, hi: dt.date,
         covered: dict[str, set[str]]) -> list[dict[str, Any]]:
    if p.job_id is None:
        return []
    records = noise.job_records(conn, config, p.job_id, lo.isoformat(), hi.isoformat())
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        agent = rec.get("agent") or {}
        if rec.get("day") in covered.get(str(agent.get("id")), set()):
            continue  # the worker's own instrument measured that agent that day
        fraction = agent.get("fraction")
        by_agent[f"{agent.get('id')}:{fraction}" if fraction else str(agent.get("id"))
                 ].append(rec)
    out = []
    for key, recs in sorted(by_agent.items()):
        metric = str(recs[0].get("metric"))
        field = {"lex_8h": "lex_8h", "c_twa": "c_twa", "mac": "max"}.get(metric, "dose_usv")
        values = [float(r[field]) for r in recs if r.get(field) is not None]
        mean = (None if not values else _energy_mean(values) if metric == "lex_8h"
                else float(np.mean(values)))
        limit = recs[0].get("limit")
        e = _entry(p, lo, hi, key.split(":")[0], "job",
                   metric={"lex_8h": "LEX,8h", "c_twa": "C_TWA", "mac": "MAC max"}.get(
                       metric, "Hp(10) point"), unit=recs[0].get("unit", ""),
                   basis="; ".join(f"{s['point']} {s['hours']:g} h"
                                   for s in recs[0].get("profile") or []),
                   instruments=[], count=len(values), max=_r(max(values), 4) if values else None,
                   mean=_r(mean, 4), limit=limit,
                   over=sum(r.get("verdict_en") == "fail" for r in recs),
                   verdict=("fail" if any(r.get("verdict_en") == "fail" for r in recs)
                            else "pass" if values else "insufficient"))
        if ":" in key:
            e["fraction"] = key.split(":", 1)[1]
        out.append(e)
    return out


def exposure_history(conn: sqlite3.Connection, config: SiteConfig, worker: dict[str, Any],
                     first: dt.date, last: dt.date, now: float) -> dict[str, Any]:
    """Periods and exposure entries of [first, last], by period, year, source and agent;
    ``radiation``: the personal dose file's calendar years touching the window (``now``:
    the dose file's clock, for its electronic dosimeters' months)."""
    ps = periods(conn, config, worker["employee"], first, last)
    radiation = dose_history.read(conn, config, worker["employee"], now)
    years = dose_history.year_rows(radiation, first, last)
    entries: list[dict[str, Any]] = []
    for p in ps:
        for lo, hi in _years(p):
            mine, covered = _personal(conn, config, worker["employee"], p, lo, hi, worker,
                                      radiation, years)
            entries += mine + _job(conn, config, p, lo, hi, covered)
    return {"site": config.site.id, "basis": noise.basis(config),
            "from": first.isoformat(), "to": last.isoformat(), "radiation": years,
            "dose_rules": {"below_mdl": radiation.file["rules"]["below_mdl"],
                           "limits": radiation.file["rules"]["limits"]},
            "periods": [{"from": p.start.isoformat(), "to": p.end.isoformat(), "job": p.job,
                         "job_id": p.job_id, "profile": _profile(config, p)} for p in ps],
            "entries": entries}


def employment(conn: sqlite3.Connection, config: SiteConfig, worker: dict[str, Any],
               today: dt.date) -> tuple[dt.date, dt.date]:
    """[joined, left] of the worker; joined unknown: the day first entered; still employed
    (or left unknown): today."""
    rows = registry.worker_history(conn, worker["employee"])
    entered = _day(rows[0]["entered"], config) if rows else today
    first = dt.date.fromisoformat(worker["joined"]) if worker.get("joined") else entered
    last = dt.date.fromisoformat(worker["left_on"]) if worker.get("left_on") else today
    return first, max(first, last)


CSV_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("from", "起始日期", "from"), ("to", "截止日期", "to"), ("job", "工种", "job"),
    ("agent_zh", "危害因素", "hazard"), ("agent", "因素编码", "agent id"),
    ("source", "来源", "source"), ("metric", "指标", "metric"), ("unit", "单位", "unit"),
    ("count", "班次/天数", "shifts/days"), ("max", "最高值", "max"), ("mean", "平均值", "mean"),
    ("sum", "合计", "sum"), ("year_sum", "年剂量", "year sum"),
    ("five_year_sum", "5年合计", "5-year sum"), ("five_years", "5年期间", "5 years"),
    ("limit", "限值", "limit"), ("over", "超限次数", "over limit"),
    ("lcpeak_max", "LCpeak最高", "LCpeak max"), ("lex_w_max", "LEX,W最高", "LEX,W max"),
    ("verdict", "判定", "verdict"), ("basis", "依据 (仪器/时间分配)", "basis (instrument/profile)"),
    ("instruments", "个体仪器", "instruments"),
)


def file_summary(conn: sqlite3.Connection, config: SiteConfig, worker: dict[str, Any],
                 lo: float, hi: float) -> dict[str, Any]:
    """The worker file's short noise and history section for the window [lo, hi)."""
    first, last = _day(lo, config), _day(hi - 1.0, config)
    nf = noise.noise_file(conn, config, worker, first, last)
    lexes = [s["lex_8h"] for s in nf.shifts if s["lex_8h"] is not None]
    employee = worker["employee"]
    return {"basis": nf.basis, "personal_shifts": len(lexes),
            "lex_8h_max": max(lexes) if lexes else None,
            "shifts_over_85": sum(x > CRITERION_DB for x in lexes),
            "impulse_fails": sum(s["impulse_verdict"] == "fail" for s in nf.shifts),
            "lex_w": [{"week": w["week"], "lex_w": w["lex_w"], "days": w["days"]}
                      for w in nf.weeks if w["lex_w_applies"]],
            "job_based_shifts": len(nf.job),
            "noise": f"/api/v1/workers/{employee}/noise",
            "history": f"/api/v1/workers/{employee}/history",
            "notice": f"/api/v1/workers/{employee}/notice/{{year}}"}
