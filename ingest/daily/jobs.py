"""Job (岗位) records: one per job and agent, each judged against that agent's own limit.

A job's time-activity profile (``records.jobs[].profile``) lists the points its workers
spend time at. Each point measures one agent, so the profile is split by agent (a dust by
agent *and* fraction: total and respirable dust have different PC-TWAs), and each agent gets
its own record, limit and unit; nothing is ever summed across agents.

- chemical or dust with a PC-TWA: C_TWA = sum(C_j x T_j) / 8 h over the steps at points of
  that agent, C_j the point's time-weighted mean over the shift (GBZ 159-2004 定点采样 and
  GBZ 2.1-2019 appendix A; ``thresholds.job_twa``), against the agent's (fraction's) PC-TWA;
- chemical with a MAC only: MAC holds at every work site at all times (GBZ 2.1-2019 cl. 3),
  so there is no time weighting: the record lists each point's day maximum and MAC verdict;
- noise: LEX,8h = 10 lg( (1/8 h) sum t_i 10^(0.1 LAeq_i) ) over the job's noise points, the
  equal-energy rule of GBZ 2.2-2007 cl. 11 and the time-activity (工种/岗位) method of
  GBZ/T 189.8-2007 cl. 6 (verify clause number), with LAeq_i the point's LAeq over the shift
  (``thresholds.laeq_of_periods`` then ``thresholds.lex_8h``), against 85 dB(A);
- radiation: personal dose belongs to each worker (GBZ 128-2019), so a job's radiation points
  are not averaged with anything: the record lists each point's day Hp(10) and verdict.

Policy (occmon's, docs/records.md): profile hours at points that do not monitor an agent
count as no exposure to it (a site monitors an agent where it occurs); an agent's record is
``insufficient`` for a shift when any of its points has no figure for that shift.

Pure: plans from the config, figures from each point's ``Outcome``; no store, no clock.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import thresholds
from ingest.daily.analyze import VERDICT_ZH, Outcome, num, worst
from ingest.daily.spec import PointSpec
from ingest.daily.store import Draft
from ingest.daily.windows import Window
from occmon.config.records import Job
from occmon.config.schema import SiteConfig
from occmon.quantities import QUANTITIES

Step = tuple[str, float]  # point id, hours per shift


@dataclass(frozen=True, slots=True)
class JobAgent:
    """What one job produces for one agent: its steps, metric, limit and unit."""

    job: Job
    spec: PointSpec  # the first step's point: agent, fraction and limits of the group
    steps: tuple[Step, ...]
    unexposed_h: float  # profile hours at points that do not monitor this agent

    @property
    def key(self) -> str:
        fraction = self.spec.point.fraction if self.spec.kind == "dust" else None
        return f"{self.spec.agent.id}:{fraction}" if fraction else self.spec.agent.id

    @property
    def metric(self) -> str:
        if self.spec.kind == "noise":
            return "lex_8h"
        if self.spec.kind == "radiation":
            return "point_doses"
        return "c_twa" if self.spec.pc_twa is not None else "mac"

    @property
    def limit(self) -> float | None:
        if self.metric == "lex_8h":
            return self.spec.agent.noise.lex_8h if self.spec.agent.noise else None
        if self.metric == "c_twa":
            return self.spec.pc_twa
        if self.metric == "mac":
            return self.spec.limits.mac
        return thresholds.investigation_level(365) * 1000.0  # uSv a day, as point records

    @property
    def limit_name(self) -> str:
        return {"lex_8h": "LEX,8h", "c_twa": "PC-TWA", "mac": "MAC",
                "point_doses": "investigation level / 365"}[self.metric]

    @property
    def unit(self) -> str:
        quantity = QUANTITIES.get(self.spec.primary)
        return quantity.unit if quantity else ""

    def explain(self) -> str:
        """One line for ``occmon config check``: what this job x agent record will be."""
        s = self.spec
        fraction = f" ({s.point.fraction})" if s.kind == "dust" and s.point.fraction else ""
        where = ", ".join(f"{p} {h:g} h" for p, h in self.steps)
        rest = (f"; {self.unexposed_h:g} h at points without it count as unexposed"
                if self.unexposed_h else "")
        head = f"job {self.job.id!r} ({self.job.name}) x {s.agent.id}{fraction} {s.agent.zh}: "
        limit = f"{self.limit:g} {self.unit}" if self.limit is not None else "no limit"
        if self.metric == "c_twa":
            body = (f"C_TWA = sum(C x T) / 8 h over [{where}] vs PC-TWA {limit} "
                    "(GBZ 2.1-2019, GBZ 159)")
        elif self.metric == "lex_8h":
            body = (f"LEX,8h = 10 lg(sum t x 10^(0.1 LAeq) / 8 h) over [{where}] vs {limit} "
                    "(GBZ 2.2-2007 cl. 11, GBZ/T 189.8-2007)")
        elif self.metric == "mac":
            body = (f"MAC {limit} at each of [{where}] at all times, not time-weighted "
                    "(GBZ 2.1-2019 cl. 3)")
        else:
            body = (f"Hp(10) of each of [{where}] listed, not averaged (personal dose is per "
                    f"worker, GBZ 128-2019); day investigation share {limit}")
        return head + body + (rest if self.metric in ("c_twa", "lex_8h") else "")


def plan(config: SiteConfig, specs: Mapping[str, PointSpec]) -> list[JobAgent]:
    """Every (job, agent) record the config produces, in profile order; a step naming an
    unknown point is skipped here (``occmon config check`` reports it)."""
    if config.records is None:
        return []
    out = []
    for job in config.records.jobs:
        groups: dict[tuple[str, str | None], list[Step]] = {}
        firsts: dict[tuple[str, str | None], PointSpec] = {}
        total = 0.0
        for step in job.profile:
            spec = specs.get(step.point)
            if spec is None:
                continue
            total += step.hours
            fraction: str | None = spec.point.fraction if spec.kind == "dust" else None
            key = (spec.agent.id, fraction)
            groups.setdefault(key, []).append((step.point, step.hours))
            firsts.setdefault(key, spec)
        for key, steps in groups.items():
            mine = sum(h for _, h in steps)
            out.append(JobAgent(job, firsts[key], tuple(steps), round(total - mine, 6)))
    return out


def _shift_value(ja: JobAgent, values: Mapping[str, float]) -> float:
    if ja.metric == "lex_8h":
        levels = [values[p] for p, _ in ja.steps]
        hours = [h for _, h in ja.steps]
        # LAeq over the Te at noise points, then normalised to 8 h: the time elsewhere adds
        # no A-weighted energy (GBZ 2.2-2007 cl. 11)
        return thresholds.lex_8h(thresholds.laeq_of_periods(levels, hours), sum(hours))
    return thresholds.job_twa(list(ja.steps), values)


def _time_weighted(ja: JobAgent, outcomes: Mapping[str, Outcome],
                   shifts: Sequence[Window]) -> tuple[dict[str, Any], list[str], float | None]:
    per_shift: dict[str, Any] = {}
    verdicts: list[str] = []
    values_out: list[float] = []
    limit = ja.limit
    for w in shifts:
        values = {p: outcomes[p].means.get(w.name, math.nan) for p, _ in ja.steps}
        known = all(math.isfinite(v) for v in values.values())
        value = _shift_value(ja, values) if known else None
        verdict = ("insufficient" if value is None or limit is None
                   else "pass" if value <= limit else "fail")
        verdicts.append(verdict)
        entry: dict[str, Any] = {"value": num(value), "limit": limit, "verdict": verdict,
                                 "points": {p: num(v) for p, v in values.items()}}
        if ja.metric == "lex_8h" and value is not None:
            entry["dose_pct"] = num(float(thresholds.noise_dose_percent(value)), 2)
        if value is not None:
            values_out.append(value)
        per_shift[w.name] = entry
    return per_shift, verdicts, max(values_out) if values_out else None


def _per_point(ja: JobAgent, outcomes: Mapping[str, Outcome]
               ) -> tuple[list[dict[str, Any]], list[str], float | None]:
    """MAC-only agents and radiation: each point as it is, never weighted or averaged."""
    field, verdict_key = ("dose_usv", "dose") if ja.metric == "point_doses" else ("max", "mac")
    points, verdicts, values = [], [], []
    for p, h in dict.fromkeys(ja.steps):
        out = outcomes[p]
        value = out.fields.get(field)
        verdict = out.verdicts.get(verdict_key, "insufficient")
        points.append({"point": p, "hours": h, field: value, "verdict": verdict})
        verdicts.append(verdict)
        if value is not None:
            values.append(float(value))
    return points, verdicts, max(values) if values else None


def job_drafts(config: SiteConfig, day: dt.date, plans: Sequence[JobAgent],
               outcomes: Mapping[str, Outcome], shifts: Sequence[Window]) -> list[Draft]:
    """One ``job-record`` draft per (job, agent) of ``plans`` for ``day``."""
    iso = day.isoformat()
    out = []
    for ja in plans:
        s = ja.spec
        content: dict[str, Any] = {
            "site": config.site.id, "job": ja.job.id, "job_name": ja.job.name, "day": iso,
            "point": f"job:{ja.job.id}", "point_name": {"zh": ja.job.name, "en": ja.job.id},
            "agent": {"id": s.agent.id, "zh": s.agent.zh, "en": s.agent.en, "kind": s.kind,
                      "fraction": s.point.fraction if s.kind == "dust" else None},
            "metric": ja.metric, "unit": ja.unit, "limit": ja.limit,
            "limit_name": ja.limit_name, "limits": s.limits_content(),
            "profile": [{"point": p, "hours": h} for p, h in ja.steps],
            "unexposed_hours": ja.unexposed_h, "sources": list(s.limits_content()["sources"]),
        }
        if ja.metric in ("c_twa", "lex_8h"):
            per_shift, verdicts, top = _time_weighted(ja, outcomes, shifts)
            content["shifts"] = per_shift
            content[ja.metric] = num(top, 2 if ja.metric == "lex_8h" else 6)
        else:
            points, verdicts, top = _per_point(ja, outcomes)
            content["points"] = points
            content["max" if ja.metric == "mac" else "dose_usv"] = num(top)
        content["verdict_en"] = worst(verdicts)
        content["verdict"] = VERDICT_ZH[worst(verdicts)]
        out.append(Draft(f"job:{ja.job.id}/{ja.key}|{iso}|", "job-record", s.point.area,
                         f"job:{ja.job.id}", s.agent.id, "", content))
    return out
