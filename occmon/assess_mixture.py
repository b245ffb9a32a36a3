"""``occmon assess FILE --agent A ... --with AGENT:UNIT:FILE2 ...``: several agents with the
same health effect, measured over the same shift, judged as a mixture: I = sum(C_TWA_i /
(PC-TWA_i x RF)) <= 1 (GBZ 2.1-2019 appendix A; ``thresholds.mixture_assessment``). Each
file is read as the main one (below-detection values by the same rule) and its C_TWA taken
over the main file's shift. Which agents share a health effect is the user's call.
"""

from __future__ import annotations

import argparse
from datetime import tzinfo
from pathlib import Path
from typing import Any

import numpy as np

import thresholds as thr
from thresholds.types import FloatArray


class MixtureInputError(ValueError):
    """A bad ``--with``: ``occmon assess`` prints it and exits 2."""


def _pc_twa(agent: thr.Agent, fraction: str) -> float:
    lim = agent.limits()
    value = (lim.pc_twa if agent.kind == "chemical" else
             lim.pc_twa_respirable if fraction == "respirable" else lim.pc_twa_total)
    if value is None:
        raise MixtureInputError(f"agent {agent.id!r} has no PC-TWA: a mixture is judged on "
                                "C_TWA / PC-TWA")
    return value


def assess_mixture(args: argparse.Namespace, agent: thr.Agent, twa: thr.ShiftTWA,
                   start: float, rf: float, tz: tzinfo) -> dict[str, Any]:
    from occmon.assess import _default_gap, read_csv  # the one CSV reader

    terms = [thr.MixtureTerm(agent.id, twa.c_twa, twa.c_twa_lower,
                             _pc_twa(agent, args.fraction) * rf, twa.sufficient)]
    files = [{"agent": agent.id, "file": args.file.name, "c_twa": twa.c_twa,
              "coverage": twa.coverage}]
    hours = twa.shift_s / 3600.0
    for spec in args.with_:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise MixtureInputError(f"--with {spec!r}: expected AGENT:UNIT:FILE, "
                                    "e.g. toluene:mg/m3:toluene.csv")
        other = thr.lookup(parts[0])
        if other.id in {t.agent for t in terms}:
            raise MixtureInputError(f"--with {spec!r}: agent {other.id!r} is already in the "
                                    "mixture")
        limit = _pc_twa(other, args.fraction) * rf   # before reading: fail fast
        path = Path(parts[2])
        readings = read_csv(path, tz, args.lod)
        values: FloatArray = np.asarray(thr.to_canonical(readings.values, parts[1], other),
                                        dtype=np.float64)
        gap = float(args.max_gap) if args.max_gap is not None else _default_gap(readings.times)
        st = thr.shift_twa(readings.times, values, start=start, hours=hours, max_gap=gap,
                           unmonitored=args.unmonitored, min_coverage=args.min_coverage)
        terms.append(thr.MixtureTerm(other.id, st.c_twa, st.c_twa_lower, limit,
                                     st.sufficient))
        files.append({"agent": other.id, "file": path.name, "c_twa": st.c_twa,
                      "coverage": st.coverage, "below_detection": len(readings.below_lod)})
    res = thr.mixture_assessment(terms)
    r = _round
    return {"rule": "sum(C_TWA_i / (PC-TWA_i x RF)) <= 1 (GBZ 2.1-2019 appendix A)",
            "index": r(res.index), "index_lower_bound": r(res.index_lower),
            "verdict": res.verdict,
            "terms": [{"agent": t.agent, "file": f["file"], "c_twa": r(t.c_twa),
                       "limit": r(t.limit), "ratio": r(t.ratio), "coverage": r(f["coverage"])}
                      for t, f in zip(res.terms, files, strict=True)]}


def _round(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)
