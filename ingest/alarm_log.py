"""Alarm history, ventilation log and push deliveries: rows in, queries out.

The gateway's alarm engine owns alarm state; ingest keeps the record. Each ``events/alarm``
and ``events/ventilation`` body carries the gateway's event ``id`` (sortable, unique): the
store keeps each id once, so a redelivered event is neither stored nor pushed twice, and
history is listed in the order the gateway produced it. The current state of an alarm is
the state after its latest event.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ingest.records import Event
from ingest.where import where
from occmon.config.alarms import Level

# ``state`` (the gateway's retained ``state/{point}``) goes through ``record`` too: it is
# the truth the alarm record is reconciled on (``reconcile``).
ALARM_KINDS = ("alarm", "ventilation", "state")
OPEN_STATES = ("active-unacknowledged", "active-acknowledged", "cleared-unacknowledged",
               "shelved", "out-of-service")

INSERT_ALARM = """
INSERT OR IGNORE INTO alarm_events (event_id, alarm_id, point, kind, event, level, state,
                                    occurrence, time, user, site, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_VENTILATION = """
INSERT OR IGNORE INTO ventilation_log (event_id, unit, event, state, priority, time, site, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_DELIVERY = """
INSERT INTO deliveries (time, channel, kind, target, alarm_ids, grp, step, status, attempt,
                        error, code)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False)


def record(conn: sqlite3.Connection, event: Event) -> bool:
    """Insert an alarm or ventilation event (inside the caller's transaction).

    Returns False for a duplicate (an id already stored): the caller stores nothing else.
    An event without an id (an older gateway) is always new.
    """
    body = event.body
    if event.kind == "state":
        reconcile(conn, event)
        return True
    event_id = body.get("id")
    if not isinstance(event_id, str) or not event_id:
        return True
    if event.kind == "alarm":
        cursor = conn.execute(INSERT_ALARM, (
            event_id, str(body.get("alarm_id", "")), str(body.get("point", "")),
            str(body.get("kind", "")), str(body.get("event", "")), body.get("level"),
            str(body.get("state", "")), int(body.get("occurrence") or 0), event.time,
            body.get("user"), event.site, _json(body)))
    else:
        cursor = conn.execute(INSERT_VENTILATION, (
            event_id, str(body.get("unit", "")), str(body.get("event", "")),
            str(body.get("state", "")), str(body.get("priority", "log")), event.time,
            event.site, _json(body)))
    return cursor.rowcount > 0


def reconcile(conn: sqlite3.Connection, state: Event) -> list[str]:
    """Close the recorded alarms of a point that the gateway's snapshot no longer has open.

    The gateway owns alarm state; its retained ``state/{point}`` lists each alarm of the
    point as the engine has it now. A recorded alarm still open (not ``normal``) whose
    latest event is older than the snapshot while the snapshot has it normal or not at all
    is closed by a ``closed`` event written here (``reason`` ``gateway-restarted`` when the
    snapshot is the one a starting gateway publishes, else ``gateway-state``), so the list
    equals the gateway's and every listed alarm can be acknowledged. A snapshot older than
    the latest event (e.g. a retained one delivered late) changes nothing. Returns the ids
    of the alarms closed.

    ``by`` in the snapshot names the component whose state it is (``gateway`` when absent):
    a starting ingest writes one for ``ingest``, the point of its own system alarms
    (``ingest.health.IngestHealth.startup_state``), whose closings say ``ingest-restarted``.
    """
    body = state.body
    point = str(body.get("point", ""))
    alarms = body.get("alarms")
    if not point or not isinstance(alarms, list):
        return []
    held = {str(a.get("alarm_id")): str(a.get("state", "")) for a in alarms
            if isinstance(a, dict)}
    by = str(body.get("by") or "gateway")
    reason = f"{by}-restarted" if body.get("startup") else f"{by}-state"
    closed: list[str] = []
    rows = conn.execute(
        f"SELECT {_ALARM_COLS} FROM alarm_events WHERE id IN "
        "(SELECT id FROM alarm_events a WHERE a.point = ? AND a.event_id = "
        " (SELECT MAX(event_id) FROM alarm_events b WHERE b.alarm_id = a.alarm_id))",
        (point,)).fetchall()
    for row in map(_alarm, rows):
        if row.state == "normal" or held.get(row.alarm_id, "normal") != "normal":
            continue
        if not row.time < state.time:
            continue  # the snapshot is not newer than what we recorded: trust the record
        # Right after the alarm's latest event, before its source's next one (a source's
        # ids grow at a fixed width, so none has this one's as a prefix). Not after every
        # event of the store: the ids of other sources (ingest's) may sort after a
        # gateway's for good, and its next raise of the alarm would then never be current.
        event_id = f"{row.event_id}~{reason}"
        doc = {"v": 1, "site": state.site, "id": event_id, "event": "closed",
               "alarm_id": row.alarm_id, "point": row.point, "kind": row.kind, "level": None,
               "value": None, "setpoint": row.body.get("setpoint"),
               "unit": row.body.get("unit", ""), "time": state.time, "state": "normal",
               "occurrence": row.occurrence, "reason": reason, "was": row.state,
               "source": "ingest",
               "cause": f"{row.alarm_id}: closed ({reason}): the {by}'s current state of "
                        f"{point} no longer has it open (it was {row.state})"}
        conn.execute(INSERT_ALARM, (
            event_id, row.alarm_id, row.point, row.kind, "closed", None, "normal",
            row.occurrence, state.time, None, state.site, _json(doc)))
        closed.append(row.alarm_id)
    return closed


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One stored alarm event (``body`` is the gateway's event as published)."""

    id: int
    event_id: str
    alarm_id: str
    point: str
    kind: str
    event: str
    level: str | None
    state: str
    occurrence: int
    time: float
    user: str | None
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Episode:
    """An alarm's current occurrence as a person reads it: when it was raised, the highest
    level it reached with the value and set-point that took it there, when it cleared.

    An alarm's latest event alone cannot say this: a ``cleared`` event carries the value
    at clearing (below the set-point) and the set-point of the level it left, an
    ``acknowledged`` one the value of that moment, and its time is not the raise's.
    """

    raised_at: float
    level: str | None  # the highest level of the occurrence (None: a fault alarm)
    value: float | None  # the value with which it reached that level
    setpoint: float | None
    reached_at: float
    cleared_at: float | None  # the latest clear, while the condition is gone


_RAISES = ("raised", "fault-raised")
_LEVEL_EVENTS = ("raised", "escalated")
_CLEARS = ("cleared", "fault-cleared")


def _level_rank(level: str | None) -> int:
    try:
        return Level(level).rank if level else 0
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class VentilationRecord:
    id: int
    event_id: str
    unit: str
    event: str
    state: str
    priority: str
    time: float
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    time: float
    channel: str
    kind: str
    target: str
    alarm_ids: list[str]
    group: str
    step: int
    status: str
    attempt: int
    error: str
    code: str


_ALARM_COLS = ("id, event_id, alarm_id, point, kind, event, level, state, occurrence, time, "
               "user, body")
_VENT_COLS = "id, event_id, unit, event, state, priority, time, body"


def _alarm(row: tuple[Any, ...]) -> AlarmRecord:
    r = row
    return AlarmRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                       json.loads(r[11]))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _vent(row: tuple[Any, ...]) -> VentilationRecord:
    r = row
    return VentilationRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))


class AlarmQueries:
    """Read queries over an open (read-only) connection; the API's ``StoreReader`` has one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def current(self) -> list[AlarmRecord]:
        """The latest event of every alarm (its current state), newest first."""
        rows = self._conn.execute(
            f"SELECT {_ALARM_COLS} FROM alarm_events WHERE id IN "
            "(SELECT id FROM alarm_events a WHERE a.event_id = "
            " (SELECT MAX(event_id) FROM alarm_events b WHERE b.alarm_id = a.alarm_id)) "
            "ORDER BY event_id DESC").fetchall()
        return [_alarm(r) for r in rows]

    def latest(self, alarm_id: str) -> AlarmRecord | None:
        row = self._conn.execute(
            f"SELECT {_ALARM_COLS} FROM alarm_events WHERE alarm_id = ? "
            "ORDER BY event_id DESC LIMIT 1", (alarm_id,)).fetchone()
        return _alarm(row) if row else None

    def episode(self, latest: AlarmRecord) -> Episode | None:
        """The occurrence ``latest`` (an alarm's latest event) belongs to; None before the
        alarm was ever raised, or when the raise is not in the store."""
        if latest.occurrence <= 0:
            return None
        raise_row = self._conn.execute(  # the index, backwards from the newest: found at once
            f"SELECT {_ALARM_COLS} FROM alarm_events WHERE alarm_id = ? AND occurrence = ? "
            f"AND event IN {_RAISES} AND event_id <= ? ORDER BY event_id DESC LIMIT 1",
            (latest.alarm_id, latest.occurrence, latest.event_id)).fetchone()
        if raise_row is None:
            return None
        raised = _alarm(raise_row)
        rows = self._conn.execute(
            f"SELECT {_ALARM_COLS} FROM alarm_events WHERE alarm_id = ? AND event_id >= ? "
            "AND event_id <= ? AND occurrence = ? ORDER BY event_id",
            (latest.alarm_id, raised.event_id, latest.event_id, latest.occurrence)).fetchall()
        top = raised
        cleared_at: float | None = None
        for record in map(_alarm, rows):
            if record.event in _LEVEL_EVENTS and _level_rank(record.level) > _level_rank(
                    top.level):
                top = record
            if record.event in _CLEARS:
                cleared_at = record.time
            elif record.event in _LEVEL_EVENTS or record.event in _RAISES:
                cleared_at = None  # present again
        return Episode(raised.time, top.level, _number(top.body.get("value")),
                       _number(top.body.get("setpoint")), top.time, cleared_at)

    def history(self, *, alarm_id: str | None = None, point: str | None = None,
                event: str | None = None, start: float | None = None, end: float | None = None,
                limit: int = 100, before: str | None = None) -> list[AlarmRecord]:
        """Events newest first; ``before`` is the event id the previous page ended with."""
        clause, args = where(("alarm_id = ?", alarm_id), ("point = ?", point),
                             ("event = ?", event), ("time >= ?", start), ("time < ?", end),
                             ("event_id < ?", before))
        rows = self._conn.execute(
            f"SELECT {_ALARM_COLS} FROM alarm_events WHERE {clause} "
            "ORDER BY event_id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_alarm(r) for r in rows]

    def after(self, last_id: int, limit: int = 500) -> list[AlarmRecord]:
        """Alarm events stored after row ``last_id``, oldest first (the live stream)."""
        rows = self._conn.execute(
            f"SELECT {_ALARM_COLS} FROM alarm_events WHERE id > ? ORDER BY id LIMIT ?",
            (last_id, limit)).fetchall()
        return [_alarm(r) for r in rows]

    def last_row(self) -> int:
        row = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM alarm_events").fetchone()
        return int(row[0])

    def ventilation(self, *, unit: str | None = None, limit: int = 100,
                    before: str | None = None) -> list[VentilationRecord]:
        clause, args = where(("unit = ?", unit), ("event_id < ?", before))
        rows = self._conn.execute(
            f"SELECT {_VENT_COLS} FROM ventilation_log WHERE {clause} "
            "ORDER BY event_id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_vent(r) for r in rows]

    def units(self) -> dict[str, VentilationRecord]:
        """The latest log line of every unit that carries a snapshot."""
        rows = self._conn.execute(
            f"SELECT {_VENT_COLS} FROM ventilation_log WHERE event_id IN "
            "(SELECT MAX(event_id) FROM ventilation_log WHERE unit != '' GROUP BY unit)"
        ).fetchall()
        return {r.unit: r for r in map(_vent, rows)}

    def deliveries(self, limit: int = 100) -> list[DeliveryRow]:
        rows = self._conn.execute(
            "SELECT id, time, channel, kind, target, alarm_ids, grp, step, status, attempt, "
            "error, code FROM deliveries ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [DeliveryRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8],
                            r[9], r[10], r[11]) for r in rows]
