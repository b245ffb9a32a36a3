"""Drain the queue to MQTT: QoS 1, a window of messages in flight, delete on PUBACK only.

One paho ``Client`` lives for exactly one connection (``reconnect_on_failure=False``): when
it drops, the object, its thread and paho's in-memory copy of unacknowledged messages are
thrown away, every in-flight row goes back to pending, and the next connection sends them
again with new packet ids. So the queue never depends on paho's memory, and paho can never
hold a message the queue has forgotten. Re-sending a message the broker did get (its PUBACK
was lost with the connection) makes a duplicate, which ingest drops on (point, quantity,
time). The session is persistent (``clean_session=False``, MQTT 3.1.1) with a stable
client id as the brief asks; for a publisher it carries nothing the queue relies on.

Throughput: paho's inflight window is raised to ``max_inflight`` and the drain loop keeps
that many messages outstanding instead of waiting for each PUBACK (which would cap it at one
round trip per message). Reading rows are joined into one payload-v1 batch of up to
``publish_batch`` readings, and the reading log's groups into one payload-v2 message of up
to ``publish_batch`` readings (a group larger than that goes alone).

Status rows (device status; the alarm engine's retained ``state/{point}`` documents, one
per point at start: 5,000 at a large site) are a lane of their own (``Queue.peek_lanes``):
they may hold at most half of the window, readings and events (alarm events included) are
sent first each round and may use the rest, and they may not take the quarter of the window
kept for a pending status backlog. So a reading or an alarm event never waits behind state
(at worst behind half a window already on the wire), state still drains at a window per
round trip, and only as many status rows are read as can be sent.

Series (payload v2): before the first message that names a series on a connection, its
body is published, retained, on ``series/{id}`` (``occmon.payload_v2``). The broker gets
them in order, so a subscriber learns a series before the readings that need it, and one
that starts later finds it retained.

Latency: paho runs on the gateway's event loop, not on a thread of its own (the loop
watches the socket and calls ``loop_read``/``loop_write``; a timer calls ``loop_misc``). A
publish then goes to the socket at once from the loop, and a PUBACK is handled where it is
read, with no thread hand-over and no wait for the GIL. ``wake()`` (called by the
committer after each commit) sends at once when there is room in the window, so a reading
is on its way to the broker within a millisecond or so of its commit.

Failure: an exception from a send round or from the keep-alive task (a bug, not a
network error) is logged with its traceback, counted (``publisher.crashes``) and ends the
connection; ``run()`` then connects again after a pause that doubles up to ``max_backoff``.
The publisher is never left silent with its task dead.

Threads: only the blocking TCP connect runs in an executor; everything else, queue access
included, happens on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from gateway.queue import Queue, Row
from occmon import payload_v2, topics
from occmon.config.tls import BrokerTls
from occmon.mqttclient import ClientOptions, apply

log = logging.getLogger(__name__)

MAX_ROWS_PER_ROUND = 5000
CONNACK_TIMEOUT = 10.0
MISC_INTERVAL = 1.0  # s between loop_misc calls: keep-alive pings and their timeouts


MAX_ANNOUNCED_BLOCKS = 10_000  # MQTT devices sending changing subsets of their fields


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message built from queue rows; ``seqs`` are deleted when it is acked."""

    topic: str
    payload: bytes
    retain: bool
    seqs: tuple[int, ...]
    readings: int = 1
    # payload v2: the series ids its groups name, as each group's block of ids (a device's
    # groups repeat one block, so "announced already?" is one look-up a group, not one an id)
    series: tuple[bytes, ...] = ()


def join_readings(site: str, bodies: Sequence[bytes]) -> bytes:
    """Payload v1 from reading rows: the same bytes ``occmon.payload.encode_batch`` makes."""
    head = b'{"v":1,"site":' + json.dumps(site, ensure_ascii=False).encode() + b',"readings":['
    return head + b",".join(bodies) + b"]}"


def build_messages(site: str, rows: Sequence[Row], batch: int) -> list[Message]:
    """Group reading rows per topic (oldest first, ``batch`` each), log groups into v2
    messages (``batch`` readings each); other rows go alone."""
    groups: dict[str, list[Row]] = {}
    order: list[tuple[str, list[Row]] | Row | list[Row]] = []
    v2: list[Row] | None = None
    v2_readings = 0
    for row in rows:
        if row.kind == "batch":
            if v2 is None or v2_readings + row.readings > batch:
                v2, v2_readings = [], 0
                order.append(v2)
            v2.append(row)
            v2_readings += row.readings
            continue
        if row.kind != "reading":
            order.append(row)
            continue
        group = groups.get(row.topic)
        if group is None or len(group) >= batch:
            group = groups[row.topic] = []
            order.append((row.topic, group))
        group.append(row)
    messages = []
    for item in order:
        if isinstance(item, Row):
            messages.append(Message(item.topic, item.payload, item.kind == "status", (item.seq,)))
        elif isinstance(item, list):
            bodies = [r.payload for r in item]
            series = tuple(dict.fromkeys(payload_v2.group_id_block(b) for b in bodies))
            messages.append(Message(topics.readings(site), payload_v2.message(site, bodies),
                                    False, tuple(r.seq for r in item),
                                    sum(r.readings for r in item), series))
        else:
            topic, members = item
            payload = join_readings(site, [r.payload for r in members])
            messages.append(Message(topic, payload, False, tuple(r.seq for r in members),
                                    len(members)))
    return messages


@dataclass(eq=False)
class _Connection:
    """One paho client and the messages it has in flight (mid -> queue seqs)."""

    client: mqtt.Client
    inflight: dict[int, tuple[int, ...]] = field(default_factory=dict)
    status_mids: set[int] = field(default_factory=set)  # in flight from the status lane
    announced: set[bytes] = field(default_factory=set)  # series published on this connection
    # groups' blocks of series ids (payload_v2.group_id_block) all announced already
    announced_blocks: set[bytes] = field(default_factory=set)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    alive: bool = True
    sock: Any = None  # the socket the loop watches
    writing: bool = False  # the loop also watches it for room to write
    misc: asyncio.Task[None] | None = None


def status_payload(site: str, online: bool) -> bytes:
    doc = {"v": 1, "site": site, "online": online, "state": "online" if online else "offline"}
    return json.dumps(doc, separators=(",", ":")).encode()


class Publisher:
    """The queue's consumer. ``run()`` until ``stop()``; ``wake()`` after an append."""

    def __init__(
        self,
        queue: Queue,
        *,
        site: str,
        host: str,
        port: int,
        client_id: str,
        publish_batch: int = 500,
        max_inflight: int = 200,
        keepalive: int = 30,
        username: str | None = None,
        password: str | None = None,
        tls: BrokerTls | None = None,
        min_backoff: float = 0.2,
        max_backoff: float = 10.0,
    ) -> None:
        self.queue = queue
        self.site = site
        self.host, self.port = host, port
        self.client_id = client_id
        self.publish_batch = publish_batch
        self.max_inflight = max_inflight
        self.keepalive = keepalive
        self._auth = ClientOptions(username=username, password=password, tls=tls)
        self._backoff = (min_backoff, max_backoff)
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._conn: _Connection | None = None
        self._acked: list[int] = []
        self._stats: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.status_cap = max(1, max_inflight // 2)  # status messages in flight at most
        self.status_reserve = max(1, max_inflight // 4)  # kept for status when it waits
        self._sending = False

    # -- public ----------------------------------------------------------------------------

    def wake(self) -> None:
        """New rows are committed: send now if the window has room, else when it has."""
        self._wakeup.set()
        conn = self._conn
        if (conn is not None and conn.alive and conn.connected.is_set() and not self._stopping
                and not self._sending):
            room = self.max_inflight - len(conn.inflight)
            if room > 0:
                self._send_round(conn, room)

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.alive and self._conn.connected.is_set()

    def counters(self) -> dict[str, int]:
        return {f"publisher.{k}": v for k, v in self._stats.items()}

    async def run(self) -> None:
        """Connect, drain, reconnect with back-off; returns after ``stop()``."""
        self._loop = asyncio.get_running_loop()
        delay = self._backoff[0]
        while not self._stopping:
            conn = await self._connect()
            if conn is None:
                self._stats["connect_failures"] += 1
                await self._sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._backoff[1])
                continue
            pause = 0.0
            try:
                await self._drain(conn)
                delay = self._backoff[0]
            except sqlite3.Error:  # the queue could not be read: start over, after a pause
                pause = self._backoff[1]
                self._stats["queue_errors"] += 1
                log.exception("publisher: queue read failed; reconnecting")
            except Exception:  # a bug must not silence the publisher for good
                # Never silent, never final: the traceback goes to the log, the counter to
                # health, and a new connection starts after a growing pause.
                pause, delay = delay, min(delay * 2, self._backoff[1])
                self._stats["crashes"] += 1
                log.exception("publisher: send loop failed; reconnecting in %.1f s", pause)
            finally:
                await self._teardown(conn)
            if pause:
                await self._sleep(pause)

    async def stop(self, grace: float = 1.0) -> None:
        """Stop sending; wait up to ``grace`` s for outstanding PUBACKs, then disconnect."""
        self._stopping = True
        conn = self._conn
        if conn is not None and conn.alive and conn.inflight:
            deadline = asyncio.get_running_loop().time() + grace
            while conn.alive and conn.inflight and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
        self._flush_acks()
        self._wakeup.set()

    # -- connection ------------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        # Headroom over our own window for the status messages published beside it.
        client.max_inflight_messages_set(self.max_inflight + 8)
        client.max_queued_messages_set(0)
        client.connect_timeout = 2.0
        apply(client, **self._auth)  # login and TLS (occmon/mqttclient.py)
        client.will_set(
            topics.gateway_status(self.site), status_payload(self.site, False), 1, retain=True
        )
        return client

    async def _connect(self) -> _Connection | None:
        loop = asyncio.get_running_loop()
        client = self._new_client()
        conn = _Connection(client)

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                self._on_connected(conn)

        def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            self._on_lost(conn, str(reason))

        def on_publish(_c: Any, _u: Any, mid: int, _r: Any, _p: Any) -> None:
            self._on_puback(conn, mid)

        def on_socket_close(_c: Any, _u: Any, sock: Any) -> None:
            self._unwatch(conn)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        try:
            # Only the TCP connect blocks; paho sends CONNECT from this call, then the loop
            # takes the socket over.
            await loop.run_in_executor(None, client.connect, self.host, self.port, self.keepalive)
        except (OSError, ValueError) as exc:
            log.debug("broker %s:%d not reachable: %s", self.host, self.port, exc)
            return None
        client.on_socket_close = on_socket_close
        self._conn = conn
        conn.sock = client.socket()
        if conn.sock is None:
            conn.alive = False
        else:
            loop.add_reader(conn.sock, self._readable, conn)
            conn.misc = asyncio.create_task(self._misc(conn), name="publisher-keepalive")
            self._watch_writes(conn)
        try:
            await asyncio.wait_for(
                self._until(lambda: conn.connected.is_set() or not conn.alive), CONNACK_TIMEOUT
            )
        except TimeoutError:
            conn.alive = False
        except asyncio.CancelledError:
            await self._teardown(conn)
            raise
        if not conn.alive:
            await self._teardown(conn)
            return None
        return conn

    async def _until(self, condition: Any) -> None:
        while not condition():
            self._wakeup.clear()
            await self._wakeup.wait()

    # -- paho on the event loop --------------------------------------------------------------

    def _readable(self, conn: _Connection) -> None:
        """Bytes from the broker: CONNACK, PUBACKs, PINGRESP; paho's callbacks run here."""
        self._io(conn, "read", conn.client.loop_read())

    def _writable(self, conn: _Connection) -> None:
        self._io(conn, "write", conn.client.loop_write())

    def _io(self, conn: _Connection, what: str, rc: MQTTErrorCode) -> None:
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self._on_lost(conn, f"{what}: {mqtt.error_string(rc)}")
            self._unwatch(conn)
        self._watch_writes(conn)

    def _watch_writes(self, conn: _Connection) -> None:
        """Watch for room to write only while paho holds bytes it could not send yet."""
        if conn.sock is None or self._loop is None:
            return
        want = conn.client.want_write()
        if want and not conn.writing:
            self._loop.add_writer(conn.sock, self._writable, conn)
        elif not want and conn.writing:
            self._loop.remove_writer(conn.sock)
        conn.writing = want

    def _unwatch(self, conn: _Connection) -> None:
        if conn.sock is None or self._loop is None:
            return
        self._loop.remove_reader(conn.sock)
        if conn.writing:
            self._loop.remove_writer(conn.sock)
        conn.sock, conn.writing = None, False

    async def _misc(self, conn: _Connection) -> None:
        while conn.alive:
            await asyncio.sleep(MISC_INTERVAL)
            try:
                if conn.client.loop_misc() != mqtt.MQTT_ERR_SUCCESS:  # e.g. no PINGRESP
                    self._on_lost(conn, "keep-alive timeout")
                self._watch_writes(conn)
            except Exception:  # without this task no PINGREQ goes out
                self._stats["crashes"] += 1
                log.exception("publisher: keep-alive failed; reconnecting")
                self._on_lost(conn, "keep-alive failed")

    def _on_connected(self, conn: _Connection) -> None:
        conn.connected.set()
        self._stats["connects"] += 1
        log.info("publisher connected to %s:%d", self.host, self.port)
        self._wakeup.set()

    def _on_lost(self, conn: _Connection, reason: str) -> None:
        if conn.alive:
            conn.alive = False
            if conn.connected.is_set() and not self._stopping:
                self._stats["disconnects"] += 1
                log.warning("publisher lost the broker: %s", reason)
        self._wakeup.set()

    async def _teardown(self, conn: _Connection) -> None:
        conn.alive = False
        client = conn.client
        if client.is_connected() and conn.sock is not None:
            # A clean DISCONNECT suppresses the will, so say "offline" ourselves first; paho
            # sends its packets in order, so the broker has it before the DISCONNECT.
            client.publish(
                topics.gateway_status(self.site), status_payload(self.site, False), 1, True
            )
            client.disconnect()
            for _ in range(20):  # give a full socket buffer a moment to take both
                if conn.sock is None or not client.want_write():
                    break
                await asyncio.sleep(0.01)
        self._unwatch(conn)
        if client.socket() is not None:
            client._sock_close()  # paho's own close; the client object is dropped anyway
        if conn.misc is not None:
            conn.misc.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.misc
        self._flush_acks()
        abandoned = [seq for seqs in conn.inflight.values() for seq in seqs]
        conn.inflight.clear()
        try:
            self.queue.release(abandoned)
        except sqlite3.Error as exc:  # pending again in memory; only the attempt count is lost
            self._stats["queue_errors"] += 1
            log.warning("publisher: counting %d abandoned sends failed: %s", len(abandoned), exc)
        if self._conn is conn:
            self._conn = None
        self._wakeup.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._until(lambda: self._stopping), seconds)

    # -- draining --------------------------------------------------------------------------

    async def _drain(self, conn: _Connection) -> None:
        conn.client.publish(
            topics.gateway_status(self.site), status_payload(self.site, True), 1, retain=True
        )
        while conn.alive and not self._stopping:
            self._wakeup.clear()
            room = self.max_inflight - len(conn.inflight)
            sent = self._send_round(conn, room) if room > 0 else 0
            if sent == 0:
                await self._wakeup.wait()
            else:
                await asyncio.sleep(0)  # let PUBACKs and producers in

    def _send_round(self, conn: _Connection, room: int) -> int:
        self._sending = True
        try:
            return self._send(conn, room)
        finally:
            self._sending = False
            self._watch_writes(conn)

    def _send(self, conn: _Connection, room: int) -> int:
        # Commit acks first: a kill then re-sends at most the messages still in flight.
        self._flush_acks()
        status_room = min(room, self.status_cap - len(conn.status_mids))
        prompt_rows, status_rows = self.queue.peek_lanes(
            min(room * self.publish_batch, MAX_ROWS_PER_ROUND), max(0, status_room)
        )
        if not prompt_rows and not status_rows:
            return 0
        prompt = build_messages(self.site, prompt_rows, self.publish_batch)
        status = build_messages(self.site, status_rows, self.publish_batch)
        # Readings and events first, short of the slots a waiting status backlog is owed.
        owed = min(len(status), max(0, self.status_reserve - len(conn.status_mids)))
        prompt = prompt[: max(room - owed, 0)]
        status = status[: room - len(prompt)]
        sent: list[int] = []
        count = readings = 0
        for message in (*prompt, *status):
            if not self._announce(conn, message.series):
                break
            info = conn.client.publish(message.topic, message.payload, 1, retain=message.retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                # Not sent: the rows stay pending; the connection is going down anyway.
                self._stats["publish_errors"] += 1
                conn.alive = False
                self._wakeup.set()
                break
            conn.inflight[info.mid] = message.seqs
            if message.retain:
                conn.status_mids.add(info.mid)
            sent.extend(message.seqs)
            count += 1
            readings += message.readings
        self.queue.mark_inflight(sent)
        self._stats["messages_sent"] += count
        self._stats["rows_sent"] += readings
        return count

    def _announce(self, conn: _Connection, blocks: Sequence[bytes]) -> bool:
        """Publish (retained) each series of ``blocks`` (``Message.series``) not yet sent on
        this connection; False if the connection refused a publish."""
        for block in blocks:
            if block in conn.announced_blocks:
                continue
            if not self._announce_ids(conn, payload_v2.split_ids(block)):
                return False
            if len(conn.announced_blocks) >= MAX_ANNOUNCED_BLOCKS:
                conn.announced_blocks.clear()  # a look-up cache only: ``announced`` decides
            conn.announced_blocks.add(block)
        return True

    def _announce_ids(self, conn: _Connection, series: Sequence[bytes]) -> bool:
        for ident in series:
            if ident in conn.announced:
                continue
            body = self.queue.encoder.bodies.get(ident)
            if body is None:  # cannot happen: the queue stores a series before its records
                self._stats["series_unknown"] += 1
                log.error("publisher: series %s has no stored body", ident.hex())
                conn.announced.add(ident)
                continue
            info = conn.client.publish(topics.series(self.site, ident.hex()), body, 1, True)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._stats["publish_errors"] += 1
                conn.alive = False
                self._wakeup.set()
                return False
            conn.announced.add(ident)
            self._stats["series_announced"] += 1
        return True

    def _on_puback(self, conn: _Connection, mid: int) -> None:
        seqs = conn.inflight.pop(mid, None)
        if seqs is None:
            return  # a status message, or a connection already torn down
        conn.status_mids.discard(mid)
        self._acked.extend(seqs)
        self._stats["messages_acked"] += 1
        if len(self._acked) == len(seqs):  # once per read of a run of PUBACKs
            asyncio.get_running_loop().call_soon(self._flush_acks)
        self._wakeup.set()

    def _flush_acks(self) -> None:
        if self._acked:
            acked, self._acked = self._acked, []
            try:
                self._stats["rows_acked"] += self.queue.ack(acked)
            except sqlite3.Error as exc:  # e.g. the file locked by another process
                self._acked[:0] = acked  # deleted at the next flush; nothing is re-sent
                self._stats["ack_errors"] += 1
                log.warning("publisher: deleting %d acked rows failed (%s); will retry",
                            len(acked), exc)
