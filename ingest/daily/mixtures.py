"""Mixture groups in the daily records: agents with the same health effect judged together
on each shift, I = sum(C_TWA_i / (PC-TWA_i x RF)) <= 1 (GBZ 2.1-2019 appendix A;
``thresholds.mixture_assessment``), from the C_TWA each point's analysis already computed.

A group (``records.mixtures``) is judged at each place: its listed ``points``, or else each
area with the points whose agent is in the group. At a place, an agent measured at several
points enters with its highest C_TWA of the shift (the worst case a worker there can meet),
and a place measuring fewer than two of the group's agents is not a mixture (each agent is
judged alone already). The result is added to the day record of every point of the place,
as ``mixtures``; a site without ``records.mixtures`` gets no such field (its records are
unchanged). Pure: outcomes in, content out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import thresholds
from ingest.daily.analyze import Outcome, num, verdict_fields, worst
from ingest.daily.spec import PointSpec
from ingest.daily.store import Draft
from ingest.daily.windows import Window
from occmon.config.records import MixtureGroup
from occmon.config.schema import SiteConfig

Analysed = Mapping[str, tuple[PointSpec, Outcome]]


def _places(group: MixtureGroup, by_point: Analysed) -> list[tuple[str, list[str]]]:
    """(place name, point ids) where the group is judged."""
    members = [p for p, (spec, _) in by_point.items() if spec.agent.id in group.agents]
    if group.points:
        return [("points", [p for p in group.points if p in by_point
                            and by_point[p][0].agent.id in group.agents])]
    areas: dict[str, list[str]] = {}
    for p in members:
        areas.setdefault(by_point[p][0].point.area, []).append(p)
    return [(f"area:{area}", pts) for area, pts in areas.items()]


def _shift(group: MixtureGroup, points: Sequence[str], by_point: Analysed,
           w: Window) -> dict[str, Any] | None:
    best: dict[str, tuple[str, thresholds.ShiftTWA, float, float]] = {}
    for p in points:
        spec, out = by_point[p]
        if spec.pc_twa is None or w.name not in out.twas:
            continue
        st, rf = out.twas[w.name]
        key = spec.agent.id
        value = st.c_twa if math.isfinite(st.c_twa) else st.c_twa_lower
        seen = best.get(key)
        if seen is None or value > (seen[1].c_twa if math.isfinite(seen[1].c_twa)
                                    else seen[1].c_twa_lower):
            best[key] = (p, st, spec.pc_twa, rf)
    if len(best) < 2:
        return None
    terms = [thresholds.MixtureTerm(agent, st.c_twa, st.c_twa_lower, pc_twa * rf,
                                    st.sufficient)
             for agent, (_, st, pc_twa, rf) in sorted(best.items())]
    res = thresholds.mixture_assessment(terms)
    return {"index": num(res.index, 4), "index_lower": num(res.index_lower, 4),
            "verdict": res.verdict,
            "terms": [{"agent": t.agent, "point": best[t.agent][0], "c_twa": num(t.c_twa),
                       "limit": num(t.limit), "ratio": num(t.ratio, 4)} for t in terms]}


def mixture_content(config: SiteConfig, by_point: Analysed,
                    shifts: Sequence[Window]) -> dict[str, list[dict[str, Any]]]:
    """point id -> the mixture entries to add to its day record (only points in a place)."""
    groups = config.records.mixtures if config.records is not None else []
    out: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        for place, points in _places(group, by_point):
            per_shift = {w.name: r for w in shifts
                         if (r := _shift(group, points, by_point, w)) is not None}
            if not per_shift:
                continue
            verdict = worst([r["verdict"] for r in per_shift.values()])
            indices = [r["index"] for r in per_shift.values() if r["index"] is not None]
            entry = {"id": group.id, "name": group.name, "effect": group.effect,
                     "place": place, "points": sorted(points),
                     "rule": "sum(C_TWA_i / (PC-TWA_i x RF)) <= 1 (GBZ 2.1-2019 appendix A)",
                     "index": max(indices) if indices else None, "verdict": verdict,
                     "shifts": per_shift}
            for p in points:
                out.setdefault(p, []).append(entry)
    return out


def add_to_records(config: SiteConfig, by_point: Analysed, shifts: Sequence[Window],
                   drafts: Sequence[Draft]) -> None:
    """Put each place's mixture entries in its points' day records, and their verdicts
    (``mixture:{id}``) among the record's verdicts: a mixture over 1 makes the day 超标."""
    mix = mixture_content(config, by_point, shifts)
    if not mix:
        return
    for d in drafts:
        entries = mix.get(d.point)
        if d.kind != "daily-record" or d.shift or not entries:
            continue
        out = by_point[d.point][1]
        for e in entries:
            out.verdicts[f"mixture:{e['id']}"] = e["verdict"]
        d.content["mixtures"] = entries
        d.content.update(verdict_fields(out))
