"""A worker's personal chemical exposure per shift from the gas detectors they wore.

The readings of a worn gas detector (``attribution.personal_readings``) in mg/m3, per agent,
each held 60 s at most (as the noise dosimeter's): per shift (``noise.slots``) the integral
of C dt over the worn part gives C_TWA = sum(C_i T_i) / 8 h against the agent's PC-TWA, or
the highest reading against its MAC (``thresholds.personal_twa``). Computed at read time.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import defaultdict
from typing import Any

import numpy as np

from ingest.workers import attribution, noise
from occmon.config.schema import SiteConfig
from occmon.model import Quality
from thresholds.catalogue import lookup
from thresholds.personal_noise import REFERENCE_S
from thresholds.personal_twa import shift_chemical
from thresholds.series import held_and_integral

HOLD_S = attribution.NOISE_HOLD_S
UNIT = "mg/m3"


def _limits(agent: str) -> tuple[float | None, float | None]:
    try:
        lim = lookup(agent).limits()
    except Exception:  # an agent the catalogue does not know: no limit to judge by
        return None, None
    return lim.pc_twa, lim.mac


def personal_chemicals(conn: sqlite3.Connection, config: SiteConfig, employee: str,
                       first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """One row per shift and agent the worker's worn detectors measured in [first, last]."""
    slots = noise.slots(config, first, last)
    personal = attribution.personal_readings(conn, config, employee, slots[0].start,
                                             slots[-1].end)
    series: dict[str, list[tuple[float, float, np.ndarray, np.ndarray, str]]] = \
        defaultdict(list)
    for w in personal.worn:
        by_agent: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in w.readings:
            if r.unit == UNIT and r.quality == Quality.GOOD and r.value is not None:
                by_agent[r.agent].append((r.time, r.value))
        for agent, pairs in by_agent.items():
            pairs.sort()
            series[agent].append((w.start, w.end, np.array([t for t, _ in pairs]),
                                  np.array([v for _, v in pairs]), w.instrument))
    b = noise.basis(config)
    min_cov = config.records.min_coverage if config.records is not None else 0.75
    out = []
    for agent, pieces in sorted(series.items()):
        pc_twa, mac = _limits(agent)
        for slot in slots:
            integral = worn = 0.0
            highest = float("-inf")
            instruments = set()
            for start, end, t, v, instrument in pieces:
                lo, hi = max(slot.start, start), min(slot.end, end)
                if hi <= lo:
                    continue
                held, area = held_and_integral(t, v, max_gap=HOLD_S, start=lo, end=hi)
                inside = v[(t >= lo) & (t < hi)]
                if held > 0:
                    integral, worn = integral + area, worn + held
                    instruments.add(instrument)
                if inside.size:
                    highest = max(highest, float(inside.max()))
            if worn <= 0:
                continue
            shift_s = (slot.end - slot.start if b == "site-shifts"
                       else max(REFERENCE_S, worn))  # a calendar day: an 8-h reference
            fig = shift_chemical(integral, highest, worn, shift_s,
                                 pc_twa=pc_twa, mac=mac, min_coverage=min_cov)
            out.append({"day": slot.day, "shift": slot.name, "agent": agent,
                        "source": "personal", "instruments": sorted(instruments),
                        "worn_hours": round(worn / 3600.0, 3), "c_twa": fig.c_twa,
                        "max": fig.max, "pc_twa": pc_twa, "mac": mac,
                        "metric": "C_TWA" if pc_twa is not None else "MAC max",
                        "verdict": fig.verdict})
    return out
