"""Reads of the records for the API and the CLI: filters, pages, a day's closure, history.

Each filter maps onto an index of ``ingest.daily.store`` (start, point, status, type, agent,
area), so a page of the exceedance history is an index range scan, however long it grows.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ingest.where import where
from occmon import ledger

MAX_ROWS = 1_000_000  # "no limit" for the reads that merge the open days with the ledger


@dataclass(frozen=True, slots=True)
class Filters:
    site: str | None = None
    area: str | None = None
    point: str | None = None
    agent: str | None = None
    type: str | None = None
    status: str | None = None
    start: float | None = None  # exceedances: start >= this (epoch s)
    end: float | None = None  # exceedances: start < this
    day_from: str | None = None  # records: day >= this (YYYY-MM-DD)
    day_to: str | None = None  # records: day <= this


def _equal(f: Filters, columns: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(f"{name} = ?", getattr(f, name)) for name in columns]


def daily_records(conn: sqlite3.Connection, f: Filters, *, kind: str | None = None,
                  shift: str | None = None) -> list[dict[str, Any]]:
    clause, args = where(*_equal(f, ("site", "area", "point", "agent")),
                         ("day >= ?", f.day_from), ("day <= ?", f.day_to), ("kind = ?", kind),
                         ("shift = ?", shift))
    rows = conn.execute(
        f"SELECT key, kind, seq, content FROM daily_records WHERE {clause} "
        "ORDER BY day, point, shift", args).fetchall()
    return [{"key": k, "kind": kd, "seq": s, "closed": True, **_body(c)}
            for k, kd, s, c in rows]


def _body(content: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(content)
    return body


def exceedances(conn: sqlite3.Connection, f: Filters, *, limit: int = 100,
                offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page newest first)."""
    clause, args = where(*_equal(f, ("site", "area", "point", "agent", "type", "status")),
                         ("start >= ?", f.start), ("start < ?", f.end))
    total = int(conn.execute(f"SELECT COUNT(*) FROM exceedances WHERE {clause}",
                             args).fetchone()[0])
    rows = conn.execute(
        f"SELECT status, seq, status_seq, content FROM exceedances WHERE {clause} "
        "ORDER BY start DESC, rowid DESC LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
    return total, [{**_body(c), "status": st, "seq": s, "status_seq": ss}
                   for st, s, ss, c in rows]


def ids_since(conn: sqlite3.Connection, start: float) -> set[str]:
    """Ids of the ledgered exceedances starting at or after ``start`` (an index range)."""
    rows = conn.execute("SELECT id FROM exceedances WHERE start >= ?", (start,)).fetchall()
    return {str(r[0]) for r in rows}


def exceedance(conn: sqlite3.Connection, ex_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT status, seq, status_seq, content FROM exceedances WHERE id = ?",
                       (ex_id,)).fetchone()
    if row is None:
        return None
    status, seq, status_seq, content = row
    steps = conn.execute(
        "SELECT seq, kind, time, content FROM ledger WHERE kind IN ('action', 'recheck', "
        "'close') AND json_extract(content, '$.exceedance') = ? ORDER BY seq", (ex_id,),
    ).fetchall()
    history = [{"seq": s, "kind": k, "time": t, **_body(c)} for s, k, t, c in steps]
    return {**_body(content), "status": status, "seq": seq, "status_seq": status_seq,
            "history": history}


def closure(conn: sqlite3.Connection, day: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT day, site, closed_at, close_seq, close_sha256, records, exceedances, "
        "signed_by, signed_at, signature_seq FROM day_closures WHERE day = ?", (day,),
    ).fetchone()
    if row is None:
        return None
    keys = ("day", "site", "closed_at", "close_seq", "close_sha256", "records", "exceedances",
            "signed_by", "signed_at", "signature_seq")
    return dict(zip(keys, row, strict=True))


def closed_days(conn: sqlite3.Connection, day_from: str, day_to: str) -> set[str]:
    rows = conn.execute("SELECT day FROM day_closures WHERE day >= ? AND day <= ?",
                        (day_from, day_to)).fetchall()
    return {r[0] for r in rows}


def last_closed(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT MAX(day) FROM day_closures").fetchone()
    return str(row[0]) if row and row[0] else None


def open_exceedances(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT status, content FROM exceedances WHERE status IN ('open', 'actioned', "
        "'rechecked') ORDER BY start DESC LIMIT ?", (limit,)).fetchall()
    return [{**_body(c), "status": st} for st, c in rows]


def ledger_page(conn: sqlite3.Connection, after: int, limit: int) -> list[dict[str, Any]]:
    out = []
    for e in ledger.entries(conn, after=after, batch=limit):
        out.append({"seq": e.seq, "kind": e.kind, "ref": e.ref, "site": e.site,
                    "point": e.point, "day": e.day, "time": e.time, "content": e.body(),
                    "content_sha256": e.content_sha256, "prev_sha256": e.prev_sha256,
                    "entry_sha256": e.entry_sha256})
        if len(out) >= limit:
            break
    return out


def access_log(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, time, key, role, method, path, query, client, decision "
                        "FROM access_log ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    keys = ("id", "time", "key", "role", "method", "path", "query", "client", "decision")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def deliveries(conn: sqlite3.Connection, day: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT id, day, target, attempt, time, ok, status, message, sha256 FROM day_deliveries"
    rows = (conn.execute(sql + " WHERE day = ? ORDER BY id", (day,)) if day
            else conn.execute(sql + " ORDER BY id DESC LIMIT 200")).fetchall()
    keys = ("id", "day", "target", "attempt", "time", "ok", "status", "message", "sha256")
    return [dict(zip(keys, r, strict=True)) for r in rows]
