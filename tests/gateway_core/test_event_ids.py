"""Event ids keep their order across a restart whose clock starts in the past.

The record takes an alarm's current state from its event with the top id, and an id sorts
by its run number first. An edge box without an RTC battery starts before NTP with its clock
in the past: with the wall clock's ms as the run number, every event of that run sorted
below the run before's, and a new raise of an alarm the run before had cleared never
became its current state (the operator's list and the board did not show it)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.queue import Queue
from ingest.health import next_boot
from ingest.records import Event
from ingest.store import SqliteStore, StoreReader
from tests.gateway.sites import DEMO
from tests.gateway_core.test_app import demo
from tests.servers import free_port

Y2000 = 946_684_800.0  # where a box without an RTC battery may start its clock
NOW_MS = 1_796_000_000_000


def test_a_run_number_is_one_past_the_last_when_the_clock_is_behind(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    try:
        assert queue.next_boot("gateway", NOW_MS) == NOW_MS
        assert queue.next_boot("gateway", int(Y2000 * 1000)) == NOW_MS + 1  # set back
        assert queue.next_boot("gateway", NOW_MS + 5_000) == NOW_MS + 5_000  # ahead: its own
        assert queue.next_boot("other", 7) == 7  # each source its own
    finally:
        queue.close()
    again = Queue(tmp_path / "q.db")  # kept in the file
    try:
        assert again.next_boot("gateway", int(Y2000 * 1000)) == NOW_MS + 5_001
    finally:
        again.close()
    broken = Queue(tmp_path / "q2.db")
    broken._db.close()  # the file cannot say: the wall clock, never a raise
    assert broken.next_boot("gateway", 42) == 42


def test_a_queue_from_before_the_run_numbers_takes_its_last_write(tmp_path: Path) -> None:
    """The first start after an upgrade: the file has no run number yet, but was last
    written by the run before, on that run's clock."""
    path = tmp_path / "q.db"
    Queue(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE boots")  # as a file of an earlier occmon
    db.close()
    for name in tmp_path.rglob("*"):
        os.utime(name, (NOW_MS / 1000, NOW_MS / 1000))
    later = NOW_MS / 1000 + 10  # the reading log's files are written last (readings)
    os.utime(tmp_path / "q.db-log" / "acked", (later, later))
    queue = Queue(path)
    try:
        assert queue.next_boot("gateway", int(Y2000 * 1000)) == NOW_MS + 10_001
    finally:
        queue.close()


def test_a_gateway_started_with_its_clock_in_the_past_sorts_its_events_after_the_run_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = demo(tmp_path)

    def ids() -> tuple[str, str]:
        gateway = Gateway(config, DEMO, broker_host="127.0.0.1", broker_port=free_port())
        try:
            return gateway.safety._ids.next(), gateway.instrument_events.ids.next()
        finally:
            gateway.queue.close()

    before = ids()
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: Y2000)  # the whole process's clock, at start
        after = ids()
    assert after[0] > before[0] and after[1] > before[1]

    # What the operator sees: the run before raised and cleared the alarm; this run raises it.
    def alarm(event_id: str, event: str, state: str) -> Event:
        return Event("alarm", 100.0, {"id": event_id, "event": event, "alarm_id": "p1:process",
                                      "point": "p1", "kind": "process", "level": "alarm",
                                      "state": state, "occurrence": 1, "time": 100.0}, "s")

    store = SqliteStore(tmp_path / "occmon.db")
    try:
        store.write_events([alarm(before[0], "raised", "active-unacknowledged")])
        store.write_events([alarm(before[0] + "z", "returned", "normal")])
        store.write_events([alarm(after[0], "raised", "active-unacknowledged")])
    finally:
        store.close()
    with StoreReader(tmp_path / "occmon.db") as reader:
        (current,) = reader.alarms().current()
    assert (current.event_id, current.state) == (after[0], "active-unacknowledged")


def test_ingest_takes_one_past_its_last_run_in_the_store(tmp_path: Path) -> None:
    path = tmp_path / "occmon.db"
    assert next_boot(path, 5) == 5  # no store yet
    store = SqliteStore(path)
    try:
        assert next_boot(path, 5) == 5  # no event of ingest's yet
        store.write_events([Event("alarm", 1.0, {
            "id": f"ingest-{NOW_MS:013d}-000000003", "event": "raised",
            "alarm_id": "system:ingest:disk-low", "point": "ingest", "kind": "system",
            "state": "active-unacknowledged", "occurrence": 1, "time": 1.0}, "s")])
    finally:
        store.close()
    assert next_boot(path, int(Y2000 * 1000)) == NOW_MS + 1
    assert next_boot(path, NOW_MS + 9) == NOW_MS + 9


def test_a_clock_behind_what_the_gateway_already_stamped_is_a_system_problem(
    tmp_path: Path,
) -> None:
    """Loud, not only ordered: a clock behind the run before's last write (a start a day in
    the past) or behind this run's own stamps (set back by hand) is ``clock-behind`` until
    the clock passes that time again; NTP's small steps are not."""
    config = demo(tmp_path)
    written = NOW_MS / 1000
    Queue(tmp_path / "queue.db").close()  # the run before's queue, last written at NOW_MS
    for name in tmp_path.rglob("*"):
        os.utime(name, (written, written))
    gateway = Gateway(config, DEMO, broker_host="127.0.0.1", broker_port=free_port())
    try:
        def codes(now: float) -> list[str]:
            return [p.code for p in gateway.health.check(now)[0] if p.code == "clock-behind"]

        day_back = written - 86_400
        (problem,) = [p for p in gateway.health.check(day_back)[0] if p.code == "clock-behind"]
        assert "86400 s behind" in problem.message and "NTP" in problem.message
        assert codes(written - 30) == []  # NTP-sized: not a problem
        assert codes(written + 100) == []  # set right
        assert codes(written + 100 - 3_600) == ["clock-behind"]  # set back an hour mid-run
        assert codes(written + 101) == []  # caught up
    finally:
        gateway.queue.close()
