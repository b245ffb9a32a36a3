"""Group commit on a real SQLite queue: one transaction per loop turn, nothing lost on error."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from gateway.committer import Committer
from gateway.queue import Entry, Queue


def entries(n: int, start: int = 0) -> list[Entry]:
    return [Entry("t/r", f"r-{start + i}".encode()) for i in range(n)]


def payloads(queue: Queue) -> list[bytes]:
    return [row.payload for row in queue.peek(10_000)]


def test_what_one_loop_turn_hands_over_is_one_commit(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    commits: list[int] = []

    async def main() -> None:
        committer = Committer(queue, on_commit=lambda: commits.append(queue.rows),
                              max_wait=60.0)
        for n in range(5):
            committer.add(entries(10, start=10 * n))
        assert queue.rows == 0 and committer.buffered == 50  # nothing yet: same turn
        await asyncio.sleep(0)
        assert commits == [50] and committer.buffered == 0
        committer.add(entries(1, start=50))
        await asyncio.sleep(0)
        assert commits == [50, 51]

    asyncio.run(main())
    assert payloads(queue) == [f"r-{i}".encode() for i in range(51)]
    queue.close()


def test_a_long_turn_commits_once_the_oldest_entry_waited_max_wait(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> None:
        committer = Committer(queue, max_wait=0.005)
        committer.add(entries(3))
        time.sleep(0.02)  # the rest of a long turn: a burst of poll responses
        committer.add(entries(2, start=3))
        assert queue.rows == 5  # committed inside the turn, not at its end
        committer.add(entries(1, start=5))
        assert queue.rows == 5  # a fresh entry waits for the end of the turn
        await asyncio.sleep(0)
        assert queue.rows == 6

    asyncio.run(main())
    queue.close()


def test_after_commit_runs_only_once_the_entries_are_on_disk(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    seen: list[tuple[str, int]] = []

    async def main() -> None:
        committer = Committer(queue, max_wait=60.0)
        committer.after_commit(lambda: seen.append(("idle", queue.rows)))  # nothing pending
        committer.add(entries(4))
        committer.after_commit(lambda: seen.append(("after", queue.rows)))
        assert seen == [("idle", 0)]
        await asyncio.sleep(0)

    asyncio.run(main())
    assert seen == [("idle", 0), ("after", 4)]
    queue.close()


def test_a_refused_commit_keeps_everything_in_order_and_retries(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    queue = Queue(path, busy_timeout=0.02)
    acked: list[int] = []

    async def main() -> None:
        committer = Committer(queue, max_wait=0.0, retry_after=0.2)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # the disk says no
        try:
            committer.add(entries(3))
            assert committer.failed_commits == 1 and committer.buffered == 3
            committer.after_commit(lambda: acked.append(queue.rows))
            committer.add(entries(2, start=3))  # retrying: no new attempt per entry
            assert committer.failed_commits == 1 and committer.buffered == 5
            await asyncio.sleep(0.5)  # a retry, still locked
            assert committer.failed_commits >= 2 and acked == []
        finally:
            other.execute("ROLLBACK")
            other.close()
        deadline = time.monotonic() + 10
        while committer.buffered and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert committer.buffered == 0

    asyncio.run(main())
    assert acked == [5]  # once, after the retry committed all five in one transaction
    assert payloads(queue) == [f"r-{i}".encode() for i in range(5)]
    queue.close()


def test_flush_at_stop_commits_the_buffer_now(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> bool:
        committer = Committer(queue, max_wait=60.0)
        committer.add(entries(7))
        return committer.flush()

    assert asyncio.run(main()) is True
    assert queue.rows == 7
    queue.close()


def test_lingering_collects_a_burst_over_several_turns_into_one_commit(tmp_path: Path) -> None:
    """``linger``: the first entry waits up to that long for the rest of its burst (the
    gateway's way, gateway/app.py), and never longer, whatever the turns do."""
    queue = Queue(tmp_path / "q.db")
    commits: list[tuple[int, float]] = []

    async def main() -> float:
        start = time.monotonic()
        committer = Committer(queue, on_commit=lambda: commits.append(
            (queue.rows, time.monotonic() - start)), linger=0.05)
        for n in range(5):  # a burst over five turns
            committer.add(entries(2, start=2 * n))
            await asyncio.sleep(0)
        assert commits == [] and committer.buffered == 10  # not at the end of a turn
        await asyncio.sleep(0.2)
        committer.add(entries(1, start=10))  # a new burst: its own window
        time.sleep(0.06)  # a long turn: the cap commits inside it
        committer.add(entries(1, start=11))
        return time.monotonic() - start

    asyncio.run(main())
    assert [rows for rows, _ in commits] == [10, 12]
    # One window after the first entry. uvloop's timers count from the time it cached at the
    # start of the loop's turn, to the millisecond, so a window may end a few ms early by
    # time.monotonic(); a commit at the end of a turn would come at once.
    assert 0.04 <= commits[0][1] < 0.15
    assert payloads(queue) == [f"r-{i}".encode() for i in range(12)]
    queue.close()


# -- polls in flight (hold): a slot's burst of polls is one commit ----------------------------


def counted(queue: Queue, **options: float) -> tuple[Committer, list[int]]:
    """A committer on ``queue``, and the queue's row count after each of its commits."""
    commits: list[int] = []
    return Committer(queue, on_commit=lambda: commits.append(queue.rows), **options), commits


def test_entries_wait_for_the_polls_in_flight_and_go_in_one_commit_when_the_last_ends(
        tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> None:
        committer, commits = counted(queue, linger=0.002, hold=5.0)
        for _ in range(3):
            committer.poll_started()
        for n in range(3):
            await asyncio.sleep(0.02)  # answers spread far past the linger
            committer.add(entries(2, start=2 * n))
            committer.poll_finished()
            if n < 2:
                await asyncio.sleep(0.01)
                assert commits == [] and committer.buffered == 2 * (n + 1)
        assert commits == []  # the last poll's turn: committed at its end
        await asyncio.sleep(0)
        assert commits == [6] and committer.in_flight == 0

    asyncio.run(main())
    assert payloads(queue) == [f"r-{i}".encode() for i in range(6)]
    queue.close()


def test_a_poll_that_hangs_holds_the_others_no_longer_than_hold(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> None:
        committer, commits = counted(queue, linger=0.002, hold=0.05)
        committer.poll_started()
        committer.poll_started()  # never finishes here: a unit timing out
        committer.add(entries(2))
        committer.poll_finished()
        await asyncio.sleep(0.02)
        assert commits == []  # still held for the other poll, within hold
        await asyncio.sleep(0.3)
        assert commits == [2]  # given up waiting after hold
        committer.add(entries(1, start=2))  # the hung poll is still in flight: held again
        await asyncio.sleep(0.3)
        assert commits == [2, 3]
        committer.poll_finished()
        assert committer.in_flight == 0

    asyncio.run(main())
    queue.close()


def test_a_prompt_entry_is_committed_at_the_end_of_its_turn_with_what_is_held(
        tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> None:
        committer, commits = counted(queue, linger=0.002, hold=5.0)
        committer.poll_started()
        committer.poll_started()
        committer.add(entries(3))  # a poll's readings, held for the other poll
        await asyncio.sleep(0.01)
        assert commits == []
        committer.add(entries(1, start=3), prompt=True)  # an alarm event
        assert commits == []  # not inside the turn
        await asyncio.sleep(0)
        assert commits == [4]  # the alarm and the readings before it, in order
        committer.poll_finished()
        committer.poll_finished()
        await asyncio.sleep(0.01)
        assert commits == [4]  # nothing left: no empty commit

    asyncio.run(main())
    assert payloads(queue) == [f"r-{i}".encode() for i in range(4)]
    queue.close()


def test_with_no_poll_in_flight_the_linger_applies_and_a_stray_finish_is_harmless(
        tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")

    async def main() -> None:
        committer, commits = counted(queue, linger=0.05, hold=5.0)
        committer.poll_finished()  # more finishes than starts cannot go below zero
        assert committer.in_flight == 0
        committer.add(entries(2))  # an MQTT sensor's readings, no poll in flight
        await asyncio.sleep(0.01)
        assert commits == []  # lingering for the rest of its burst
        await asyncio.sleep(0.3)
        assert commits == [2]  # not held for 5 s: no poll was in flight
        committer.poll_started()
        committer.poll_finished()  # a poll that handed nothing over
        await asyncio.sleep(0.01)
        assert commits == [2]

    asyncio.run(main())
    queue.close()


def test_a_refused_commit_during_a_burst_is_retried_not_committed_on_the_polls_end(
        tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    queue = Queue(path, busy_timeout=0.02)
    blocker = sqlite3.connect(path, isolation_level=None)

    async def main() -> None:
        committer = Committer(queue, hold=0.02, retry_after=0.2)
        committer.poll_started()
        committer.poll_started()
        blocker.execute("BEGIN EXCLUSIVE")  # the disk says no
        committer.add(entries(2))
        committer.poll_finished()
        await asyncio.sleep(0.1)  # hold ran out: the commit was tried and refused
        assert committer.failed_commits >= 1 and committer.buffered == 2
        committer.add(entries(1, start=2))
        committer.poll_finished()  # the burst ends while retrying: the retry timer stands
        blocker.execute("ROLLBACK")
        await asyncio.sleep(0.5)
        assert committer.buffered == 0 and queue.rows == 3

    asyncio.run(main())
    blocker.close()
    assert payloads(queue) == [b"r-0", b"r-1", b"r-2"]
    queue.close()
