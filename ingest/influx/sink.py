"""``InfluxSink``: the ingest ``Sink`` that feeds InfluxDB through a durable outbox.

``write_*`` turn records into line protocol and commit them to the outbox (SQLite WAL),
then return: a write is durable when it returns, as the ``Sink`` contract asks, whether or
not InfluxDB is up. A forwarder thread drains the outbox oldest-first through
influxdb-client's *synchronous* write API (``POST /api/v2/write``, precision ms) and
deletes rows only after the server answered 2xx. On a connection error, a timeout or a 5xx
it backs off exponentially (``min_backoff`` .. ``max_backoff``) and tries the same rows
again; replays are harmless because a line's series and timestamp depend only on the
record (same series + same timestamp overwrite). A 400 (malformed line) is bisected down to
the offending line, which is moved to the outbox's ``rejected`` table and counted.

What each record becomes (``docs/influxdb.md``): readings -> ``reading`` (telemetry: may
be evicted oldest-first when the outbox is full, counted as ``dropped_telemetry``); events
-> ``event``; device states -> ``device_status``; dead letters -> ``dead_letter``; counter
increments -> ``ingest_counter``. All but readings are events: never evicted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from ingest.influx import lineprotocol as lp
from ingest.influx.outbox import Kind, Outbox, Row
from ingest.records import DeadLetter, DeviceState, Event
from ingest.sink import SinkError
from occmon.model import Reading

log = logging.getLogger(__name__)
_MS: WritePrecision = WritePrecision.MS  # type: ignore[assignment]  # a str constant


class InfluxSink:
    """Write readings and events to an InfluxDB 2 bucket (or anything speaking its write API).

    ``site`` tags every reading (a reading does not carry its site); ``areas`` maps point id
    -> area id for the ``area`` tag. ``outbox_path`` is the SQLite file of the durable queue.
    """

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        outbox_path: str | Path,
        *,
        site: str = "",
        areas: Mapping[str, str] | None = None,
        batch_size: int = 5000,
        max_telemetry: int = 1_000_000,
        max_events: int = 200_000,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        start: bool = True,
    ) -> None:
        self.site = site
        self.areas = dict(areas or {})
        self.bucket = bucket
        self.org = org
        self.batch_size = batch_size
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.outbox = Outbox(outbox_path, max_telemetry=max_telemetry, max_events=max_events)
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout * 1000), retries=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_counter_ms = 0
        self._outage_logged = False
        self._thread = threading.Thread(target=self._forward, name="influx-forwarder", daemon=True)
        if start:
            self._thread.start()

    # -- the Sink protocol ----------------------------------------------------------------
    def write_readings(self, readings: Sequence[Reading], received: float | None = None) -> None:
        lines = [self._reading_line(r) for r in readings]
        self._append(lines, "telemetry")

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self._append([self._safe(lp.dead_letter_line, d) for d in letters], "event")

    def write_device_status(self, states: Sequence[DeviceState]) -> None:
        self._append([self._safe(lp.device_line, s) for s in states], "event")

    def write_events(self, events: Sequence[Event]) -> None:
        self._append([self._safe(lp.event_line, e) for e in events], "event")

    def add_counters(self, counts: Mapping[str, int]) -> None:
        # Each call gets its own millisecond, so two increments never overwrite each other.
        now_ms = max(lp.timestamp_ms(time.time()), self._last_counter_ms + 1)
        self._last_counter_ms = now_ms
        lines = [lp.counter_line(self.site, k, v, now_ms) for k, v in counts.items() if v]
        self._append(lines, "event")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.max_backoff + 15)
        self._client.close()  # type: ignore[no-untyped-call]
        del self._write_api  # its ApiClient is disposed now, not at interpreter exit
        self.outbox.close()

    # -- for operators, tests and the benchmark -------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the outbox is empty (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < deadline:
            if sum(self.outbox.pending().values()) == 0:
                return True
            time.sleep(0.02)
        return False

    def stats(self) -> dict[str, int]:
        """Pending rows by kind plus the persistent counters (written, dropped, rejected)."""
        pending = self.outbox.pending()
        return {
            "pending_telemetry": pending["telemetry"],
            "pending_events": pending["event"],
            **self.outbox.counters(),
        }

    # -- internals ------------------------------------------------------------------------
    def _reading_line(self, reading: Reading) -> str:
        return self._safe(lp.reading_line, reading, self.site, self.areas.get(reading.point, ""))

    @staticmethod
    def _safe(build: Any, *args: Any) -> str:
        try:
            return str(build(*args))
        except lp.LineProtocolError as exc:
            raise SinkError(f"influx line protocol: {exc}") from exc

    def _append(self, lines: list[str], kind: Kind) -> None:
        if lines:
            self.outbox.append(lines, kind)
            self._wake.set()

    def _forward(self) -> None:
        backoff = self.min_backoff
        while not self._stop.is_set():
            rows = self.outbox.peek(self.batch_size)
            if not rows:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                if self._send(rows):
                    backoff = self.min_backoff
                    continue
            except Exception:  # the outbox itself failed (disk full...): keep trying
                log.exception("InfluxDB forwarder: outbox error; retrying")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _send(self, rows: list[Row]) -> bool:
        """Write ``rows``; True when every row was confirmed or set aside as malformed."""
        try:
            self._write_api.write(
                self.bucket, self.org, "\n".join(r.line for r in rows),
                write_precision=_MS,
            )
        except ApiException as exc:
            if exc.status == 400:
                return self._bisect(rows, exc)
            self._outage(f"HTTP {exc.status}: {exc.reason}")
            return False
        except Exception as exc:  # connection refused, reset, timeout: the server is away
            self._outage(f"{type(exc).__name__}: {exc}")
            return False
        self.outbox.delete(rows)
        if self._outage_logged:
            log.warning("InfluxDB writes confirmed again; draining the outbox")
            self._outage_logged = False
        return True

    def _bisect(self, rows: list[Row], exc: ApiException) -> bool:
        if len(rows) == 1:
            log.error("InfluxDB refused line %r: %s", rows[0].line[:200], exc.body)
            self.outbox.reject(rows[0], str(exc.body or exc.reason))
            return True
        half = len(rows) // 2
        return self._send(rows[:half]) and self._send(rows[half:])

    def _outage(self, why: str) -> None:
        if not self._outage_logged:  # once per outage, like a Home Assistant hub
            pending = self.outbox.pending()
            log.warning("InfluxDB write failed (%s); keeping %s rows in the outbox", why, pending)
            self._outage_logged = True
