"""Start ``occmon run`` on the demo plant (free ports, a temp store) as a user does."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.servers import wait_port
from tests.test_run_system import demo_on_free_ports


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    config: Path
    api_port: int
    store: Path
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the run's store as it is now (read-only; a table not made yet: none)."""
        if not self.store.exists():
            return []
        conn = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    def wait_rows(self, sql: str, timeout: float, args: tuple[Any, ...] = ()
                  ) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.rows(sql, args)
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"nothing for {sql!r} within {timeout} s\n{self.stdout()}\n"
                             f"{self.stderr()}")

    def wait_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stdout():
                return
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not printed within {timeout} s:\n{self.stdout()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=10)


def demo_config(tmp_path: Path, **changes: Any) -> tuple[Path, int]:
    """The demo on free ports; ``changes`` replace top-level sections."""
    path, api_port = demo_on_free_ports(tmp_path)
    if changes:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc.update(changes)
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path, api_port


@contextmanager
def occmon_run(tmp_path: Path, *args: str, config: Path | None = None,
               api_port: int | None = None) -> Iterator[Run]:
    if config is None:
        config, api_port = demo_config(tmp_path)
    assert api_port is not None
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "occmon.cli", "run", str(config), *args],
            cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=o, stderr=e)
    run = Run(proc, config, api_port, Path(doc["store"]["path"]), out, err)
    try:
        wait_port(api_port, timeout=60)
        yield run
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def after_banner(stdout: str) -> list[str]:
    """The lines printed after the banner, up to the stop."""
    lines = stdout.splitlines()
    start = lines.index("Press Ctrl-C to stop.") + 1
    return [line for line in lines[start:] if line not in ("stopping ...", "stopped")]
