"""``python -m ingest CONFIG`` (and ``occmon ingest CONFIG``): one ingest worker until
SIGINT/SIGTERM, or until its writer thread dies.

Crash-only: a worker whose writer has died stores nothing, so the process exits with
status 1 and its supervisor (systemd ``Restart=on-failure``, Docker ``restart:``) starts
a fresh one; the broker redelivers what was not acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from pathlib import Path

from ingest.subscriber import Ingest
from occmon.config import load
from occmon.config.schema import SiteConfig

log = logging.getLogger("occmon.ingest")

CHECK_EVERY = 0.5  # seconds between looks at the writer's health
FAILED = 1  # exit status of a worker whose writer thread died


def broker_address(config: SiteConfig) -> tuple[str, int]:
    """The configured broker, or the embedded one ``occmon run`` starts."""
    if config.broker is not None:
        return config.broker.host, config.broker.port
    return config.embedded_broker.host, config.embedded_broker.port


def exit_status(ingest: Ingest) -> int:
    """0 after a clean stop, ``FAILED`` if the writer thread died (logged with the cause)."""
    if ingest.failure is None:
        return 0
    log.critical("ingest exits for a restart: %s", ingest.failure)
    return FAILED


def run(config_path: Path, *, stop: threading.Event | None = None) -> int:
    """Blocking: start ingest, wait for a signal (or ``stop``) or a dead writer, stop.
    Returns 0, or 1 if the writer thread died."""
    config = load(config_path)
    host, port = broker_address(config)
    ingest = Ingest(config, broker_host=host, broker_port=port, close_days=True)
    done = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
    ingest.start()
    try:
        while not done.wait(CHECK_EVERY) and ingest.failure is None:
            pass
    finally:
        ingest.stop()
    log.info("ingest stopped: %s", ingest.counters())
    return exit_status(ingest)


async def supervise(ingest: Ingest, stop: asyncio.Event) -> int:
    """``run``'s wait for an asyncio caller (``occmon ingest``): until ``stop`` is set or
    the writer dies; the caller then stops ingest and exits with the returned status."""
    while ingest.failure is None:
        try:
            await asyncio.wait_for(stop.wait(), CHECK_EVERY)
            break
        except TimeoutError:
            continue
    return exit_status(ingest)
