"""Payload v2: reading batches in a compact binary form, each reading naming its series.

A *series* is what a sensor repeats in every reading: point, agent, unit, quantity, sensor,
device and raw unit, ~150 bytes of a v1 reading's ~240. v2 sends a series once per
connection, retained, on ``occmon/v1/{site}/series/{id}``; its id is the first 8 bytes of
the SHA-256 of its body, so the same series always has the same id, a changed one gets a new
id, and a receiver checks the body against the id (a body can never relabel other data). A
batch then carries per reading the 8-byte id, the value and raw value (float32 when that is
exact, else float64) and only what differs from the usual: its own time, a quality other
than good, a reason. ~15-25 bytes a reading instead of ~240 (docs/topics.md, "Payload v2").

Decoding gives exactly the ``Reading`` that decoding the v1 form of the same reading gives,
field by field: times are carried as the milliseconds v1 writes, raw unit only with a raw
value, an empty reason as none (tests/gateway_core/test_replay.py compares both ways
through a real broker and ingest).

Layout (little-endian)::

    message  = MAGIC, u8 site length, site (UTF-8), group, group, ...
    group    = u16 n, i64 time (ms since the epoch), n x 8-byte series id, n x reading
    reading  = u8 flags, [i64 own time ms], [value f32|f64], [raw f32|f64],
               [u8 quality], [u16 reason length, reason (UTF-8)]

A v2 message starts with a NUL byte, which no JSON text does: one topic carries both.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from occmon.batch import GoodBatch, SeriesKey, SeriesTable
from occmon.model import Quality, Reading
from occmon.payload import MAX_PAYLOAD_BYTES, PayloadError, reading_to_dict
from occmon.quantities import QUANTITIES

VERSION = 2
MAGIC = b"\x00om2"
ID_BYTES = 8

# flags of a reading
_VALUE_F32, _VALUE_F64 = 0x01, 0x02
_RAW_F32, _RAW_F64 = 0x04, 0x08
_OWN_TIME = 0x10
_QUALITY = 0x20
_REASON = 0x40
_KNOWN_FLAGS = 0x7F

_QUALITY_CODES = {Quality.GOOD: 0, Quality.UNCERTAIN: 1, Quality.BAD: 2}
_QUALITIES = {code: quality for quality, code in _QUALITY_CODES.items()}

_F32, _F64, _I64 = struct.Struct("<f"), struct.Struct("<d"), struct.Struct("<q")
_U8, _U16 = struct.Struct("<B"), struct.Struct("<H")
_HEAD = struct.Struct("<Hq")  # n, group time ms
MAX_GROUP = 0xFFFF
MAX_SERIES = 100_000  # series a receiver keeps: far above any site, a bound against floods


@dataclass(frozen=True, slots=True)
class Series:
    """The fields a sensor's readings share; ``raw_unit`` applies when a reading has a raw value."""

    point: str
    agent: str
    unit: str
    quantity: str
    sensor: str
    device: str
    raw_unit: str | None

    def body(self) -> bytes:
        """The retained message: canonical JSON (sorted keys, compact), what the id hashes."""
        doc = {"v": VERSION, "point": self.point, "agent": self.agent, "unit": self.unit,
               "quantity": self.quantity, "sensor": self.sensor, "device": self.device,
               "raw_unit": self.raw_unit}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()


def series_id(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()[:ID_BYTES]


def parse_series(id_hex: str, body: bytes) -> tuple[bytes, Series]:
    """A series message as received; ``PayloadError`` (``bad-series``) unless the body is a
    well-formed series whose hash is the id in its topic."""
    try:
        ident = bytes.fromhex(id_hex)
    except ValueError:
        ident = b""
    if len(ident) != ID_BYTES or series_id(body) != ident:
        raise PayloadError("bad-series", f"series {id_hex!r}: the body's SHA-256 does not "
                                         f"begin with the id in the topic")
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError("bad-series", f"series {id_hex}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise PayloadError("bad-series", f"series {id_hex}: not a v{VERSION} series object")
    texts = [doc.get(k) for k in ("point", "agent", "unit", "quantity", "sensor", "device")]
    raw_unit = doc.get("raw_unit")
    strings = [t for t in texts if isinstance(t, str)]
    if len(strings) != len(texts) or not (raw_unit is None or isinstance(raw_unit, str)):
        raise PayloadError("bad-series", f"series {id_hex}: fields must be strings")
    point, agent, unit, quantity, sensor, device = strings
    series = Series(point, agent, unit, quantity, sensor, device, raw_unit)
    if series.quantity not in QUANTITIES:
        raise PayloadError("bad-series", f"series {id_hex}: quantity {series.quantity!r} "
                                         f"is not known")
    return ident, series


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def time_ms(epoch: float) -> int:
    """The milliseconds v1's ``iso_utc`` writes (datetime's rounding to microseconds, then
    truncated), so both versions decode to the same float."""
    return (datetime.fromtimestamp(epoch, tz=UTC) - _EPOCH) // _MS


def _number(x: float, f32: int, f64: int) -> tuple[int, bytes]:
    try:
        packed = _F32.pack(x)
        if _F32.unpack(packed)[0] == x:
            return f32, packed
    except OverflowError:
        pass
    return f64, _F64.pack(x)


class Encoder:
    """Readings -> v2 groups, registering each new series (``bodies``, ``unsaved``)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[Any, ...], bytes] = {}
        # the ids of a device's series table, in its order (occmon.batch.GoodBatch)
        # (a plain dict: a device's table is made once, and a weak dictionary made a weak
        # reference at each poll's look-up)
        self._tables: dict[SeriesTable, list[bytes]] = {}
        self.bodies: dict[bytes, bytes] = {}  # id -> body of every series seen or loaded
        self.unsaved: dict[bytes, bytes] = {}  # new since the owner last stored them

    def load(self, ident: bytes, body: bytes) -> None:
        """A series stored earlier (the gateway's queue keeps them across restarts)."""
        self.bodies[ident] = body

    def _series(self, r: Reading) -> bytes:
        return self._series_of((r.point, r.agent, r.unit, r.quantity, r.sensor, r.device,
                                r.raw_unit))

    def _series_of(self, key: SeriesKey) -> bytes:
        ident = self._ids.get(key)
        if ident is None:
            body = Series(*key).body()
            ident = series_id(body)
            known = self.bodies.get(ident)
            if known is not None and known != body:
                raise ValueError(f"series id {ident.hex()} of point {key[0]!r} collides")
            if known is None:
                self.bodies[ident] = body
                self.unsaved[ident] = body
            self._ids[key] = ident
        return ident

    def group(self, readings: Sequence[Reading]) -> bytes:
        """One group (what the gateway's log stores as one record): up to 65,535 readings."""
        if not 0 < len(readings) <= MAX_GROUP:
            raise ValueError(f"a group holds 1 to {MAX_GROUP} readings, not {len(readings)}")
        if isinstance(readings, GoodBatch):  # a poll's good readings, as columns
            table = readings.table
            ids = self._tables.get(table)
            if ids is None:
                ids = self._tables[table] = [self._series_of(k) for k in table.keys]
            plain = _pack_plain(_interleaved(readings.values, readings.raws))
            if plain is not None:
                return b"".join((_HEAD.pack(len(ids), time_ms(readings.time)), *ids, plain))
        base = time_ms(readings[0].time)
        ids = [self._series(r) for r in readings]
        head = _HEAD.pack(len(readings), base)
        plain = _plain(readings)
        if plain is not None:
            return b"".join((head, *ids, plain))
        parts = [head, *ids]
        last_time, last_ms = readings[0].time, base
        for r in readings:
            flags = 0
            tail: list[bytes] = []
            if r.time != last_time:
                last_time, last_ms = r.time, time_ms(r.time)
            if last_ms != base:
                flags |= _OWN_TIME
                tail.append(_I64.pack(last_ms))
            if r.value is not None:
                bit, packed = _number(r.value, _VALUE_F32, _VALUE_F64)
                flags |= bit
                tail.append(packed)
            if r.raw_value is not None:
                bit, packed = _number(r.raw_value, _RAW_F32, _RAW_F64)
                flags |= bit
                tail.append(packed)
            if r.quality is not Quality.GOOD:
                flags |= _QUALITY
                tail.append(_U8.pack(_QUALITY_CODES[r.quality]))
            if r.reason:
                text = r.reason.encode()
                flags |= _REASON
                tail.append(_U16.pack(len(text)) + text)
            parts.append(_U8.pack(flags))
            parts.extend(tail)
        return b"".join(parts)


_PLAIN_FLAGS = _VALUE_F32 | _RAW_F32
_plain_structs: dict[int, struct.Struct] = {}


def _plain(readings: Sequence[Reading]) -> bytes | None:
    """The readings part of a group in one ``struct`` call, or None unless every reading is
    the usual poll reading: the group's time, good, no reason, a value and a raw value that
    are both exact as float32. Then each is ``flags, f32, f32``, the bytes the per-reading
    way writes (``tests/gateway_core/test_payload_v2.py`` compares both)."""
    first = readings[0].time
    args: list[float | int] = []
    add = args.extend
    for r in readings:
        value, raw = r.value, r.raw_value
        if (r.time != first or r.quality is not Quality.GOOD or r.reason
                or value is None or raw is None):
            return None
        add((_PLAIN_FLAGS, value, raw))
    return _pack_plain(args)


def _interleaved(values: list[float], raws: list[float]) -> list[float | int]:
    """``flags, value, raw`` of each reading, as ``_plain`` lays them out."""
    args: list[float | int] = [_PLAIN_FLAGS, 0.0, 0.0] * len(values)
    args[1::3] = values
    args[2::3] = raws
    return args


def _pack_plain(args: list[float | int]) -> bytes | None:
    """``args`` (``flags, value, raw`` per reading) as float32 records, or None unless every
    number is exact as float32."""
    n = len(args) // 3
    layout = _plain_structs.get(n)
    if layout is None:
        layout = struct.Struct("<" + "Bff" * n)
        if len(_plain_structs) < 64:  # a gateway has a few batch sizes
            _plain_structs[n] = layout
    try:
        packed = layout.pack(*args)
    except (OverflowError, struct.error):
        return None
    if layout.unpack(packed) != tuple(args):  # a value float32 cannot carry exactly
        return None
    return packed


def message(site: str, groups: Sequence[bytes]) -> bytes:
    """One MQTT message of groups, oldest first."""
    name = site.encode()
    return MAGIC + _U8.pack(len(name)) + name + b"".join(groups)


def group_ids(group: bytes) -> list[bytes]:
    """The series ids a group names, one by one."""
    return split_ids(group_id_block(group))


def group_id_block(group: bytes) -> bytes:
    """The series ids a group names, as the one block of bytes they are in the group."""
    n = _U16.unpack_from(group)[0]
    return group[_HEAD.size : _HEAD.size + n * ID_BYTES]


def split_ids(block: bytes) -> list[bytes]:
    """``group_id_block``'s ids, one by one."""
    return [block[i : i + ID_BYTES] for i in range(0, len(block), ID_BYTES)]


def group_readings(group: bytes) -> int:
    return int(_U16.unpack_from(group)[0])


def is_v2(payload: bytes) -> bool:
    return payload[:4] == MAGIC


class SeriesBook:
    """The series a receiver knows. ``fetch`` (set by ingest's subscriber) is asked for the
    ids a batch names that were not announced since this process started."""

    def __init__(self) -> None:
        self.known: dict[bytes, Series] = {}
        self.fetch: Callable[[set[bytes]], None] | None = None
        self._lock = threading.Lock()

    def learn(self, id_hex: str, body: bytes) -> Series:
        ident, series = parse_series(id_hex, body)
        with self._lock:
            if ident not in self.known and len(self.known) >= MAX_SERIES:
                raise PayloadError("too-many-series", f"more than {MAX_SERIES} series known")
            self.known[ident] = series
        return series


class _Docs(Sequence[Any]):
    """The readings as v1 objects, made only for those a dead letter quotes."""

    def __init__(self, items: list[Reading | PayloadError]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: Any) -> Any:
        item = self._items[i]
        return reading_to_dict(item) if isinstance(item, Reading) else {"error": str(item)}

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))


_Raw = tuple[bytes, int, float | None, float | None, int, str | None]


def _parse(payload: bytes) -> tuple[str, list[_Raw]]:
    """Split a message into (site, (series id, ms, value, raw, quality code, reason) each)."""
    try:
        size = payload[4]
        site = payload[5 : 5 + size].decode()
        pos = 5 + size
        out: list[_Raw] = []
        end = len(payload)
        if pos >= end:
            raise PayloadError("empty-batch", "payload v2 holds no group")
        while pos < end:
            n, base = _HEAD.unpack_from(payload, pos)
            if n == 0:
                raise PayloadError("malformed-payload", f"empty group at byte {pos}")
            pos += _HEAD.size
            ids_at = pos
            pos += n * ID_BYTES
            for i in range(n):
                flags = payload[pos]
                pos += 1
                if flags & ~_KNOWN_FLAGS:
                    raise PayloadError("malformed-payload", f"unknown flags {flags:#x}")
                ms = base
                if flags & _OWN_TIME:
                    ms = _I64.unpack_from(payload, pos)[0]
                    pos += 8
                value = raw = None
                if flags & _VALUE_F32:
                    value = _F32.unpack_from(payload, pos)[0]
                    pos += 4
                elif flags & _VALUE_F64:
                    value = _F64.unpack_from(payload, pos)[0]
                    pos += 8
                if flags & _RAW_F32:
                    raw = _F32.unpack_from(payload, pos)[0]
                    pos += 4
                elif flags & _RAW_F64:
                    raw = _F64.unpack_from(payload, pos)[0]
                    pos += 8
                quality = 0
                if flags & _QUALITY:
                    quality = payload[pos]
                    pos += 1
                reason = None
                if flags & _REASON:
                    length = _U16.unpack_from(payload, pos)[0]
                    pos += 2
                    reason = payload[pos : pos + length].decode()
                    if len(reason.encode()) != length:
                        raise PayloadError("malformed-payload", "reason runs past the end")
                    pos += length
                ident = payload[ids_at + i * ID_BYTES : ids_at + (i + 1) * ID_BYTES]
                out.append((ident, ms, value, raw, quality, reason))
        if pos != end:
            raise PayloadError("malformed-payload", "payload v2 ends inside a group")
        return site, out
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise PayloadError("malformed-payload", f"payload v2 is cut or garbled: {exc}") from None


def decode_items(payload: bytes, book: SeriesBook
                 ) -> tuple[str, Sequence[Any], list[Reading | PayloadError]]:
    """As ``occmon.payload.decode_items`` for v2: (site, the readings as v1 objects, one
    Reading or PayloadError each). Series the book does not know are fetched once
    (``book.fetch``); a message naming a series still unknown is refused whole
    (``unknown-series``), so it can be republished verbatim once the series is announced."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError("too-large", f"payload is {len(payload)} bytes, more than the "
                                        f"{MAX_PAYLOAD_BYTES} bytes allowed")
    site, raws = _parse(payload)
    known = book.known
    missing = {r[0] for r in raws if r[0] not in known}
    if missing and book.fetch is not None:
        book.fetch(missing)
        missing = {ident for ident in missing if ident not in known}
    if missing:
        names = ", ".join(sorted(i.hex() for i in missing)[:3])
        raise PayloadError("unknown-series", f"{len(missing)} series never announced on "
                                             f"series/<id>: {names}")
    items: list[Reading | PayloadError] = []
    for i, (ident, ms, value, raw, code, reason) in enumerate(raws):
        s = known[ident]
        quality = _QUALITIES.get(code)
        try:
            if quality is None:
                raise ValueError(f"quality code {code} is not 0/1/2")
            if raw is not None and raw != raw:  # NaN: informative only, as in v1
                raw = None
            items.append(Reading(s.point, s.agent, ms / 1000, value, s.unit, quality,
                                 s.quantity, reason, s.sensor, s.device, raw,
                                 s.raw_unit if raw is not None else None))
        except ValueError as exc:
            items.append(PayloadError("invalid-reading", f"readings[{i}]: {exc}"))
    return site, _Docs(items), items
