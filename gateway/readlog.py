"""The reading log: an append-only segment log of reading groups, one record per poll batch.

Why not SQLite: a commit writes whole 4 KiB WAL pages (the row's page, the index page,
``sqlite_sequence``), a PUBACK's delete as many again, and the checkpoint copies them all
once more, so at hundreds of commits a second the queue wrote megabytes a second whatever
the rows held. Here a poll batch is one ``write()`` of its ~15-25 bytes a reading to the end
of a file; the page cache gathers them into the pages the kernel writes back (or never
writes, when the segment is deleted first).

Durability is the WAL's with ``synchronous=NORMAL``: ``write()`` has put the record in the
page cache when ``append`` returns, so it survives a kill of the process (not a power cut;
``durable=True`` adds an ``fdatasync`` per append for that). Each record is framed with its
length and a CRC-32, so a torn tail after a crash is found and cut off on open.

Acknowledgement: every record below ``low`` has been acknowledged; ``low`` is kept in the
8-byte ``acked`` file, rewritten in place after each run of PUBACKs (one page the kernel
writes back now and then). A segment entirely below ``low`` is deleted. After a kill or a
restart every record from ``low`` on is sent again, acknowledged or not: duplicates, never
gaps (ingest keeps one reading per point, quantity and time).

In-flight and returned records are held in memory, like the SQLite queue's. Records never
handed out are kept in memory too while they are few (``FRESH_BYTES``): with the broker up
each is handed out right after it was appended, and reading it back cost a ``pread`` and a
parse per commit. Past that (an outage) they are read back from the file (the page cache,
normally) when their turn comes. One thread only: the gateway's event loop.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SEGMENT_BYTES = 1 << 20  # a segment is closed past this; deleted once wholly acknowledged
_FRAME = struct.Struct("<IIdH")  # body length, CRC-32 of the rest, enqueued time, readings
_LOW = struct.Struct("<Q")
_READ_CHUNK = 256 * 1024
_SUFFIX = ".seg"
FRESH_BYTES = 1 << 20  # bodies of records not yet handed out kept in memory, at most


@dataclass(slots=True)
class Record:
    """One group: ``seq`` in the log, its readings and when it was appended."""

    seq: int
    body: bytes
    readings: int
    enqueued: float
    attempts: int = 0
    end: int = 0  # file offset just past it in its segment


@dataclass(slots=True)
class _Segment:
    first: int  # seq of its first record
    path: Path
    records: int = 0
    size: int = 0
    fd: int = -1  # for reading; opened on first use
    readings: list[int] = field(default_factory=list)  # per record, for counting

    @property
    def stop(self) -> int:
        return self.first + self.records


class ReadingLog:
    """Append groups, hand them out oldest first, forget them on acknowledgement."""

    def __init__(self, directory: str | Path, *, durable: bool = False,
                 segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self.segment_bytes = segment_bytes
        self._ack_fd = os.open(self.directory / "acked", os.O_RDWR | os.O_CREAT, 0o644)
        raw = os.pread(self._ack_fd, _LOW.size, 0)
        self.low = _LOW.unpack(raw)[0] if len(raw) == _LOW.size else 0
        self._segments: list[_Segment] = []
        self._write_fd = -1
        self.readings = 0  # readings not yet acknowledged
        self.truncated = 0  # bytes of torn tail cut off on open
        self._open_segments()
        if self._segments and self._segments[0].first > self.low:
            # a segment is deleted only once acknowledged; the position was written before
            # but lost (power cut): what is gone was acknowledged
            self.low = self._segments[0].first
        self.next = self._segments[-1].stop if self._segments else self.low
        self.next = max(self.next, self.low)
        self._cursor = self.low  # every record below has been handed out at least once
        self._cursor_at: tuple[int, int] | None = None  # (segment first, offset) of cursor
        self._inflight: dict[int, Record] = {}
        self._returned: dict[int, Record] = {}
        self._done: set[int] = set()  # acknowledged (or dropped) records at or above low
        self._peeked: dict[int, Record] = {}
        # records appended and not handed out yet (at or above the cursor), in seq order,
        # while their bodies take at most FRESH_BYTES: _read takes them from here
        self._fresh: dict[int, Record] = {}
        self._fresh_bytes = 0

    # -- opening ---------------------------------------------------------------------------

    def _open_segments(self) -> None:
        paths = sorted(self.directory.glob(f"*{_SUFFIX}"), key=lambda p: int(p.stem))
        for i, path in enumerate(paths):
            seg = _Segment(int(path.stem), path)
            data = path.read_bytes()
            pos = 0
            while pos + _FRAME.size <= len(data):
                length, crc, _, count = _FRAME.unpack_from(data, pos)
                end = pos + _FRAME.size + length
                if end > len(data) or zlib.crc32(data[pos + 8 : end]) != crc:
                    break
                seg.readings.append(count)
                pos = end
            if pos != len(data):  # a torn tail (kill mid-write, power cut): cut it off
                self.truncated += len(data) - pos
                log.warning("reading log %s: %d bytes of a torn record cut off%s", path,
                            len(data) - pos, "" if i == len(paths) - 1 else
                            "; later segments follow a damaged one")
                os.truncate(path, pos)
            seg.records, seg.size = len(seg.readings), pos
            self._segments.append(seg)
        self._delete_acked()
        for seg in self._segments:
            skip = max(0, self.low - seg.first)
            self.readings += sum(seg.readings[skip:])

    # -- writing ---------------------------------------------------------------------------

    def append(self, bodies: Sequence[tuple[bytes, int]], enqueued: float) -> int:
        """Append (body, readings) records in one ``write()``; return the readings added."""
        if not bodies:
            return 0
        active = self._segments[-1] if self._segments else None
        if active is None or self._write_fd < 0 or active.size >= self.segment_bytes:
            active = self._roll()
        frames = []
        for body, count in bodies:
            rest = _FRAME.pack(0, 0, enqueued, count)[8:] + body
            frames.append(struct.pack("<II", len(body), zlib.crc32(rest)) + rest)
        data = b"".join(frames)
        written = os.write(self._write_fd, data)
        while written < len(data):  # a regular file takes it whole; be safe anyway
            written += os.write(self._write_fd, data[written:])
        if self.durable:
            os.fdatasync(self._write_fd)
        seq, end = self.next, active.size
        for frame, (body, count) in zip(frames, bodies, strict=True):
            end += len(frame)
            if self._fresh_bytes + len(body) <= FRESH_BYTES:
                self._fresh[seq] = Record(seq, body, count, enqueued, end=end)
                self._fresh_bytes += len(body)
            seq += 1
        active.size += len(data)
        added = 0
        for _, count in bodies:
            active.readings.append(count)
            added += count
        active.records += len(bodies)
        self.next += len(bodies)
        self.readings += added
        return added

    def _roll(self) -> _Segment:
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1  # if the open below fails (disk full), close() skips it
        if self._segments and self._segments[-1].records == 0:  # an empty one: reuse it
            seg = self._segments[-1]
        else:
            seg = _Segment(self.next, self.directory / f"{self.next:020d}{_SUFFIX}")
            self._segments.append(seg)
        self._write_fd = os.open(seg.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._delete_acked()
        return seg

    # -- handing out -----------------------------------------------------------------------

    def peek(self, limit: int) -> list[Record]:
        """Up to ``limit`` records not in flight, returned ones first, oldest first."""
        out = [self._returned[s] for s in sorted(self._returned)[:limit]]
        if len(out) < limit and self._cursor < self.next:
            out += self._read(self._cursor, limit - len(out))
        self._peeked = {r.seq: r for r in out}
        return out

    def mark_inflight(self, seqs: Iterable[int]) -> None:
        marked = {s for s in seqs if s in self._peeked}
        if not marked:
            return
        top = max(marked)
        if top >= self._cursor:
            # Peeked but unsent records below the new cursor are not lost: they are returned.
            for seq in range(self._cursor, top):
                if seq not in marked and seq in self._peeked:
                    self._returned[seq] = self._peeked[seq]
            end = self._peeked[top].end
            self._cursor, self._cursor_at = top + 1, (self._segment_of(top).first, end)
            self._forget_fresh()
        for seq in marked:
            record = self._returned.pop(seq, None) or self._peeked[seq]
            self._inflight[seq] = record
        self._peeked = {}

    def release(self, seqs: Iterable[int]) -> int:
        """In-flight records whose send was abandoned: pending again; return the readings."""
        back = 0
        for seq in seqs:
            record = self._inflight.pop(seq, None)
            if record is not None:
                record.attempts += 1
                self._returned[seq] = record
                back += record.readings
        return back

    def ack(self, seqs: Iterable[int]) -> int:
        """Forget acknowledged records; return how many readings they held."""
        found = 0
        for seq in seqs:
            record = self._inflight.pop(seq, None)
            if record is None:
                continue  # a second PUBACK, or dropped meanwhile
            found += record.readings
            self._done.add(seq)
        self.readings -= found
        self._advance()
        return found

    def drop_oldest(self, readings: int) -> tuple[int, int, int]:
        """Overflow: forget the oldest unacknowledged records until ``readings`` are gone;
        return (readings dropped, first seq, last seq)."""
        dropped, first, last = 0, -1, -1
        seq = self.low
        while dropped < readings and seq < self.next:
            if seq not in self._done:
                record = self._inflight.pop(seq, None) or self._returned.pop(seq, None)
                count = record.readings if record else self._count(seq)
                dropped += count
                self._done.add(seq)
                first = seq if first < 0 else first
                last = seq
            seq += 1
        self.readings -= dropped
        self._advance()
        if self._cursor < self.low:
            self._cursor, self._cursor_at = self.low, None
            self._forget_fresh()
        return dropped, first, last

    # -- state -----------------------------------------------------------------------------

    @property
    def inflight(self) -> int:
        return sum(r.readings for r in self._inflight.values())

    def inflight_seqs(self) -> list[int]:
        return list(self._inflight)

    def oldest_pending(self) -> float | None:
        """When the oldest record not in flight was appended; None if there is none."""
        if self._returned:
            return self._returned[min(self._returned)].enqueued
        if self._cursor < self.next:
            return self._read(self._cursor, 1)[0].enqueued
        return None

    @property
    def segments(self) -> int:
        return len(self._segments)

    def close(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1
        for seg in self._segments:
            if seg.fd >= 0:
                os.close(seg.fd)
                seg.fd = -1
        if self._ack_fd >= 0:  # a second close must not close a number reused since
            os.close(self._ack_fd)
            self._ack_fd = -1

    # -- helpers ---------------------------------------------------------------------------

    def _advance(self) -> None:
        before = self.low
        while self.low in self._done:
            self._done.discard(self.low)
            self.low += 1
        if self.low != before:
            os.pwrite(self._ack_fd, _LOW.pack(self.low), 0)
            self._delete_acked()

    def _delete_acked(self) -> None:
        """Delete segments wholly below ``low``; the one being written stays."""
        while len(self._segments) > 1 and self._segments[0].stop <= self.low:
            self._forget(self._segments.pop(0))
        if (self._segments and self._write_fd < 0 and self._segments[0].stop <= self.low
                and self._segments[0].records):  # reopened: nothing is appended to it
            self._forget(self._segments.pop(0))

    def _forget(self, seg: _Segment) -> None:
        if seg.fd >= 0:
            os.close(seg.fd)
            seg.fd = -1
        seg.path.unlink(missing_ok=True)

    def _segment_of(self, seq: int) -> _Segment:
        for seg in self._segments:
            if seg.first <= seq < seg.stop:
                return seg
        raise KeyError(f"record {seq} is not in the log")

    def _count(self, seq: int) -> int:
        seg = self._segment_of(seq)
        return seg.readings[seq - seg.first]

    def _offset(self, seg: _Segment, seq: int) -> int:
        """File offset of record ``seq``: from the cursor when it is there, else a scan."""
        if self._cursor_at is not None and self._cursor == seq and self._cursor_at[0] == seg.first:
            return self._cursor_at[1]
        pos = 0
        fd = self._fd(seg)
        for _ in range(seq - seg.first):
            length = _FRAME.unpack(os.pread(fd, _FRAME.size, pos))[0]
            pos += _FRAME.size + length
        return pos

    def _fd(self, seg: _Segment) -> int:
        if seg.fd < 0:
            seg.fd = os.open(seg.path, os.O_RDONLY)
        return seg.fd

    def _forget_fresh(self) -> None:
        """Drop the kept records below the cursor: handed out (or dropped) now."""
        fresh = self._fresh
        while fresh:
            seq = next(iter(fresh))
            if seq >= self._cursor:
                break
            self._fresh_bytes -= len(fresh.pop(seq).body)

    def _read(self, seq: int, limit: int) -> list[Record]:
        """Up to ``limit`` records from ``seq`` on, in order: kept ones from memory, the
        others from their segments."""
        out: list[Record] = []
        fresh = self._fresh
        while len(out) < limit and seq < self.next:
            record = fresh.get(seq)
            if record is not None:
                out.append(record)
                seq += 1
                continue
            seg = self._segment_of(seq)
            pos = self._offset(seg, seq)
            fd = self._fd(seg)
            chunk = os.pread(fd, _READ_CHUNK, pos)
            at = 0
            while len(out) < limit and seq < seg.stop:
                if at + _FRAME.size > len(chunk):
                    chunk, at = os.pread(fd, _READ_CHUNK, pos), 0
                length, _, enqueued, count = _FRAME.unpack_from(chunk, at)
                end = at + _FRAME.size + length
                if end > len(chunk):
                    chunk, at = os.pread(fd, max(_READ_CHUNK, _FRAME.size + length), pos), 0
                    end = _FRAME.size + length
                body = chunk[at + _FRAME.size : end]
                pos += _FRAME.size + length
                out.append(Record(seq, body, count, enqueued, end=pos))
                at = end
                seq += 1
        return out
