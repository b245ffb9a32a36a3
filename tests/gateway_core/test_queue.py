"""The store-and-forward queue on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from gateway.queue import Entry, Queue


def entries(n: int, kind: str = "reading", start: int = 0) -> list[Entry]:
    return [Entry(f"t/{kind}", f"{kind}-{start + i}".encode(), kind) for i in range(n)]  # type: ignore[arg-type]


def payloads(queue: Queue, limit: int = 10_000) -> list[bytes]:
    return [row.payload for row in queue.peek(limit)]


def test_rows_come_back_oldest_first(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    queue.append_many(entries(5))
    assert payloads(queue) == [f"reading-{i}".encode() for i in range(5)]
    assert [r.kind for r in queue.peek(10)] == ["reading"] * 5


def test_wal_mode(tmp_path: Path) -> None:
    Queue(tmp_path / "q.db").close()
    db = sqlite3.connect(tmp_path / "q.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unacked_rows_are_pending_again_after_reopen(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    queue.append_many(entries(10))
    rows = queue.peek(6)
    queue.mark_inflight(r.seq for r in rows)
    queue.ack([rows[0].seq, rows[1].seq])
    assert len(queue.peek(100)) == 4  # in-flight rows are left out
    queue.close()  # no ack for the other 4 in flight
    again = Queue(tmp_path / "q.db")
    assert payloads(again) == [f"reading-{i}".encode() for i in range(2, 10)]
    assert again.rows == 8


def test_ack_deletes_only_acked_rows(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    queue.append_many(entries(4))
    rows = queue.peek(4)
    queue.mark_inflight(r.seq for r in rows)
    assert queue.ack([rows[1].seq, rows[3].seq]) == 2
    assert queue.ack([rows[1].seq]) == 0  # a second PUBACK for the same rows deletes nothing
    queue.release_all()
    assert payloads(queue) == [b"reading-0", b"reading-2"]
    assert queue.counters()["queue.acked"] == 2


def test_released_rows_come_back_first_with_attempts(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    queue.append_many(entries(6))
    first = queue.peek(3)
    queue.mark_inflight(r.seq for r in first)
    queue.release([first[1].seq])
    rows = queue.peek(10)
    assert [r.payload for r in rows] == [b"reading-1", b"reading-3", b"reading-4", b"reading-5"]
    assert rows[0].attempts == 1
    assert rows[1].attempts == 0


def test_skipped_rows_are_not_jumped_over(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    queue.append_many(entries(5))
    rows = queue.peek(5)
    queue.mark_inflight([rows[0].seq, rows[4].seq])  # rows 1-3 were peeked but not sent
    assert payloads(queue) == [b"reading-1", b"reading-2", b"reading-3"]


def test_rows_appended_after_queue_emptied_are_seen(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    queue.append_many(entries(3))
    rows = queue.peek(3)
    queue.mark_inflight(r.seq for r in rows)
    queue.ack([r.seq for r in rows])
    queue.append_many(entries(2, start=3))
    assert payloads(queue) == [b"reading-3", b"reading-4"]


def test_overflow_drops_oldest_telemetry_never_events(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db", max_rows=10, overflow_topic="t/overflow")
    queue.append_many(entries(3, "event"))
    queue.append_many(entries(6))
    queue.append_many(entries(4, start=6))  # 13 rows: the 3 oldest readings must go
    kept = payloads(queue)
    assert [p for p in kept if p.startswith(b"event")] == [b"event-0", b"event-1", b"event-2"]
    readings = [p for p in kept if p.startswith(b"reading")]
    assert readings == [f"reading-{i}".encode() for i in range(3, 10)]
    counters = queue.counters()
    assert counters["queue.dropped_overflow"] == 3
    overflow = [r for r in queue.peek(100) if r.topic == "t/overflow"]
    assert len(overflow) == 1 and json.loads(overflow[0].payload)["dropped"] == 3
    assert counters["queue.rows.event"] == 4  # 3 events + the overflow record


def test_events_are_kept_even_past_the_limit(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db", max_rows=2)
    queue.append_many(entries(5, "event"))
    assert len(queue.peek(10)) == 5
    assert queue.counters().get("queue.dropped_overflow", 0) == 0


def test_counters_survive_reopen(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    queue.append_many(entries(3) + entries(2, "status") + entries(1, "event"))
    counters = queue.counters()
    assert (counters["queue.appended"], counters["queue.rows"]) == (6, 6)
    queue.close()
    again = Queue(tmp_path / "q.db").counters()
    assert (again["queue.rows.reading"], again["queue.rows.status"]) == (3, 2)
    assert again["queue.rows.event"] == 1


def test_large_ack_over_parameter_limit(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    queue.append_many(entries(40_000))
    rows = queue.peek(40_000)
    queue.mark_inflight(r.seq for r in rows)
    assert queue.ack([r.seq for r in rows]) == 40_000
    assert queue.rows == 0


def test_rejects_nonsense_limit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_rows"):
        Queue(tmp_path / "q.db", max_rows=0)


def test_checkpoint_thread_keeps_the_wal_small_and_the_rows_intact(tmp_path: Path) -> None:
    """20 MB go through the WAL (written, then acked); a writer with autocheckpoint at the
    64 MB backstop would keep it all, so a small WAL shows the thread's checkpoints work."""
    path = tmp_path / "q.db"
    queue = Queue(path, checkpoint_thread=True, checkpoint_interval=0.02)
    body = b"x" * 1000
    kept: list[int] = []
    for chunk in range(20):
        queue.append_many([Entry("t/r", body + str(chunk).encode())] * 1000)
        rows = queue.peek(1000)
        kept.append(rows[0].seq)
        queue.mark_inflight(r.seq for r in rows)
        queue.ack([r.seq for r in rows[1:]])  # one row of each chunk stays
        runs = queue.checkpointer.runs if queue.checkpointer else 0
        deadline = time.monotonic() + 10
        while queue.checkpointer and queue.checkpointer.runs < runs + 2:
            assert time.monotonic() < deadline, "the checkpoint thread stopped running"
            time.sleep(0.005)
    wal = Path(f"{path}-wal").stat().st_size
    counters = queue.counters()
    queue.close()
    assert counters["queue.checkpoints"] >= 40 and counters["queue.checkpoint_errors"] == 0
    assert wal < 8_000_000, f"WAL grew to {wal} bytes"
    again = Queue(path)
    assert [r.seq for r in again.peek(100)] == kept
    assert {r.payload[-2:].lstrip(b"x") for r in again.peek(100)} == {
        str(c).encode() for c in range(20)}
    again.close()


def test_a_locked_database_fails_the_commit_quickly_and_keeps_nothing(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    queue = Queue(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # e.g. an operator's shell holding the write lock
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            queue.append_many(entries(3))
        assert queue.rows == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert queue.append_many(entries(3)) == 3 and queue.rows == 3
    queue.close()
