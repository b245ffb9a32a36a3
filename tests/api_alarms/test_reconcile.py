"""Ingest reconciles the alarm record on the gateway's ``state/{point}`` snapshots (real SQLite
store, events as ingest writes them): an open alarm the snapshot no longer has is closed,
a snapshot older than the record changes nothing, and the gateway's next event still wins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.records import Event
from ingest.store import SqliteStore, StoreReader

ALARM = "p1:process"


def raised(event_id: str, at: float, state: str = "active-unacknowledged") -> Event:
    return Event("alarm", at, {"id": event_id, "event": "raised", "alarm_id": ALARM,
                               "point": "p1", "kind": "process", "level": "alarm",
                               "state": state, "occurrence": 1, "value": 12.0,
                               "setpoint": 10.0, "unit": "mg/m3", "time": at}, "s")


def state(at: float, alarms: list[dict[str, Any]], startup: bool = False) -> Event:
    body: dict[str, Any] = {"v": 1, "site": "s", "point": "p1", "time": at, "level": None,
                            "faulted": False, "alarms": alarms}
    if startup:
        body["startup"] = True
    return Event("state", at, body, "s")


def ingest_raised() -> Event:
    """Ingest's own system alarm, raised (its ids sort after every gateway id)."""
    return Event("alarm", 99.0, {
        "id": "ingest-0000000000099-000000001", "event": "raised",
        "alarm_id": "system:ingest:disk-low", "point": "ingest", "kind": "system",
        "level": "high_alarm", "state": "active-unacknowledged", "occurrence": 1,
        "time": 99.0}, "s")


def current(path: Path) -> dict[str, Any]:
    with StoreReader(path) as reader:
        return {r.alarm_id: r for r in reader.alarms().current()}


def test_reconcile_closes_only_what_a_newer_snapshot_no_longer_has(tmp_path: Path) -> None:
    path = tmp_path / "occmon.db"
    store = SqliteStore(path)
    try:
        store.write_events([raised("0000000001000-000000001", 100.0)])
        # an older snapshot (a retained one delivered late) without the alarm: no change
        store.write_events([state(90.0, [])])
        assert current(path)[ALARM].state == "active-unacknowledged"
        # a newer one that has it open: no change
        store.write_events([state(110.0, [{"alarm_id": ALARM,
                                           "state": "active-unacknowledged"}])])
        assert current(path)[ALARM].state == "active-unacknowledged"
        # a restarted gateway's snapshot has it normal: closed, gateway-restarted
        store.write_events([state(120.0, [{"alarm_id": ALARM, "state": "normal"}],
                                  startup=True)])
        closed = current(path)[ALARM]
        assert (closed.event, closed.state) == ("closed", "normal")
        assert closed.body["reason"] == "gateway-restarted"
        assert closed.body["was"] == "active-unacknowledged" and closed.time == 120.0
        # idempotent: the same snapshot again (ingest restarted, retained) adds nothing
        store.write_events([state(120.0, [], startup=True)])
        with StoreReader(path) as reader:
            assert len(reader.alarms().history(alarm_id=ALARM)) == 2
        # the new run raises it again: its event sorts after the close and wins
        store.write_events([raised("0000000002000-000000001", 130.0)])
        assert current(path)[ALARM].event == "raised"
        # a snapshot of the ordinary flow (not startup) closes with gateway-state
        store.write_events([state(140.0, [])])
        assert current(path)[ALARM].body["reason"] == "gateway-state"
    finally:
        store.close()


def test_a_close_never_hides_the_alarms_next_raise_whatever_ids_other_sources_use(
    tmp_path: Path,
) -> None:
    """The close sorts right after the alarm's own latest event: ingest's ids
    (``ingest-...``) sort after every gateway id, and a close placed after every event of the
    store took the next gateway run's raise of the alarm off the operator's list for good."""
    path = tmp_path / "occmon.db"
    store = SqliteStore(path)
    try:
        store.write_events([ingest_raised()])
        store.write_events([raised("0000000001000-000000001", 100.0)])
        store.write_events([state(120.0, [], startup=True)])  # the gateway restarted
        assert current(path)[ALARM].state == "normal"
        store.write_events([raised("0000000002000-000000001", 130.0)])  # and raises it again
        now = current(path)[ALARM]
        assert (now.event_id, now.state) == ("0000000002000-000000001", "active-unacknowledged")
        assert current(path)["system:ingest:disk-low"].state == "active-unacknowledged"
    finally:
        store.close()


def test_ingest_states_its_own_alarms_and_its_closes_say_so(tmp_path: Path) -> None:
    path = tmp_path / "occmon.db"
    store = SqliteStore(path)
    try:
        store.write_events([ingest_raised()])
        store.write_events([Event("state", 120.0, {"point": "ingest", "by": "ingest",
                                                   "startup": True, "alarms": []}, "s")])
        closed = current(path)["system:ingest:disk-low"]
        assert (closed.state, closed.body["reason"]) == ("normal", "ingest-restarted")
        assert closed.body["cause"].startswith(
            "system:ingest:disk-low: closed (ingest-restarted): the ingest's current state")
    finally:
        store.close()


def test_closes_of_a_store_from_before_are_moved_behind_their_alarms_next_raise(
    tmp_path: Path,
) -> None:
    """A store whose close took the store's newest id (an ingest one) hid the alarm's next
    raise; opening it brings the close to the id it would get now (schema migration 3)."""
    from ingest import schema

    path = tmp_path / "occmon.db"
    conn = schema.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (2)")
    for statements in schema.MIGRATIONS[:2]:
        for statement in statements:
            conn.execute(statement)
    rows = [  # as the earlier reconcile stored them
        ("ingest-1700000000500-1", "system:ingest:disk-low", "ingest", "raised",
         "active-unacknowledged", 99.0, {"id": "ingest-1700000000500-1"}),
        ("0000000001000-000000001", ALARM, "p1", "raised", "active-unacknowledged", 100.0,
         {"id": "0000000001000-000000001"}),
        (f"ingest-1700000000500-1~{ALARM}", ALARM, "p1", "closed", "normal", 120.0,
         {"id": f"ingest-1700000000500-1~{ALARM}", "reason": "gateway-restarted",
          "source": "ingest"}),
        ("0000000002000-000000001", ALARM, "p1", "raised", "active-unacknowledged", 130.0,
         {"id": "0000000002000-000000001"}),
        # closed again by a later restart (its close took the newest id, its own raise)
        ("0000000002000-000000001~p1:process", ALARM, "p1", "closed", "normal", 140.0,
         {"id": "0000000002000-000000001~p1:process", "reason": "gateway-restarted",
          "source": "ingest"}),
        ("0000000003000-000000001", ALARM, "p1", "raised", "active-unacknowledged", 150.0,
         {"id": "0000000003000-000000001"}),
    ]
    for event_id, alarm_id, point, event, state_, at, body in rows:
        conn.execute("INSERT INTO alarm_events (event_id, alarm_id, point, kind, event, state, "
                     "time, body) VALUES (?, ?, ?, 'process', ?, ?, ?, ?)",
                     (event_id, alarm_id, point, event, state_, at, json.dumps(body)))
    conn.close()
    assert current(path)[ALARM].state == "normal"  # the raises at 130 and 150 are hidden

    SqliteStore(path).close()  # opening migrates
    now = current(path)[ALARM]
    assert (now.event_id, now.state) == ("0000000003000-000000001", "active-unacknowledged")
    with StoreReader(path) as reader:
        events = [(r.event_id, r.body["id"], r.event)
                  for r in reader.alarms().history(alarm_id=ALARM)]
    assert events == [  # newest first, each close right after the raise it closed
        ("0000000003000-000000001", "0000000003000-000000001", "raised"),
        ("0000000002000-000000001~gateway-restarted",
         "0000000002000-000000001~gateway-restarted", "closed"),
        ("0000000002000-000000001", "0000000002000-000000001", "raised"),
        ("0000000001000-000000001~gateway-restarted",
         "0000000001000-000000001~gateway-restarted", "closed"),
        ("0000000001000-000000001", "0000000001000-000000001", "raised")]
