"""Fetch payload-v2 series from the broker's retained messages, when a batch names one
this process has not seen.

The gateway announces every series retained on ``series/<id>`` before its first batch on a
connection, so a running ingest learns them in order from its own subscription. After an
ingest restart, though, the persistent session hands over queued batches whose series were
announced before the restart. Then the writer thread asks the broker once: a short-lived,
clean-session client subscribes to ``series/+`` and takes the retained bodies (each checked
against its id) until the wanted ones are in, or ``timeout`` passes. Misses are asked for at
most once per ``retry_after`` s, so a broker without them costs one wait, not one per
message; such a batch becomes an ``unknown-series`` dead letter, kept verbatim.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from occmon import topics
from occmon.config.schema import Broker
from occmon.mqttclient import configure, stop_loop
from occmon.payload import PayloadError
from occmon.payload_v2 import SeriesBook

log = logging.getLogger("occmon.ingest")

TIMEOUT = 3.0
RETRY_AFTER = 10.0


class SeriesFetcher:
    """``book.fetch``: take the retained series of ``site`` from the broker."""

    def __init__(self, book: SeriesBook, site: str, *, host: str, port: int,
                 broker: Broker | None, client_id: str, keepalive: int = 30,
                 timeout: float = TIMEOUT, retry_after: float = RETRY_AFTER) -> None:
        self.book, self.site = book, site
        self.host, self.port, self.broker = host, port, broker
        self.client_id, self.keepalive = client_id, keepalive
        self.timeout, self.retry_after = timeout, retry_after
        self._last_miss = -1e9
        self.fetches = 0
        self.learnt = 0
        self.refused = 0

    def __call__(self, wanted: set[bytes]) -> None:
        if time.monotonic() - self._last_miss < self.retry_after:
            return
        self.fetches += 1
        done = threading.Event()

        def have_all() -> bool:
            return all(ident in self.book.known for ident in wanted)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                c.subscribe(topics.series(self.site, "+"), qos=1)

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            try:
                self.book.learn(msg.topic.rsplit("/", 1)[-1], bytes(msg.payload))
                self.learnt += 1
            except PayloadError as exc:
                self.refused += 1
                log.warning("retained series on %s refused: %s", msg.topic, exc)
            if have_all():
                done.set()

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=True, protocol=mqtt.MQTTv311)
        configure(client, self.broker, "ingest")
        client.on_connect = on_connect
        client.on_message = on_message
        try:
            client.connect(self.host, self.port, self.keepalive)
        except (OSError, ValueError) as exc:
            log.warning("fetching series from %s:%d failed: %s", self.host, self.port, exc)
            self._last_miss = time.monotonic()
            return
        client.loop_start()
        try:
            done.wait(self.timeout)
        finally:
            client.disconnect()
            stop_loop(client)
        if not have_all():
            self._last_miss = time.monotonic()
            log.error("%d series named by a batch are not retained on the broker",
                      sum(ident not in self.book.known for ident in wanted))
