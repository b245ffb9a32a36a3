"""The reading log and the queue's log half, on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway import readlog
from gateway.queue import LOG_BASE, Entry, Queue
from gateway.readlog import ReadingLog
from tests.gateway_core.helpers import make_reading


def bodies(n: int, start: int = 0) -> list[tuple[bytes, int]]:
    return [(f"group-{start + i}".encode(), i % 3 + 1) for i in range(n)]


def test_records_come_back_in_order_and_acked_ones_stay_gone(tmp_path: Path) -> None:
    log = ReadingLog(tmp_path / "log")
    assert log.append(bodies(6), 100.0) == 1 + 2 + 3 + 1 + 2 + 3
    records = log.peek(4)
    assert [r.body for r in records] == [b"group-0", b"group-1", b"group-2", b"group-3"]
    assert [r.readings for r in records] == [1, 2, 3, 1] and records[0].enqueued == 100.0
    log.mark_inflight(r.seq for r in records)
    assert [r.body for r in log.peek(10)] == [b"group-4", b"group-5"]  # in flight: left out
    assert log.ack([records[0].seq, records[1].seq, records[3].seq]) == 1 + 2 + 1
    assert log.low == 2  # record 2 is still in flight: 3 is acked, but after the gap
    assert log.readings == 12 - 4
    log.close()
    again = ReadingLog(tmp_path / "log")
    # from the first unacknowledged record on: record 3 comes again (a duplicate, no gap)
    assert [r.body for r in again.peek(10)] == [b"group-2", b"group-3", b"group-4", b"group-5"]
    assert again.readings == 3 + 1 + 2 + 3
    again.close()


def test_released_records_come_first_and_count_attempts(tmp_path: Path) -> None:
    log = ReadingLog(tmp_path / "log")
    log.append(bodies(5), 1.0)
    first = log.peek(3)
    log.mark_inflight([first[0].seq, first[2].seq])  # record 1 peeked, not sent
    assert log.release([first[2].seq]) == first[2].readings
    got = log.peek(10)
    assert [r.body for r in got] == [b"group-1", b"group-2", b"group-3", b"group-4"]
    assert [r.attempts for r in got[:2]] == [0, 1]
    log.close()


def test_a_torn_tail_is_cut_off_on_open(tmp_path: Path) -> None:
    log = ReadingLog(tmp_path / "log")
    log.append(bodies(3), 1.0)
    log.close()
    (segment,) = (tmp_path / "log").glob("*.seg")
    whole = segment.stat().st_size
    with segment.open("ab") as f:  # a kill (or power cut) in the middle of the next write
        f.write(b"\x30\x00\x00\x00\x99\x99")
    again = ReadingLog(tmp_path / "log")
    assert again.truncated == 6 and segment.stat().st_size == whole
    assert [r.body for r in again.peek(10)] == [b"group-0", b"group-1", b"group-2"]
    again.append(bodies(1, start=3), 2.0)  # and it goes on after the good records
    assert [r.body for r in again.peek(10)][-1] == b"group-3"
    again.close()


def test_a_bit_flip_ends_the_log_at_the_damaged_record(tmp_path: Path) -> None:
    log = ReadingLog(tmp_path / "log")
    log.append(bodies(3), 1.0)
    log.close()
    (segment,) = (tmp_path / "log").glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[-2] ^= 0x01  # inside the last record's body: its CRC no longer matches
    segment.write_bytes(bytes(data))
    again = ReadingLog(tmp_path / "log")
    assert [r.body for r in again.peek(10)] == [b"group-0", b"group-1"]
    again.close()


def test_segments_roll_and_are_deleted_once_acknowledged(tmp_path: Path) -> None:
    log = ReadingLog(tmp_path / "log", segment_bytes=300)
    for chunk in range(10):
        log.append(bodies(4, start=chunk * 4), float(chunk))
    assert log.segments >= 3  # a segment is closed at the first append past 300 bytes
    while records := log.peek(7):
        log.mark_inflight(r.seq for r in records)
        log.ack([r.seq for r in records])
    assert log.readings == 0 and log.low == 40
    assert log.segments == 1  # only the one being written is left
    assert (tmp_path / "log" / "acked").stat().st_size == 8
    log.close()
    again = ReadingLog(tmp_path / "log")
    assert again.peek(10) == [] and again.segments == 0  # the last one, all acked, deleted
    again.append(bodies(1, start=40), 1.0)
    assert [r.seq for r in again.peek(10)] == [40]  # seqs go on, never reused
    again.close()


def test_the_queue_hands_out_log_records_and_rows_oldest_first(tmp_path: Path) -> None:
    now = [10.0]
    queue = Queue(tmp_path / "q.db", clock=lambda: now[0])
    encoder = queue.encoder
    group = encoder.group([make_reading(i) for i in range(5)])
    queue.append_many([Entry("t/e", b"event-1", "event")])
    now[0] = 11.0
    queue.append_many([Entry("", group, "batch")])
    now[0] = 12.0
    queue.append_many([Entry("t/s", b"status-1", "status")])
    rows = queue.peek(10)
    assert [(r.kind, r.readings) for r in rows] == [("event", 1), ("batch", 5), ("status", 1)]
    assert rows[1].seq >= LOG_BASE and rows[1].payload == group
    counters = queue.counters()
    assert counters["queue.rows"] == 1 + 5 + 1 and counters["queue.rows.reading"] == 5
    assert counters["queue.appended"] == 7
    queue.mark_inflight(r.seq for r in rows)
    assert queue.inflight == 7
    queue.release_all()
    assert queue.inflight == 0 and queue.counters()["queue.released"] == 7
    rows = queue.peek(10)
    queue.mark_inflight(r.seq for r in rows)
    assert queue.ack([r.seq for r in rows]) == 7 and queue.rows == 0
    queue.close()
    # the series the record named are kept with the queue, for announcing after a restart
    again = Queue(tmp_path / "q.db")
    assert again.encoder.bodies == encoder.bodies and len(encoder.bodies) == 1
    again.close()


def test_overflow_drops_the_oldest_log_readings_and_records_it(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db", max_rows=20, overflow_topic="t/overflow")
    encoder = queue.encoder
    queue.append_many([Entry("t/e", b"event", "event")] * 3)
    for start in range(0, 30, 5):  # six poll batches of 5 readings: 33 entries for 20 places
        queue.append_many([Entry("", encoder.group(
            [make_reading(start + i) for i in range(5)]), "batch")])
    counters = queue.counters()
    # each append over 20 drops whole records, oldest first: 3 events + 3 batches remain
    assert counters["queue.dropped_overflow"] == 15 and counters["queue.rows.event"] == 3 + 3
    kept = [r for r in queue.peek(100) if r.kind == "batch"]
    assert [r.seq - LOG_BASE for r in kept] == [3, 4, 5]
    overflow = [json.loads(r.payload) for r in queue.peek(100) if r.topic == "t/overflow"]
    assert [o["dropped"] for o in overflow] == [5, 5, 5]
    assert [o["first_seq"] - LOG_BASE for o in overflow] == [0, 1, 2]
    assert queue.rows == 3 + 3 + 15
    queue.close()


def test_a_lost_acknowledged_position_only_repeats_what_is_left(tmp_path: Path) -> None:
    """Power cut after segments were deleted but before the position reached the disk."""
    log = ReadingLog(tmp_path / "log", segment_bytes=100)
    for chunk in range(4):
        log.append(bodies(3, start=chunk * 3), 1.0)
    records = log.peek(6)
    log.mark_inflight(r.seq for r in records)
    log.ack([r.seq for r in records])
    log.close()
    (tmp_path / "log" / "acked").write_bytes(b"\0" * 8)  # the old position: 0
    again = ReadingLog(tmp_path / "log")
    assert again.low == 6 and [r.seq for r in again.peek(10)] == [6, 7, 8, 9, 10, 11]
    again.close()


def test_closing_twice_leaves_a_file_opened_in_between_alone(tmp_path: Path) -> None:
    """The gateway may close its queue twice (a stop after a failed stop); the second close
    must not close a descriptor number the OS has handed to someone else meanwhile."""
    log = ReadingLog(tmp_path / "log")
    log.close()
    with (tmp_path / "other").open("w") as other:  # likely reuses a freed number
        log.close()
        other.write("still open")
    assert (tmp_path / "other").read_text() == "still open"


def test_peeking_only_log_records_asks_sqlite_nothing_until_a_row_comes(tmp_path: Path) -> None:
    # The publisher peeks after every commit; in steady state those are all poll batches.
    queue = Queue(tmp_path / "q.db", max_rows=1000, overflow_topic="t/overflow")
    encoder = queue.encoder
    statements: list[str] = []
    queue._db.set_trace_callback(statements.append)  # every statement SQLite runs

    def batch(start: int) -> Entry:
        return Entry("", encoder.group([make_reading(start + i) for i in range(5)]), "batch")

    def send(limit: int = 10, status_limit: int = 10) -> list[tuple[str, int]]:
        prompt, status = queue.peek_lanes(limit, status_limit)
        rows = prompt + status
        queue.mark_inflight(r.seq for r in rows)
        return [(r.kind, r.readings) for r in rows]

    queue.append_many([batch(0)])
    assert send() == [("batch", 5)]  # the first peek of each lane looks, and finds none
    statements.clear()
    for start in range(5, 30, 5):
        queue.append_many([batch(start)])
        assert send() == [("batch", 5)]
    assert statements == []  # log records only: no SQLite at all
    queue.append_many([Entry("t/e", b"event-1", "event"), batch(30)])
    assert send() == [("event", 1), ("batch", 5)]  # the event is not skipped
    queue.append_many([Entry("t/s", b"status-1", "status")])
    assert send() == [("status", 1)]
    queue.release_all()  # the connection dropped: everything comes back, rows included
    assert sorted(send(100, 100)) == sorted([("batch", 5)] * 7 + [("event", 1), ("status", 1)])
    # overflow: the dropped readings' record is an event row, handed out like any other
    statements.clear()
    for start in range(100, 1200, 5):
        queue.append_many([batch(start)])
    assert any("INSERT INTO queue" in s for s in statements)
    assert ("event", 1) in send(1000, 10)


def test_records_not_handed_out_yet_come_from_memory_while_few(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the broker up each record is handed out right after its append: it is kept, not
    read back. Past ``FRESH_BYTES`` (an outage) the rest are read from the file, and what
    comes out either way is what a reopened log reads: bodies, counts, times, positions."""
    monkeypatch.setattr(readlog, "FRESH_BYTES", 40)  # five of the 8-byte bodies below
    reads: list[int] = []
    pread = os.pread

    def counted(fd: int, size: int, offset: int) -> bytes:
        reads.append(offset)
        return pread(fd, size, offset)

    monkeypatch.setattr(readlog.os, "pread", counted)
    log = ReadingLog(tmp_path / "log", segment_bytes=200)  # rolls: ~7 records a segment
    reads.clear()  # opening reads the acknowledged position
    log.append(bodies(3), 5.0)
    first = log.peek(10)
    assert reads == []  # kept: nothing read back
    log.mark_inflight(r.seq for r in first[:2])  # the third is peeked, not sent
    log.append(bodies(7, start=3), 6.0)  # 8 + 7 bodies of 7 bytes: past the 40 kept
    rest = log.peek(10)
    assert reads  # the ones not kept came from the file
    assert [r.body for r in rest] == [f"group-{i}".encode() for i in range(2, 10)]
    log.mark_inflight(r.seq for r in rest)
    assert log._fresh == {} and log._fresh_bytes == 0  # all handed out: none kept
    log.append(bodies(2, start=10), 7.0)
    assert [r.body for r in log.peek(10)] == [b"group-10", b"group-11"]
    handed = [(r.seq, r.body, r.readings, r.enqueued, r.end)
              for r in (*first[:2], *rest, *log.peek(10))]
    log.close()
    again = ReadingLog(tmp_path / "log")
    reread = [(r.seq, r.body, r.readings, r.enqueued, r.end) for r in again.peek(20)]
    again.close()
    assert handed == reread and len(handed) == 12
