"""The access log, read back: who read which personal data, when, and was it allowed.

``api.auth`` writes one row per request before the route runs (so no personal data is ever
served without its row). Rows are read newest first in pages keyed by ``id`` (``before``):
a page stays stable while new rows arrive, unlike an offset. A worker's own rows are those
whose path is their file (``/api/v1/workers/{employee}`` or below it).
"""

from __future__ import annotations

import sqlite3
from typing import Any

COLS = ("id", "time", "key", "role", "method", "path", "query", "client", "decision")
WORKERS_PATH = "/api/v1/workers/"


def worker_path(employee: str) -> str:
    return WORKERS_PATH + employee


def page(conn: sqlite3.Connection, *, limit: int, before: int | None = None,
         key: str | None = None, role: str | None = None, worker: str | None = None,
         since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """Up to ``limit`` rows, newest first, with ``id < before``; ``worker``: requests for
    that worker's file (compared as text, so ``_`` or ``%`` in a name is no wildcard)."""
    sql, args = f"SELECT {', '.join(COLS)} FROM access_log WHERE 1 = 1", list[Any]()
    for clause, value in (("id < ?", before), ("key = ?", key), ("role = ?", role),
                          ("time >= ?", since), ("time < ?", until)):
        if value is not None:
            sql, args = f"{sql} AND {clause}", [*args, value]
    if worker is not None:
        own = worker_path(worker)
        sql += " AND (path = ? OR substr(path, 1, ?) = ?)"
        args += [own, len(own) + 1, own + "/"]
    sql += " ORDER BY id DESC LIMIT ?"
    try:
        rows = conn.execute(sql, [*args, limit]).fetchall()
    except sqlite3.OperationalError:  # no request was ever logged on this store
        return []
    return [dict(zip(COLS, r, strict=True)) for r in rows]
