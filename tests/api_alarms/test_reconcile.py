"""Ingest reconciles the alarm record on the gateway's ``state/{point}`` snapshots (real SQLite
store, events as ingest writes them): an open alarm the snapshot no longer has is closed,
a snapshot older than the record changes nothing, and the gateway's next event still wins."""

from __future__ import annotations

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
