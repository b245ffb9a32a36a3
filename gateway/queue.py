"""The gateway's persistent store-and-forward queue: SQLite in WAL mode, plus a reading log.

Events, statuses and single-reading rows are SQLite rows. Poll batches in payload v2
(``Entry`` kind ``batch``, from ``gateway.sink.QueueSink``) go to the append-only
``gateway.readlog.ReadingLog`` beside the database (``<queue>-log/``): one ``write()`` per
commit instead of WAL pages, so 5,000 readings/s cost ~100 KiB/s of disk writes, not MiB/s.
Both halves hand out through ``peek`` oldest first; a log record's ``seq`` is ``LOG_BASE``
plus its place in the log, so the publisher treats both alike. Counts (``rows``,
``appended``, ``acked``, ...) are in readings for log records, one per row otherwise.

A reading is *accepted* once its row is committed here; it leaves only when the broker has
acknowledged it (PUBACK). In-flight state lives in memory on purpose: after a restart every
row that was not acknowledged is pending again, so delivery is at-least-once and ingest
dedups on (point, quantity, time).

Durability: WAL with ``synchronous=NORMAL`` makes every commit survive a process kill (the
WAL frames are in the OS page cache before ``COMMIT`` returns); only an OS crash or power cut
can roll back the last commits since the previous checkpoint, never corrupt the file. Pass
``durable=True`` (``synchronous=FULL``, one fsync per commit) where power cuts are expected.

Threading: one thread owns a Queue, the asyncio thread of the gateway. paho's callbacks are
handed over with ``loop.call_soon_threadsafe``; sqlite3's ``check_same_thread`` enforces it.

Checkpoints: SQLite normally copies the WAL back into the database (a checkpoint) inside
whichever commit crosses 1,000 WAL pages, and that commit then takes tens of milliseconds
instead of one; on the gateway's event loop, every poll and alarm waits for it. With
``checkpoint_thread=True`` a thread of the queue's own runs PASSIVE checkpoints on its own
connection every ``checkpoint_interval`` s (they run beside the writer, which never waits
for them, and sqlite3 drops the GIL while SQLite works), and the writer checkpoints only if
the WAL ever passes ``BACKSTOP_PAGES``.

Lanes: status rows (device status, the alarm engine's retained ``state/{point}``
documents, thousands of them at start) are handed out by ``peek_lanes`` apart from the
rest (events, reading rows, log records), each lane oldest first with a cursor of its own,
so the publisher can send a reading or an alarm event while a backlog of state rows
drains beside it, and reads only as many status rows as it can send (one message each).
``peek`` still merges both lanes, oldest first. A lane whose last look found no row past
its cursor is not asked again until a row of it is inserted: in steady state the publisher
peeks after every commit, and those commits are poll batches in the log, so SQLite is not
touched at all.

Overflow: past ``max_rows``, the oldest telemetry (readings, device status) is dropped and
counted, and an ``events/queue-overflow`` row records how many; events (dead letters, alarms)
are never dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway.readlog import ReadingLog, Record
from occmon.model import iso_utc
from occmon.payload_v2 import Encoder, group_readings

log = logging.getLogger(__name__)

Kind = Literal["reading", "event", "status", "batch"]  # batch: a v2 group, to the log
KINDS: tuple[Kind, ...] = ("reading", "event", "status")
Lane = Literal["prompt", "status"]  # prompt: events, reading rows and the log's records
LANES: tuple[Lane, ...] = ("prompt", "status")
_LANE_WHERE = {"prompt": "kind IN ('event', 'reading')", "status": "kind = 'status'"}
LOG_BASE = 1 << 62  # log records' seqs start here; SQLite's never get there
DEFAULT_MAX_ROWS = 5_000_000
_CHUNK = 900  # under SQLite's bound-parameter limit on old builds (999)
BACKSTOP_PAGES = 16_384  # 64 MB of WAL at 4 KiB pages: the writer checkpoints only past this

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the in-memory cursor relies on it
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('reading', 'event', 'status')),
    enqueued REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0  -- sends abandoned without PUBACK (lost connection)
);
CREATE INDEX IF NOT EXISTS queue_lane ON queue (kind, seq);  -- a lane's rows, in order
CREATE TABLE IF NOT EXISTS series (  -- payload v2 series the log's records name
    id BLOB PRIMARY KEY,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS boots (  -- next_boot: the event ids' run numbers, ever growing
    source TEXT PRIMARY KEY,
    ms INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """What goes in: one MQTT message body (or one reading of a batch) for one topic;
    kind ``batch``: a payload-v2 group (``occmon.payload_v2.Encoder.group``), topic unused."""

    topic: str
    payload: bytes
    kind: Kind = "reading"


@dataclass(frozen=True, slots=True)
class Row:
    """What comes out: an entry with its sequence number (``readings``: in a batch)."""

    seq: int
    topic: str
    payload: bytes
    kind: Kind
    enqueued: float
    attempts: int
    readings: int = 1


class Queue:
    """Append, hand out oldest-first, delete on acknowledgement. See the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        overflow_topic: str | None = None,
        durable: bool = False,
        checkpoint_thread: bool = False,
        checkpoint_interval: float = 1.0,
        busy_timeout: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._written_ms = _last_written_ms(self.path)  # before this open writes: next_boot
        self.max_rows = max_rows
        self.overflow_topic = overflow_topic
        self._clock = clock
        # Another process holding the write lock (an operator's sqlite3 shell) makes a commit
        # fail after ``busy_timeout`` s instead of stalling the event loop; the committer keeps
        # the entries and retries.
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
        self._db.execute("PRAGMA journal_mode=WAL")
        synchronous = "FULL" if durable else "NORMAL"
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        self.log = ReadingLog(Path(f"{self.path}-log"), durable=durable)
        self.encoder = Encoder()  # QueueSink encodes with it; new series are stored here
        for ident, body in self._db.execute("SELECT id, body FROM series"):
            self.encoder.load(bytes(ident), bytes(body))
        self.checkpointer: Checkpointer | None = None
        if checkpoint_thread:
            self._db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            self.checkpointer = Checkpointer(self.path, checkpoint_interval, synchronous)
            self.checkpointer.start()
        self._counts: Counter[str] = Counter(
            dict(self._db.execute("SELECT kind, COUNT(*) FROM queue GROUP BY kind").fetchall())
        )
        # Per lane: every row of the lane with seq <= cursor is in flight, returned or acked.
        self._cursor: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self._inflight: set[int] = set()
        self._returned: dict[Lane, set[int]] = {lane: set() for lane in LANES}  # pending again
        self._lane_of: dict[int, Lane] = {}  # rows handed out by peek and not yet settled
        # Lanes with no row past their cursor (a select found none, nothing inserted since):
        # the publisher peeks after every commit, and most of them only add log records.
        self._drained: set[Lane] = set()
        self._stats: Counter[str] = Counter()

    # -- writing ---------------------------------------------------------------------------

    def append_many(self, entries: Iterable[Entry]) -> int:
        """Append: log records with one ``write()``, rows in one transaction; return how
        many readings/rows were added.

        New series go first, in their own transaction (rare), so a log record never names a
        series the queue could not announce after a restart. Should the SQLite commit fail
        after the log took its records, the committer's retry appends them again: duplicates,
        which ingest drops, never gaps."""
        now = self._clock()
        rows, groups = [], []
        for e in entries:
            if e.kind == "batch":
                groups.append((e.payload, group_readings(e.payload)))
            else:
                rows.append((e.topic, e.payload, e.kind, now))
        if not rows and not groups:
            return 0
        if self.encoder.unsaved:
            with self._transaction():
                self._db.executemany("INSERT OR IGNORE INTO series (id, body) VALUES (?, ?)",
                                     list(self.encoder.unsaved.items()))
            self.encoder.unsaved.clear()
        logged = self.log.append(groups, now)
        over = self.rows + len(rows) > self.max_rows
        if rows or over:
            with self._transaction():
                self._inserted({kind for _, _, kind, _ in rows})
                self._db.executemany(
                    "INSERT INTO queue (topic, payload, kind, enqueued) VALUES (?, ?, ?, ?)", rows
                )
                self._counts.update(Counter(kind for _, _, kind, _ in rows))
                self._enforce_limit(now)
        self._stats["appended"] += len(rows) + logged
        return len(rows) + logged

    def _enforce_limit(self, now: float) -> None:
        """Oldest telemetry first: the log's readings (the bulk), then status/reading rows."""
        excess = self.rows - self.max_rows
        if excess <= 0:
            return
        dropped, first, last = self.log.drop_oldest(excess)
        if dropped:
            self._overflowed(now, dropped, LOG_BASE + first, LOG_BASE + last)
        excess -= dropped
        telemetry = self._counts["reading"] + self._counts["status"]
        drop = min(excess, telemetry)
        if drop <= 0:
            return
        victims = self._db.execute(
            "SELECT seq, kind FROM queue WHERE kind != 'event' ORDER BY seq LIMIT ?", (drop,)
        ).fetchall()
        self._db.executemany("DELETE FROM queue WHERE seq = ?", [(s,) for s, _ in victims])
        for seq, kind in victims:
            self._counts[kind] -= 1
            self._forget(seq)
        self._overflowed(now, len(victims), victims[0][0], victims[-1][0])

    def _overflowed(self, now: float, dropped: int, first: int, last: int) -> None:
        self._stats["dropped_overflow"] += dropped
        log.warning("queue over %d rows: dropped %d oldest telemetry readings/rows",
                    self.max_rows, dropped)
        if self.overflow_topic is not None:
            record = {
                "v": 1,
                "kind": "queue-overflow",
                "dropped": dropped,
                "first_seq": first,
                "last_seq": last,
                "time": iso_utc(now),
            }
            self._inserted({"event"})
            self._db.execute(
                "INSERT INTO queue (topic, payload, kind, enqueued) VALUES (?, ?, 'event', ?)",
                (self.overflow_topic, json.dumps(record).encode(), now),
            )
            self._counts["event"] += 1

    def ack(self, seqs: Sequence[int]) -> int:
        """Delete rows the broker acknowledged; return how many existed (readings for log
        records)."""
        logged = self.log.ack(s - LOG_BASE for s in seqs if s >= LOG_BASE)
        self._stats["acked"] += logged
        seqs = [s for s in seqs if s < LOG_BASE]
        if not seqs:
            return logged
        found: Counter[str] = Counter()
        with self._transaction():
            for chunk in _chunks(seqs):
                marks = _marks(chunk)
                sql = f"SELECT kind, COUNT(*) FROM queue WHERE seq IN ({marks}) GROUP BY kind"
                found.update(dict(self._db.execute(sql, chunk).fetchall()))
                self._db.execute(f"DELETE FROM queue WHERE seq IN ({marks})", chunk)
        self._counts.subtract(found)
        deleted = sum(found.values())
        for seq in seqs:
            self._forget(seq)
        self._stats["acked"] += deleted
        return deleted + logged

    # -- handing out -----------------------------------------------------------------------

    def peek(self, limit: int) -> list[Row]:
        """Up to ``limit`` pending rows and log records, oldest first; in-flight ones are
        left out. A log record counts as one (its ``readings`` says how many it holds)."""
        rows = sorted(self._peek_lane("prompt", limit) + self._peek_lane("status", limit),
                      key=lambda r: r.seq)[:limit]
        return self._with_log(rows, limit)

    def peek_lanes(self, limit: int, status_limit: int) -> tuple[list[Row], list[Row]]:
        """Pending rows by lane, each oldest first: up to ``limit`` events, reading rows and
        log records; up to ``status_limit`` status rows (none read when it is 0)."""
        prompt = self._with_log(self._peek_lane("prompt", limit), limit)
        status = self._peek_lane("status", status_limit) if status_limit > 0 else []
        return prompt, status

    def _with_log(self, rows: list[Row], limit: int) -> list[Row]:
        records = [_row(r) for r in self.log.peek(limit)]
        if not records:
            return rows
        if not rows:
            return records
        return sorted(rows + records, key=lambda r: r.enqueued)[:limit]

    def _peek_lane(self, lane: Lane, limit: int) -> list[Row]:
        rows: list[Row] = []
        returned = self._returned[lane]
        if returned:
            back = sorted(returned)[: min(limit, _CHUNK)]
            rows = self._select(f"seq IN ({_marks(back)})", back)
        if len(rows) < limit and lane not in self._drained:
            ahead = self._select(f"{_LANE_WHERE[lane]} AND seq > ?", [self._cursor[lane]],
                                 limit - len(rows))
            if not ahead:
                self._drained.add(lane)
            rows += ahead
        for row in rows:
            self._lane_of[row.seq] = lane
        return rows

    def _inserted(self, kinds: set[str]) -> None:
        """Rows of ``kinds`` are being inserted: their lanes have rows past the cursor."""
        for kind in kinds:
            self._drained.discard("status" if kind == "status" else "prompt")

    def mark_inflight(self, seqs: Iterable[int]) -> None:
        """Rows handed to the broker: left out of peek() until acked or released."""
        marked = set(seqs)
        logged = {s for s in marked if s >= LOG_BASE}
        if logged:
            self.log.mark_inflight(s - LOG_BASE for s in logged)
            marked -= logged
        if not marked:
            return
        for lane, members in self._lanes(marked).items():
            top = max(members)
            if top > self._cursor[lane]:
                # Pending rows of the lane skipped between its old cursor and the new one are
                # not lost: they join the returned set, so the cursor never jumps an unsent row.
                between = self._db.execute(
                    f"SELECT seq FROM queue WHERE {_LANE_WHERE[lane]} AND seq > ? AND seq <= ?",
                    (self._cursor[lane], top),
                ).fetchall()
                self._returned[lane].update(s for (s,) in between if s not in members)
                self._cursor[lane] = top
            self._returned[lane].difference_update(members)
        self._inflight.update(marked)

    def _lanes(self, seqs: set[int]) -> dict[Lane, set[int]]:
        """The lane of each row: known from peek, else (a caller's own seqs) from SQLite."""
        unknown = [s for s in seqs if s not in self._lane_of]
        for chunk in _chunks(unknown):
            sql = f"SELECT seq, kind FROM queue WHERE seq IN ({_marks(chunk)})"
            for seq, kind in self._db.execute(sql, chunk).fetchall():
                self._lane_of[seq] = "status" if kind == "status" else "prompt"
        out: dict[Lane, set[int]] = {}
        for seq in seqs:
            lane = self._lane_of.get(seq)
            if lane is not None:
                out.setdefault(lane, set()).add(seq)
        return out

    def _forget(self, seq: int) -> None:
        """A row left the table (acked or dropped)."""
        self._inflight.discard(seq)
        lane = self._lane_of.pop(seq, None)
        if lane is not None:
            self._returned[lane].discard(seq)
        else:
            for returned in self._returned.values():
                returned.discard(seq)

    def release(self, seqs: Iterable[int]) -> None:
        """In-flight rows whose send was abandoned: pending again, attempts + 1."""
        seqs = list(seqs)
        logged = self.log.release(s - LOG_BASE for s in seqs if s >= LOG_BASE)
        self._stats["released"] += logged
        back = [s for s in seqs if s in self._inflight]
        if not back:
            return
        self._inflight.difference_update(back)
        for lane, members in self._lanes(set(back)).items():
            self._returned[lane].update(members)
        with self._transaction():
            for chunk in _chunks(back):
                self._db.execute(
                    f"UPDATE queue SET attempts = attempts + 1 WHERE seq IN ({_marks(chunk)})",
                    chunk,
                )
        self._stats["released"] += len(back)

    def release_all(self) -> None:
        """The connection is gone: everything in flight is pending again."""
        self.release(list(self._inflight) + [LOG_BASE + s for s in self.log.inflight_seqs()])

    # -- state -----------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        """Rows plus the log's unacknowledged readings."""
        return sum(self._counts.values()) + self.log.readings

    @property
    def inflight(self) -> int:
        return len(self._inflight) + self.log.inflight

    @property
    def pending(self) -> int:
        return self.rows - len(self._inflight)

    def counters(self) -> dict[str, int]:
        out = {f"queue.{k}": v for k, v in self._stats.items()}
        out["queue.rows"] = self.rows
        out["queue.inflight"] = self.inflight
        for kind in KINDS:
            out[f"queue.rows.{kind}"] = self._counts[kind]
        out["queue.rows.reading"] += self.log.readings
        out["queue.log_segments"] = self.log.segments
        if self.checkpointer is not None:
            out["queue.checkpoints"] = self.checkpointer.runs
            out["queue.checkpoint_errors"] = self.checkpointer.errors
        return out

    @property
    def last_written(self) -> float | None:
        """When the queue's files were last written before this open (s, on the clock of
        that moment; None for a new queue): the gateway's health compares its clock."""
        return None if self._written_ms is None else self._written_ms / 1000

    def next_boot(self, source: str, now_ms: int) -> int:
        """The run number of ``source``'s event ids for this run (``gateway.safety.wire.
        EventIds``): the wall clock's ms, or one past the last run's if that is not behind.

        The record takes an alarm's latest event by its id, and an id sorts by its run number
        first. An edge box whose clock starts in the past (no RTC battery, before NTP) would
        otherwise give every event of the run ids below the run before's, and a raise would
        never become the alarm's current state. Kept in this file, so it holds as long as the
        queue does (a file from before it: its last write, taken at open); if the file
        cannot say, the wall clock's ms (logged)."""
        try:
            row = self._db.execute("SELECT ms FROM boots WHERE source = ?", (source,)).fetchone()
            # a file from before the table: its last write (the run before's clock) instead
            last = int(row[0]) if row is not None else self._written_ms
            boot = now_ms if last is None else max(now_ms, last + 1)
            with self._transaction():
                self._db.execute("INSERT OR REPLACE INTO boots (source, ms) VALUES (?, ?)",
                                 (source, boot))
        except sqlite3.Error as exc:
            log.error("queue %s: the run number of %s's event ids is not kept (%s); the wall "
                      "clock's is used", self.path, source, exc)
            return now_ms
        if boot != now_ms:
            log.warning("the wall clock (%d ms) is behind the last run of %s (%d ms): this "
                        "run's event ids take %d, after it", now_ms, source, boot - 1, boot)
        return boot

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self._db.close()
        self.log.close()

    # -- helpers ---------------------------------------------------------------------------

    def _select(self, where: str, args: Sequence[object], limit: int | None = None) -> list[Row]:
        sql = f"SELECT seq, topic, payload, kind, enqueued, attempts FROM queue WHERE {where}"
        sql += " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Row(*r) for r in self._db.execute(sql, args).fetchall()]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def _last_written_ms(path: Path) -> int | None:
    """When the queue's files were last written (ms, by the clock of that moment); None
    for a new queue. The reading log's segments are the freshest: readings go there."""
    log_dir = Path(f"{path}-log")
    names = [path, Path(f"{path}-wal"), log_dir]
    with contextlib.suppress(OSError):
        names += list(log_dir.iterdir())
    times = []
    for name in names:
        try:
            times.append(name.stat().st_mtime)
        except OSError:
            continue
    return int(max(times) * 1000) if times else None


def _row(record: Record) -> Row:
    return Row(LOG_BASE + record.seq, "", record.body, "batch", record.enqueued,
               record.attempts, record.readings)


class Checkpointer(threading.Thread):
    """PASSIVE WAL checkpoints on a connection of its own, so the writer never runs one."""

    def __init__(self, path: Path, interval: float, synchronous: str) -> None:
        super().__init__(name=f"queue-checkpoint:{path.name}", daemon=True)
        self.path, self.interval, self.synchronous = path, interval, synchronous
        self._stopping = threading.Event()
        self.runs = 0
        self.complete = 0  # runs that copied every frame: the next commit restarts the WAL
        self.errors = 0

    def run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=1.0)
        try:
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            while not self._stopping.wait(self.interval):
                self.checkpoint(db)
            self.checkpoint(db)
        finally:
            db.close()

    def checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the writer's next backstop checkpoint covers it
            self.errors += 1
            log.warning("queue checkpoint failed: %s", exc)
            return
        self.runs += 1
        if not busy and copied == frames:
            self.complete += 1

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5.0)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))
