"""Instrument events as read back: the list, the officers' notes on them, the calibration record.

The gateway publishes each change of an instrument's NE 107 state and each finished bump
test or calibration on ``events/instrument`` (``gateway.instrument``); ingest stores them as
events of kind ``instrument``. Events are at-least-once on the wire, so a repeat of the same
gateway id is read once. An instrument rarely says who tested it and only some say how the
test ended: an officer records that as a note on the event, appended to the ledger (kind
``instrument-note``, never edited; a later note on the same event supersedes the earlier
one for what it gives). The calibration record of a sensor is its calibrations and bump
tests with those notes, the last calibration that did not fail, and the next due date (last
calibration + the site file's ``calibration_interval_days``). A calibration the instrument
reported replaces the date typed into the site file once it is the later of the two.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from occmon import calibration, ledger
from occmon.config.schema import Instrument, SiteConfig

KIND = "instrument"  # the events table's kind
NOTE = "instrument-note"  # the ledger's kind of an officer's note
TESTS = ("bump-test", "calibration")
RESULTS = ("passed", "failed")
SITE_FILE = "site-file"
EVENT = "event"
Row = tuple[int, float, dict[str, Any]]  # events row id, stored time, body


class NotFound(KeyError):
    """No instrument event has this id."""


class NotATest(ValueError):
    """A note names who tested and how it ended: only a bump test or calibration has one."""


class Contradicts(ValueError):
    """The note gives a result where the instrument reported its own."""


@dataclass(frozen=True, slots=True)
class Filters:
    """What ``list_events`` keeps; None keeps all. ``start`` inclusive, ``end`` exclusive."""

    device: str | None = None
    point: str | None = None
    sensor: str | None = None
    event: str | None = None
    start: float | None = None
    end: float | None = None


def _rows(conn: sqlite3.Connection, f: Filters) -> list[Row]:
    """Matching stored events, newest first, each gateway id once (its first stored row)."""
    sql = ["SELECT id, time, body FROM events WHERE kind = ?"]
    args: list[Any] = [KIND]
    if f.start is not None:
        sql.append("AND time >= ?")
        args.append(f.start)
    if f.end is not None:
        sql.append("AND time < ?")
        args.append(f.end)
    if f.device is not None:
        sql.append("AND json_extract(body, '$.device') = ?")
        args.append(f.device)
    if f.event is not None:
        sql.append("AND json_extract(body, '$.event') = ?")
        args.append(f.event)
    for name, value in (("points", f.point), ("sensors", f.sensor)):
        if value is not None:
            sql.append(f"AND EXISTS (SELECT 1 FROM json_each(body, '$.{name}') "
                       "WHERE json_each.value = ?)")
            args.append(value)
    sql.append("ORDER BY id")
    seen: set[str] = set()
    out: list[Row] = []
    for rowid, at, text in conn.execute(" ".join(sql), args):
        try:
            body = json.loads(text)
        except ValueError:
            continue
        if not isinstance(body, dict):
            continue
        ident = event_id(rowid, body)
        if ident in seen:
            continue
        seen.add(ident)
        out.append((rowid, float(at), body))
    out.sort(key=lambda r: (r[1], r[0]), reverse=True)
    return out


def event_id(rowid: int, body: Mapping[str, Any]) -> str:
    """The gateway's event id; ``row-{n}`` for an event that came without one."""
    ident = body.get("id")
    return ident if isinstance(ident, str) and ident else f"row-{rowid}"


def notes(conn: sqlite3.Connection, rows: Iterable[Row], tz: ZoneInfo
          ) -> dict[str, list[dict[str, Any]]]:
    """Officers' notes on these events by event id, oldest first (the ledger's order).

    A note is ledgered under its event's local day, so this reads the ledger through its
    (day, kind) index: a day's close never scans the whole ledger."""
    wanted = {event_id(r, b) for r, _t, b in rows}
    days = sorted({_local_day(t, tz).isoformat() for _r, t, _b in rows})
    found: list[tuple[int, float, str]] = []
    for i in range(0, len(days), 500):
        chunk = days[i:i + 500]
        found += conn.execute(
            f"SELECT seq, time, content FROM ledger WHERE day IN ({', '.join('?' * len(chunk))})"
            " AND kind = ?", (*chunk, NOTE)).fetchall()
    out: dict[str, list[dict[str, Any]]] = {}
    for seq, at, text in sorted(found):
        body = json.loads(text)
        ident = str(body.get("event"))
        if ident not in wanted:
            continue
        out.setdefault(ident, []).append({
            "seq": seq, "time": float(at), "who": body.get("who"),
            "result": body.get("result"), "note": body.get("note", ""),
            "when": body.get("when"), "key": body.get("key")})
    return out


def _item(rowid: int, at: float, body: dict[str, Any],
          its_notes: list[dict[str, Any]]) -> dict[str, Any]:
    """An event with its notes and who / result as known: the instrument's own, else the
    latest note that gives one (``who_source`` / ``result_source`` say which)."""
    item = {k: v for k, v in body.items() if k not in ("v", "site")}
    item["id"] = event_id(rowid, body)
    item["time"] = at
    for field in ("who", "result"):
        own = body.get(field)
        given = [n[field] for n in its_notes if n.get(field)]
        if own:
            item[field], item[f"{field}_source"] = own, "instrument"
        elif given:
            item[field], item[f"{field}_source"] = given[-1], "officer"
        else:
            item[field], item[f"{field}_source"] = None, None
    item["notes"] = its_notes
    return item


def list_events(conn: sqlite3.Connection, f: Filters, tz: ZoneInfo, *, limit: int,
                offset: int) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page) of instrument events, newest first, with their notes."""
    rows = _rows(conn, f)
    page = rows[offset:offset + limit]
    by_event = notes(conn, page, tz)
    return len(rows), [_item(r, t, b, by_event.get(event_id(r, b), [])) for r, t, b in page]


def find(conn: sqlite3.Connection, ident: str, tz: ZoneInfo) -> dict[str, Any] | None:
    """One instrument event by its id, with its notes; None if there is none."""
    for rowid, at, body in _by_id(conn, ident):
        return _item(rowid, at, body, notes(conn, [(rowid, at, body)], tz).get(ident, []))
    return None


def _by_id(conn: sqlite3.Connection, ident: str) -> list[Row]:
    if ident.startswith("row-") and ident[4:].isdigit():
        rows = conn.execute("SELECT id, time, body FROM events WHERE kind = ? AND id = ?",
                            (KIND, int(ident[4:]))).fetchall()
    else:
        rows = conn.execute("SELECT id, time, body FROM events WHERE kind = ? AND "
                            "json_extract(body, '$.id') = ? ORDER BY id LIMIT 1",
                            (KIND, ident)).fetchall()
    return [(r, float(t), json.loads(b)) for r, t, b in rows if event_id(r, json.loads(b)) == ident]


def annotate(conn: sqlite3.Connection, ident: str, *, who: str | None, result: str | None,
             note: str, when: str | None, key: str, site: str, tz: ZoneInfo, now: float,
             seal: Ed25519PrivateKey | None = None) -> ledger.Entry:
    """Append an officer's note on a bump test or calibration; the caller holds the write
    transaction. Raises NotFound, NotATest, Contradicts (nothing is written then)."""
    found = _by_id(conn, ident)
    if not found:
        raise NotFound(ident)
    _rowid, at, body = found[0]
    if body.get("event") not in TESTS:
        raise NotATest(f"event {ident!r} is a {body.get('event')!r}: only a bump test or a "
                       "calibration takes a note of who performed it and its result")
    if result is not None and body.get("result") and body["result"] != result:
        raise Contradicts(f"the instrument reported this {body['event']} {body['result']!r}; "
                          f"a note may not make it {result!r}")
    earlier = notes(conn, found[:1], tz).get(ident, [])
    points = body.get("points") or []
    content = {"event": ident, "test": body.get("event"), "device": body.get("device"),
               "sensors": body.get("sensors") or [], "points": points, "who": who,
               "result": result, "note": note, "when": when, "key": key}
    return ledger.append(conn, kind=NOTE, site=site, content=content, time=now,
                         point=str(points[0]) if len(points) == 1 else "",
                         day=_local_day(at, tz).isoformat(),
                         ref=earlier[-1]["seq"] if earlier else None, seal=seal)


def _local_day(epoch: float, tz: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(epoch, tz).date()


def _end(item: Mapping[str, Any]) -> float:
    """When a test ended (epoch seconds): its ``end`` if parseable, else its stored time."""
    return calibration.ended(item, float(item["time"]))


def tests_of(conn: sqlite3.Connection, tz: ZoneInfo, *, device: str | None = None,
             before: float | None = None) -> list[dict[str, Any]]:
    """Every bump test and calibration (optionally of one device, ended before ``before``),
    oldest first, with notes and who / result as known."""
    rows: list[Row] = []
    for test in TESTS:
        rows += _rows(conn, Filters(device=device, event=test, end=before))
    rows.sort(key=lambda r: (r[1], r[0]))
    by_event = notes(conn, rows, tz)
    return [_item(r, t, b, by_event.get(event_id(r, b), [])) for r, t, b in rows]


def latest_calibrations(conn: sqlite3.Connection, before: float,
                        tz: ZoneInfo) -> dict[str, tuple[dt.date, str]]:
    """sensor id -> (local date, event id) of its last calibration that ended before
    ``before`` and did not fail (an unknown result counts: the instrument was calibrated)."""
    out: dict[str, tuple[dt.date, str]] = {}
    for item in tests_of(conn, tz, before=before):
        if not calibration.counts(item):  # the rule the gateway's warning follows too
            continue
        if _end(item) >= before:
            continue
        for sensor in item.get("sensors") or []:
            out[str(sensor)] = (_local_day(_end(item), tz), str(item["id"]))
    return out


def calibration_of(inst: Instrument | None, event: tuple[dt.date, str] | None
                   ) -> dict[str, Any]:
    """The calibration a record states: the event's date when it is later than the site
    file's ``calibrated`` (or there is none), else the site file's; the due date is that
    date + the configured interval."""
    typed = inst.calibrated if inst else None
    source: str | None = SITE_FILE if typed else None
    date, ident = typed, None
    if event is not None and calibration.later(typed, event[0]) != typed:
        date, ident, source = event[0], event[1], EVENT
    interval = inst.calibration_interval_days if inst else 365
    return {"calibrated": date.isoformat() if date else None,
            "calibration_due": (calibration.due_date(date, interval).isoformat()
                                if date else None),
            "calibration_source": source, "calibration_event": ident}


def calibration_record(conn: sqlite3.Connection, config: SiteConfig, device: str,
                       now: float) -> list[dict[str, Any]]:
    """Per sensor of ``device``: its calibrations and bump tests, the last calibration
    (date and source) and the next due date."""
    tz = ZoneInfo(config.site.timezone)
    tests = tests_of(conn, tz, device=device)
    latest = latest_calibrations(conn, float("inf"), tz)
    out = []
    for sensor in config.sensors:
        if sensor.device != device:
            continue
        mine = [t for t in tests if sensor.id in (t.get("sensors") or [])]
        inst = sensor.instrument
        last = calibration_of(inst, latest.get(sensor.id))
        due = last["calibration_due"]
        out.append({
            "sensor": sensor.id, "point": sensor.point, "quantity": sensor.quantity,
            "model": inst.model if inst else None, "serial": inst.serial if inst else None,
            "interval_days": inst.calibration_interval_days if inst else None,
            "site_file_calibrated": (inst.calibrated.isoformat()
                                     if inst and inst.calibrated else None),
            **last,
            "overdue": (None if due is None
                        else _local_day(now, tz) > dt.date.fromisoformat(due)),
            "calibrations": [t for t in mine if t.get("event") == "calibration"],
            "bump_tests": [t for t in mine if t.get("event") == "bump-test"],
        })
    return out
