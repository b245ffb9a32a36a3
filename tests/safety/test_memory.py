"""The interlock's memory file (gateway/safety/memory.py): what it keeps, and that a file it
cannot use is a counted log line, never an error in the safety path."""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from gateway.interlock import DemandState, UnitMemory
from gateway.safety.memory import Suppression, UnitMemoryFile

HOLD = UnitMemory(DemandState.HOLD, 1_800_000_070.0)
LATCH = UnitMemory(DemandState.AWAIT_RESET)


def test_saved_units_load_again_in_a_new_process_with_when_they_were_saved(
        tmp_path: Path) -> None:
    path = tmp_path / "queue.db-interlock"
    counters: Counter[str] = Counter()
    first = UnitMemoryFile(path, counters)
    first.save({"a": HOLD, "b": UnitMemory(DemandState.IDLE)}, 100.0)
    first.save({"a": HOLD, "b": UnitMemory(DemandState.IDLE)}, 101.0)  # unchanged: no write
    first.save({"a": HOLD, "b": LATCH}, 102.0)
    assert counters["interlock.memory-saved"] == 3
    first.close()
    again = UnitMemoryFile(path, Counter())
    assert again.load() == {"a": (HOLD, 100.0), "b": (LATCH, 102.0)}


def test_a_row_that_is_not_a_state_is_skipped_and_counted(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    path = tmp_path / "memory"
    UnitMemoryFile(path, Counter()).save({"a": HOLD, "b": LATCH}, 5.0)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE units SET state = 'spinning' WHERE unit = 'a'")
    counters: Counter[str] = Counter()
    with caplog.at_level(logging.WARNING, "gateway.safety.memory"):
        loaded = UnitMemoryFile(path, counters).load()
    assert loaded == {"b": (LATCH, 5.0)}
    assert counters["interlock.memory-bad-row"] == 1
    assert "unit 'a' not restored: 'spinning' is not a valid DemandState" in caplog.text


def test_a_file_that_is_not_a_database_is_set_aside_and_a_new_one_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The units start idle (nothing can be read), the log says so and where the file went,
    and what changes in this run is remembered for the next restart."""
    path = tmp_path / "memory"
    torn = b"this is not an SQLite file" * 100
    path.write_bytes(torn)
    counters: Counter[str] = Counter()
    with caplog.at_level(logging.ERROR, "gateway.safety.memory"):
        memory = UnitMemoryFile(path, counters)
        assert memory.load() == {}
        memory.save({"a": HOLD}, 1.0)
    memory.close()
    assert counters["interlock.memory-open-failed"] == 1
    assert "cannot open (file is not a database); units start idle" in caplog.text
    assert f"the unreadable file is kept as {path}.unreadable" in caplog.text
    assert (tmp_path / "memory.unreadable").read_bytes() == torn
    assert memory.problem is None  # a new file took its place
    assert UnitMemoryFile(path, Counter()).load() == {"a": (HOLD, 1.0)}


def test_a_folder_it_cannot_create_leaves_the_units_idle_and_says_so_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "file").write_text("a file where the folder should be")
    counters: Counter[str] = Counter()
    with caplog.at_level(logging.ERROR, "gateway.safety.memory"):
        memory = UnitMemoryFile(tmp_path / "file" / "memory", counters)
        assert memory.load() == {}
        memory.save({"a": HOLD}, 1.0)
        memory.save({"a": LATCH}, 2.0)
    assert counters["interlock.memory-open-failed"] == 1
    assert caplog.text.count("units start idle after a restart") == 1
    assert memory.problem is not None and "cannot open its memory" in memory.problem


def test_a_write_that_fails_is_counted_logged_once_and_tried_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "memory"
    counters: Counter[str] = Counter()
    memory = UnitMemoryFile(path, counters)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the file
    with caplog.at_level(logging.ERROR, "gateway.safety.memory"):
        memory.save({"a": HOLD}, 1.0)
        memory.save({"a": HOLD}, 2.0)
    assert counters["interlock.memory-write-failed"] == 2
    assert caplog.text.count("cannot write") == 1
    assert memory.problem is not None  # the gateway's health says it (gateway/health.py)
    assert memory.problem.startswith(f"the interlock cannot write its memory {path} (")
    assert memory.problem.endswith("a restart would start every ventilation unit idle and "
                                   "bring back every shelved or out-of-service alarm")
    locker.execute("ROLLBACK")
    locker.close()
    memory.save({"a": HOLD}, 3.0)  # not marked saved before: written now
    assert memory.problem is None
    memory.close()
    assert UnitMemoryFile(path, Counter()).load() == {"a": (HOLD, 3.0)}


def test_shelves_and_out_of_service_are_kept_replaced_and_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "queue.db-interlock"
    first = UnitMemoryFile(path, Counter())
    first.keep_suppression(Suppression("p:process", "shelved", "li", "gas test", 900.0, 9.0),
                           10.0)
    first.keep_suppression(Suppression("q:fault", "out-of-service", "wang", "repair", None,
                                       5.0), 11.0)
    first.keep_suppression(Suppression("r:fault", "shelved", "li", "x", 950.0, 5.0), 12.0)
    # one row an alarm: taken out of service while shelved replaces the shelve
    first.keep_suppression(Suppression("p:process", "out-of-service", "zhao", "swap", None,
                                       5.0), 13.0)
    first.forget_suppression("r:fault")
    first.forget_suppression("never-kept")  # nothing to forget: no error
    first.close()
    assert sorted(UnitMemoryFile(path, Counter()).load_suppressions(),
                  key=lambda s: s.alarm_id) == [
        Suppression("p:process", "out-of-service", "zhao", "swap", None, 5.0),
        Suppression("q:fault", "out-of-service", "wang", "repair", None, 5.0)]


def test_a_suppression_row_that_does_not_read_is_skipped_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "memory"
    memory = UnitMemoryFile(path, Counter())
    memory.keep_suppression(Suppression("a:process", "shelved", "li", "x", 900.0, 5.0), 1.0)
    memory.keep_suppression(Suppression("b:process", "shelved", "li", "y", 900.0, 5.0), 1.0)
    memory.keep_suppression(Suppression("c:fault", "out-of-service", "li", "z", None, 5.0),
                            1.0)
    memory.keep_suppression(Suppression("d:fault", "out-of-service", "li", "w", None, 5.0),
                            1.0)
    memory.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE suppressions SET kind = 'muted' WHERE alarm_id = 'a:process'")
        db.execute("UPDATE suppressions SET until = NULL WHERE alarm_id = 'b:process'")
        # a time that is no number (a torn or hand-edited row): before, a ValueError at start
        db.execute("UPDATE suppressions SET since = 'yesterday' WHERE alarm_id = 'd:fault'")
    counters: Counter[str] = Counter()
    with caplog.at_level(logging.WARNING, "gateway.safety.memory"):
        loaded = UnitMemoryFile(path, counters).load_suppressions()
    assert loaded == [Suppression("c:fault", "out-of-service", "li", "z", None, 5.0)]
    assert counters["interlock.memory-bad-row"] == 3
    assert "alarm 'a:process' not restored: kind 'muted'" in caplog.text
    assert "alarm 'd:fault' not restored: could not convert string to float" in caplog.text


def test_a_memory_file_from_before_suppressions_gets_their_table(tmp_path: Path) -> None:
    """A file written by a gateway that kept only units opens, and keeps shelves from now."""
    path = tmp_path / "memory"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE units (unit TEXT PRIMARY KEY, state TEXT NOT NULL, "
                   "hold_until REAL, override_by TEXT, saved REAL NOT NULL)")
        db.execute("INSERT INTO units VALUES ('a', 'hold', 1800000070.0, NULL, 5.0)")
    memory = UnitMemoryFile(path, Counter())
    assert memory.load() == {"a": (HOLD, 5.0)} and memory.load_suppressions() == []
    memory.keep_suppression(Suppression("a:process", "shelved", "li", "x", 900.0, 5.0), 6.0)
    assert len(memory.load_suppressions()) == 1 and memory.problem is None


def test_a_suppressions_table_from_before_since_is_brought_up_to_the_schema(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file whose suppressions table has no ``since`` column (written before it) failed
    every read and write of shelves, and /healthz said every unit would start idle. Now the
    column is added at open; the rows there take their saved time as when it was done."""
    path = tmp_path / "memory"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE units (unit TEXT PRIMARY KEY, state TEXT NOT NULL, "
                   "hold_until REAL, override_by TEXT, saved REAL NOT NULL)")
        db.execute("INSERT INTO units VALUES ('a', 'hold', 1800000070.0, NULL, 5.0)")
        db.execute("CREATE TABLE suppressions (alarm_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                   "user TEXT NOT NULL, reason TEXT NOT NULL, until REAL, "
                   "saved REAL NOT NULL)")
        db.execute("INSERT INTO suppressions VALUES ('p:process', 'shelved', 'li', 'gas test', "
                   "900.0, 7.0)")
    counters: Counter[str] = Counter()
    with caplog.at_level(logging.WARNING, "gateway.safety.memory"):
        memory = UnitMemoryFile(path, counters)
        assert memory.load() == {"a": (HOLD, 5.0)}
        assert memory.load_suppressions() == [
            Suppression("p:process", "shelved", "li", "gas test", 900.0, 7.0)]
    assert "suppressions.since added" in caplog.text
    memory.keep_suppression(Suppression("q:fault", "out-of-service", "wang", "repair", None,
                                        8.0), 9.0)
    assert memory.problem is None and not any("failed" in k for k in counters)
    memory.close()
    again = UnitMemoryFile(path, Counter())  # opened once more: nothing left to add
    assert {s.alarm_id for s in again.load_suppressions()} == {"p:process", "q:fault"}
    assert again.problem is None


def test_a_shelve_whose_write_failed_is_written_at_the_next_chance(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    memory = UnitMemoryFile(path, Counter())
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    memory.keep_suppression(Suppression("a:process", "shelved", "li", "x", 900.0, 5.0), 1.0)
    memory.forget_suppression("b:process")
    assert memory.problem is not None
    locker.execute("ROLLBACK")
    locker.close()
    memory.save({}, 2.0)  # the next unit save (or the next shelve) writes it
    assert memory.problem is None
    assert UnitMemoryFile(path, Counter()).load_suppressions() == [
        Suppression("a:process", "shelved", "li", "x", 900.0, 5.0)]
