"""The outbox: durable across reopen, bounded with the overflow policy, rejects kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.influx.outbox import Outbox, OutboxFull


def test_rows_survive_a_reopen_in_arrival_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append(["t1", "t2"], "telemetry")
    box.append(["e1"], "event")
    box.append(["t3"], "telemetry")
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert [r.line for r in again.peek(10)] == ["t1", "t2", "e1", "t3"]
    assert again.pending() == {"telemetry": 3, "event": 1}


def test_delete_only_what_was_confirmed(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append([f"t{i}" for i in range(5)], "telemetry")
    rows = box.peek(2)
    box.delete(rows)
    assert [r.line for r in box.peek(10)] == ["t2", "t3", "t4"]
    assert box.counters() == {"written": 2}
    assert box.pending() == {"telemetry": 3, "event": 0}


def test_telemetry_overflow_drops_oldest_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_telemetry=5, max_events=100)
    box.append(["e0"], "event")
    box.append([f"t{i}" for i in range(4)], "telemetry")
    assert box.append([f"t{i}" for i in range(4, 8)], "telemetry") == 3
    assert [r.line for r in box.peek(100)] == ["e0", "t3", "t4", "t5", "t6", "t7"]
    assert box.counters() == {"dropped_telemetry": 3}
    box.close()
    assert Outbox(tmp_path / "o.db").counters() == {"dropped_telemetry": 3}  # persistent


def test_events_are_never_dropped_the_caller_is_told(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_telemetry=2, max_events=3)
    box.append(["e1", "e2"], "event")
    with pytest.raises(OutboxFull, match="3"):
        box.append(["e3", "e4"], "event")
    assert [r.line for r in box.peek(10)] == ["e1", "e2"]  # nothing of the refused batch
    box.append([f"t{i}" for i in range(10)], "telemetry")  # telemetry never evicts events
    assert [r.line for r in box.peek(10)] == ["e1", "e2", "t8", "t9"]


def test_a_rejected_line_is_kept_out_of_the_queue(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append(["good", "bad line"], "telemetry")
    box.reject(box.peek(10)[1], "unable to parse 'bad line'")
    assert [r.line for r in box.peek(10)] == ["good"]
    assert box.rejected() == [("bad line", "unable to parse 'bad line'")]
    assert box.counters() == {"rejected": 1}
