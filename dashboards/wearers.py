"""Who wore which dosimeter when, read from the site store's registry for the boards.

The time-series database knows points, not people: a dosimeter's readings are stored under
its point. The radiation board's per-worker panel therefore asks, per worker, for the rises
of each dosimeter they wore within each assignment (``queries.worker_dose``); this module
turns the registry's current assignments (``ingest.workers.registry``) into those wearings.
The board is built from the registry as it stands: rebuild it (``occmon dashboards build
CONFIG --store``) after assignments change, like after a site-file change.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dashboards.site import Wearing
from ingest.workers import registry
from occmon.config.schema import SiteConfig

DOSE = "hp10"


def dose_points(config: SiteConfig, device: str) -> list[str]:
    """The points whose Hp(10) comes from ``device``."""
    return sorted({s.point for s in config.sensors if s.device == device
                   and s.quantity == DOSE})


def wearings(config: SiteConfig, store: Path) -> tuple[Wearing, ...]:
    """Every current, non-void assignment of an instrument whose device feeds an Hp(10)
    point; none if the store has no registry (read-only: the build never writes it)."""
    if not store.exists():
        return ()
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        if not registry.tables_exist(conn):
            return ()
        devices = {i["serial"]: i["device"] for i in registry.instruments(conn)}
        out = []
        for a in registry.assignments(conn):
            device = devices.get(a["instrument"])
            for point in dose_points(config, device) if device else []:
                out.append(Wearing(a["worker"], point, float(a["start"]),
                                   None if a["end"] is None else float(a["end"])))
        return tuple(out)
    finally:
        conn.close()
