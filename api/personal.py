"""Which data is personal: the paths that serve it and the points that measure a person.

Personal data is whatever says something about a named worker: the registries and worker
files (``/api/v1/workers``, ``/instruments``, ``/assignments``, a worker's own access log
below their file) and the points a worn instrument feeds. A point is worn when a sensor of
it measures a personal quantity (Hp(10), a noise dosimeter's dose:
``api.limits.PERSONAL``) or when its device is the device of an instrument in the registry
(a wearable gas detector, a noise dosimeter's LAeq): those readings are one person's
exposure, whoever wears the instrument today.

``api.auth`` logs every request for personal data, whoever makes it; the public board leaves
worn points off unless the site opts in (``api.board_personal``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from api.limits import is_personal
from occmon.config.schema import SiteConfig

PERSONAL_PREFIXES = ("/api/v1/workers", "/api/v1/instruments", "/api/v1/assignments",
                     "/api/v1/dose-alerts")
POINTS = "/api/v1/points/"


def under(path: str, prefix: str) -> bool:
    """``path`` is ``prefix`` or below it (segment-wise: ``/api/v1/workersX`` is not)."""
    return path == prefix or path.startswith(prefix + "/")


def registry_path(path: str) -> bool:
    """A path that serves registry data (staff keys may not read it)."""
    return any(under(path, p) for p in PERSONAL_PREFIXES)


def worn_devices(conn: sqlite3.Connection) -> set[str]:
    """Devices of the instruments currently in the registry (none if it was never used)."""
    try:
        rows = conn.execute(
            "SELECT DISTINCT r.device FROM instrument_rows r WHERE r.device IS NOT NULL AND "
            "NOT EXISTS (SELECT 1 FROM instrument_rows c WHERE c.corrects = r.id)").fetchall()
    except sqlite3.OperationalError:  # the registries were never migrated on this store
        return set()
    return {str(r[0]) for r in rows}


def worn_points(config: SiteConfig, conn: sqlite3.Connection) -> set[str]:
    """Every point that measures a person (see the module doc)."""
    devices = worn_devices(conn)
    return {s.point for s in config.sensors if s.device in devices} | {
        p.id for p in config.points if is_personal(config, p.id)}


def worn_point_path(config: SiteConfig, store_path: Path, path: str) -> bool:
    """``/api/v1/points/{a worn point}`` or below it."""
    if not path.startswith(POINTS):
        return False
    point = path[len(POINTS):].split("/", 1)[0]
    if not any(p.id == point for p in config.points):
        return False
    conn = sqlite3.connect(store_path, timeout=10.0)
    try:
        return point in worn_points(config, conn)
    finally:
        conn.close()
