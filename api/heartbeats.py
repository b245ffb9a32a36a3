"""The API's view of the other components: their heartbeats, read live from the broker.

``ComponentWatch`` subscribes to ``status/gateway`` and ``status/ingest`` (retained, so
the last beat arrives at once) and publishes the API's own heartbeat on ``status/api``.
It reads the broker, not the store, so ``/healthz`` can name the precise reason (the store's
disk is full, the queue cannot write) even when the store cannot take a heartbeat. With
only the API and the store up, no beats arrive and ``/healthz`` says so with a 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from occmon import heartbeat
from occmon.config.schema import SiteConfig
from occmon.status_link import StatusLink

log = logging.getLogger("occmon.api.heartbeats")

WATCHED = ("gateway", "ingest")


class ComponentWatch:
    """Started and stopped with the app (``create_app(..., components=watch)``)."""

    def __init__(self, config: SiteConfig, store_path: Path, *, host: str, port: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.bounds = config.health
        self.store_path = Path(store_path)
        self.link = StatusLink(config, "api", host=host, port=port, watch=WATCHED)
        self._clock = clock
        self.started = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def last(self, component: str) -> heartbeat.Beat | None:
        return self.link.last(component)

    def start(self) -> None:
        self.link.start()
        self._thread = threading.Thread(target=self._loop, name="api-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.link.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                now = self._clock()
                free, problems = heartbeat.disk_problem("store", self.store_path,
                                                        self.bounds.min_free_mb)
                self.link.beat(heartbeat.payload(
                    self.config.site.id, "api", now=now, since=self.started, problems=problems,
                    figures=heartbeat.as_figures({"store_disk_free_mb": free})))
            except Exception:
                log.exception("API heartbeat failed")
            self._stop.wait(self.bounds.interval)
