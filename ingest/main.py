"""``occmon ingest CONFIG``: run one ingest worker until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from ingest.subscriber import Ingest
from occmon.config import load
from occmon.config.schema import SiteConfig


def broker_address(config: SiteConfig) -> tuple[str, int]:
    """The configured broker, or the embedded one ``occmon run`` starts."""
    if config.broker is not None:
        return config.broker.host, config.broker.port
    return config.embedded_broker.host, config.embedded_broker.port


def run(config_path: Path, *, stop: threading.Event | None = None) -> int:
    """Blocking: start ingest, wait for a signal (or ``stop``), stop cleanly. Returns 0."""
    config = load(config_path)
    host, port = broker_address(config)
    ingest = Ingest(config, broker_host=host, broker_port=port, close_days=True)
    done = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
    ingest.start()
    try:
        done.wait()
    finally:
        ingest.stop()
    logging.getLogger("occmon.ingest").info("ingest stopped: %s", ingest.counters())
    return 0
