"""Start real servers for tests: a private Mosquitto on a free port.

Outside CI, a missing server skips the test with the command that installs it; with
``CI=true`` a missing server fails, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never one this process handed out before, and
    below the kernel's ephemeral range.

    A port from the ephemeral range (what binding port 0 gives) can be handed by the kernel
    to the next client connection as its local end: a server started on it later, after the
    system under test has made a few connections, then fails to bind (CI failed once on the
    API's port). Ports below the range are never given to client connections.
    """
    ports = _listen_ports()
    while True:
        port = _RANDOM.choice(ports)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # something listens there, or a connection of it is closing
                continue
        _HANDED_OUT.add(port)
        return port


_RANDOM = random.Random()


def _listen_ports() -> range:
    """The 12,000 ports just below the ephemeral range (Linux: 20768-32767 by default)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        low = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(max(1024, low - 12000), low)


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def wait_for(probe: Callable[[], T], timeout: float = 20.0, what: str = "it") -> T:
    """Poll until ``probe`` returns something truthy and return it; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def missing_server(what: str, install: str) -> None:
    """Skip outside CI, fail in CI: a server test must never pass by not running."""
    message = f"{what} is not installed; run `{install}` (as root) to run this test"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in MOSQUITTO_PATHS if Path(p).exists()), None
    )
    if found is None:
        missing_server("mosquitto", "apt-get install -y mosquitto")
    assert found is not None
    return found


@dataclass
class Mosquitto:
    """A private Mosquitto with persistence, which a test may stop and start again."""

    binary: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_inflight_messages 0\n"
            "max_queued_messages 0\n"
            "log_dest none\n"
            # As root, Mosquitto drops to user 'mosquitto', which cannot write the private
            # workdir: persistence (sessions, queued QoS 1 messages) would silently be lost.
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.process = subprocess.Popen(
            [self.binary, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextmanager
def running_mosquitto(workdir: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(mosquitto_binary(), free_port(), workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
