"""Real time-series servers for the InfluxDB sink and dashboard tests.

* **VictoriaMetrics** (Debian ``victoria-metrics``) speaks InfluxDB's ``/api/v2/write`` line
  protocol, so the sink writes to it through influxdb-client unchanged; ``export`` reads
  every raw sample back (``/api/v1/export``), duplicates included unless ``dedup`` is on.
* **InfluxDB 1.x** (Debian ``influxdb``) runs the dashboards' InfluxQL for real.

Both start on free ports in a temporary directory and can be stopped and started again.
Outside CI a missing binary skips the test with the install command; with CI=true it fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers import free_port, missing_server, wait_port


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if Path(p).exists()), None
    )
    if found is None:
        missing_server(name, f"apt-get install -y {package}")
    assert found is not None
    return found


def _http(url: str, data: bytes | None = None, timeout: float = 10.0) -> bytes:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return bytes(response.read())


@dataclass
class _Server:
    binary: str
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with (self.workdir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, timeout=30.0)
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None


@dataclass
class VictoriaMetrics(_Server):
    dedup: bool = False

    def command(self) -> list[str]:
        cmd = [
            self.binary, f"-storageDataPath={self.workdir / 'data'}",
            f"-httpListenAddr=127.0.0.1:{self.port}", "-retentionPeriod=100y",
            "-search.disableCache", "-search.latencyOffset=0s",
        ]
        if self.dedup:  # InfluxDB's rule: same series and timestamp -> one point
            cmd.append("-dedup.minScrapeInterval=1ms")
        return cmd

    def export(self, match: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Every stored sample of the series matching ``match`` (a series selector).

        Fresh writes and new series become searchable after a flush and an index update,
        so this polls until two reads half a second apart agree (and are not empty).
        """
        query = urllib.parse.urlencode({"match[]": match, "start": "0"})
        deadline = time.monotonic() + timeout
        previous: list[dict[str, Any]] | None = None
        while True:
            _http(f"{self.url}/internal/force_flush")
            body = _http(f"{self.url}/api/v1/export?{query}").decode()
            found = [json.loads(line) for line in body.splitlines() if line.strip()]
            found.sort(key=lambda s: json.dumps(s["metric"], sort_keys=True))
            if (found and found == previous) or time.monotonic() > deadline:
                return found
            previous = found
            time.sleep(0.5)


@dataclass
class InfluxDB1(_Server):
    database: str = "occmon"

    def command(self) -> list[str]:
        conf = self.workdir / "influxdb.conf"
        conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{self.workdir}/meta"\n'
            f'[data]\n  dir = "{self.workdir}/data"\n  wal-dir = "{self.workdir}/wal"\n'
            '  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
        )
        return [self.binary, "-config", str(conf)]

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 30
        while True:  # the port opens before the meta store is ready
            try:
                self.query(f'CREATE DATABASE "{self.database}"', database="")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def write(self, lines: list[str], precision: str = "ms") -> None:
        url = f"{self.url}/write?db={self.database}&precision={precision}"
        _http(url, "\n".join(lines).encode())

    def query(self, q: str, database: str | None = None) -> dict[str, Any]:
        db = self.database if database is None else database
        params = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"})
        result: dict[str, Any] = json.loads(_http(f"{self.url}/query", params.encode()))
        return result


@contextmanager
def running_victoria_metrics(workdir: Path, dedup: bool = False) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(_binary("victoria-metrics", "victoria-metrics"), workdir, dedup=dedup)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running_influxdb1(workdir: Path) -> Iterator[InfluxDB1]:
    server = InfluxDB1(_binary("influxd", "influxdb"), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
