"""Dose alerts raised once, kept, and pushed (docs/workers.md, "Dose alerts").

The dose file (``dose_view``) says at any read whether a worker is near a limit; nobody may
read it for months. So each time a worker's file changes, ``evaluate`` judges it
(``thresholds.personal_dose.judge``: its ``crossings``) and stores every threshold reached
that was never raised before: one row per **key** (worker, scope, quantity, window, threshold),
under a unique index, in one write transaction, with a ``registry`` ledger entry (its SHA-256,
never its content, like the dose rows). Evaluating twice, from two processes at once, or after
a restart raises nothing twice. A row is never changed or removed: a later correction that
lowers the dose leaves the alert on record (what was known when).

Each new row also gets a row in ``dose_alert_pushes`` (the outbox, not ledgered: it changes),
which ingest's ``alert_push.DoseAlertPush`` claims and hands to the notifier: the API and the
CLI that enter a lab report hold no notifier, and an alert written to the store is pushed
even if ingest was down when it was raised.

When: after a lab report (API and ``occmon workers import-doses``), a nominal dose, a
pregnancy declaration (the API), and for electronic dosimeters once a day at the day close
(``alert_push``): an EPD month is read from the readings, which grow all day.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

from ingest.daily.windows import iso_local, zone
from ingest.workers import dose_view, registry
from ingest.workers.doses import day_of, pregnancies
from ingest.workers.registry import DOSE_ALERT_COLS, _insert, _rows, _write
from occmon.config.schema import SiteConfig
from thresholds import personal_dose as pd

PUSH_STATES = ("pending", "claimed", "sent", "gave-up")


def _month_over(period: str, today: dt.date) -> bool:
    """``EPD:YYYY-MM`` is over (its last day before ``today``): its sum grows no more."""
    year, month = (int(x) for x in period[4:].split("-"))
    return (year, month) < (today.year, today.month)


def alert_key(employee: str, c: pd.Crossing, period: str | None) -> str:
    first = period if c.scope == "period" and period else c.first
    return f"{employee}|{c.scope}|{c.quantity}|{first}|{c.threshold}"


def evaluate(conn: sqlite3.Connection, config: SiteConfig, employee: str, *, now: float,
             today: dt.date, trigger: str, by: str) -> list[dict[str, Any]]:
    """Judge the worker's file and store each threshold reached not raised before; the new
    rows (empty when nothing new). An EPD month's investigation level is judged once the
    month is over (a part month's level, 5 mSv / (365 / its days), is not the month's)."""
    w = registry.worker(conn, employee)
    if w is None:
        return []
    counted, _shown = dose_view.counted_periods(conn, config, employee, now)
    organs = dose_view.organ(conn, config, employee)
    if not counted and not organs:
        return []
    declared = pregnancies(conn, employee)
    judged = pd.judge([p for _s, p, _m in counted], birth_date=day_of(w["birth_date"]),
                      pregnancies=[(day_of(d["declared"]),
                                    day_of(d["ended"]) if d["ended"] else None)
                                   for d in declared],
                      rules=config.personal_dose.rules(), organ=[p for p, _m in organs])
    found: list[tuple[str, pd.Crossing, str | None]] = []
    for c in judged.crossings:
        period = None
        if c.period is not None:
            period = str(counted[c.period][2]["period"])
            if period.startswith("EPD:") and not _month_over(period, today):
                continue
        found.append((alert_key(employee, c, period), c, period))
    if not found:
        return []
    out = []
    with _write(conn):  # checked and written in one transaction: raised once, whoever runs
        have = {r[0] for r in conn.execute(
            "SELECT key FROM dose_alert_rows WHERE employee = ?", (employee,))}
        for key, c, period in found:
            if key in have:
                continue
            have.add(key)
            row = {"key": key, "employee": employee, "scope": c.scope, "quantity": c.quantity,
                   "first": c.first, "last": c.last, "threshold": c.threshold,
                   "level": c.level, "dose_msv": round(c.dose_msv, 6),
                   "limit_msv": round(c.limit_msv, 6), "source": c.source, "period": period,
                   "trigger": trigger, "entered": now, "entered_by": by}
            stored = _insert(conn, "dose-alert", row, site=config.site.id, now=now, ref=None)
            conn.execute("INSERT INTO dose_alert_pushes (alert) VALUES (?)", (stored["id"],))
            out.append(stored)
    return out


def evaluate_all(conn: sqlite3.Connection, config: SiteConfig, employees: Sequence[str], *,
                 now: float, today: dt.date, trigger: str, by: str) -> dict[str, list[
                     dict[str, Any]]]:
    """``evaluate`` for each of ``employees``; the new rows per worker (only those with)."""
    out = {}
    for employee in employees:
        raised = evaluate(conn, config, employee, now=now, today=today, trigger=trigger, by=by)
        if raised:
            out[employee] = raised
    return out


def epd_wearers(conn: sqlite3.Connection) -> list[str]:
    """Workers who wore (or wear) an electronic dosimeter with readings in the store."""
    found = set()
    for a in registry.assignments(conn):
        inst = registry.instrument(conn, a["instrument"])
        if inst is not None and inst["type"] == "EPD" and inst["device"]:
            found.add(a["worker"])
    return sorted(found)


# ----- reading -----

_SELECT = (f"SELECT {', '.join('a.' + c for c in DOSE_ALERT_COLS)}, p.status, p.done, "
           "EXISTS (SELECT 1 FROM investigation_rows i WHERE i.employee = a.employee AND "
           "i.period = a.period) FROM dose_alert_rows a LEFT JOIN dose_alert_pushes p ON "
           "p.alert = a.id")


def _out(values: Sequence[Any], tz: str | None) -> dict[str, Any]:
    row = dict(zip(DOSE_ALERT_COLS, values[:len(DOSE_ALERT_COLS)], strict=True))
    status, done, followed = values[len(DOSE_ALERT_COLS):]
    row.pop("seq")
    row["push"] = status or "pending"
    row["pushed"] = done
    if tz is not None:  # as answered: ISO 8601 at the site's offset
        row["entered"] = iso_local(row["entered"], zone(tz))
        row["pushed"] = None if done is None else iso_local(done, zone(tz))
    if row["level"] == "investigate":
        row["investigation_open"] = not followed
    return row


def listed(conn: sqlite3.Connection, *, employee: str | None = None, year: int | None = None,
           level: str | None = None, limit: int = 100, offset: int = 0,
           tz: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """(total, page) of the stored alerts, newest first; ``year``: windows touching it."""
    where, args = ["1 = 1"], list[Any]()
    if employee is not None:
        where.append("a.employee = ?")
        args.append(employee)
    if level is not None:
        where.append("a.level = ?")
        args.append(level)
    if year is not None:
        where.append("substr(a.first, 1, 4) <= ? AND substr(a.last, 1, 4) >= ?")
        args += [f"{year:04d}", f"{year:04d}"]
    clause = " WHERE " + " AND ".join(where)
    total = int(conn.execute("SELECT count(*) FROM dose_alert_rows a" + clause,
                             args).fetchone()[0])
    rows = conn.execute(_SELECT + clause + " ORDER BY a.id DESC LIMIT ? OFFSET ?",
                        [*args, limit, offset]).fetchall()
    return total, [_out(r, tz) for r in rows]


def of_worker(conn: sqlite3.Connection, employee: str,
              tz: str | None = None) -> list[dict[str, Any]]:
    """Every alert raised on the worker's file, oldest first (the worker file shows them)."""
    return list(reversed(listed(conn, employee=employee, limit=1_000_000, tz=tz)[1]))


def stored_row(conn: sqlite3.Connection, ident: int) -> dict[str, Any] | None:
    found = _rows(conn, f"SELECT {', '.join(DOSE_ALERT_COLS)} FROM dose_alert_rows WHERE "
                  "id = ?", (ident,), DOSE_ALERT_COLS)
    return found[0] if found else None
