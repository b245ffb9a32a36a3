"""The whole system for the failure tests: Mosquitto, simulated gas detector and fans, the
gateway, ingest and the API (watching heartbeats) over real HTTP, plus a small tmpfs to put
the store on and fill. Built from the safety tests' rig (tests/safety/rig.py)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api.app import create_app
from api.heartbeats import ComponentWatch
from gateway.app import Gateway
from ingest.subscriber import Ingest
from occmon.config import load
from simulators.plant import SimulatedPlant
from tests.api.serve import serve
from tests.safety.rig import KEY, STAFF_KEY, LoopThread, Rig, client, site_doc, write_config
from tests.servers import Mosquitto, missing_server

# fast beats so a test sees a lost component in seconds
HEALTH = {"interval": 0.5, "stale_after": 3.0, "min_free_mb": 1.0}


@contextmanager
def tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where``; root only (skip outside CI, fail in CI)."""
    if os.geteuid() != 0:
        missing_server("root (to mount a small tmpfs)", "sudo -E pytest tests/health")
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem refuses another byte (ENOSPC)."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:  # unbuffered: a buffered file's close would raise ENOSPC again on its last flush
        while True:
            os.write(fd, chunk)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def doc(tmp_path: Path, broker: Mosquitto, store_dir: Path | None = None) -> dict[str, Any]:
    out = site_doc(tmp_path, broker.port)
    out["health"] = HEALTH
    if store_dir is not None:
        out["store"] = {**out["store"], "path": str(store_dir / "occmon.db")}
    return out


@contextmanager
def system(tmp_path: Path, broker: Mosquitto, site: dict[str, Any]) -> Iterator[Rig]:
    """Plant, gateway, ingest and the API with a heartbeat watch, all running."""
    path = write_config(tmp_path, site)
    config = load(path)
    loop = LoopThread()
    plant = SimulatedPlant(config, scenario="normal-day", speed=1.0, seed=3,
                           broker_host=broker.host, broker_port=broker.port, spin_up=0.5)
    plant.set_value("gp1-h2s", 0.3)
    loop.run(plant.start())
    gateway = loop.call(lambda: Gateway(config, path, broker_host=broker.host,
                                        broker_port=broker.port))
    ingest = Ingest(config, broker_host=broker.host, broker_port=broker.port)
    ingest.start()
    watch = ComponentWatch(config, config.store.path, host=broker.host, port=broker.port)
    app = create_app(config, config.store.path, components=watch)
    try:
        assert ingest.wait_ready(10), "ingest did not subscribe"
        loop.run(gateway.start())
        with serve(app) as url, client(url, KEY) as api, client(url, STAFF_KEY) as staff:
            yield Rig(config, loop, plant, gateway, ingest, url, broker, api, staff)
    finally:
        try:
            loop.run(gateway.stop())
            loop.run(plant.stop())
        finally:
            ingest.stop()
            loop.close()
