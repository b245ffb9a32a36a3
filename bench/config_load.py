"""Benchmark start-up on a large site: read, load, check and build the gateway.

Writes the site of ``bench/site_gen.py`` (``--points`` points, 10 per Modbus device, an
alarm rule per point) into a temporary folder, then times, in this process, each stage a
start-up goes through:

- ``yaml``: ``occmon.config.read_yaml`` (the YAML parser alone);
- ``load``: ``occmon.config.load`` (YAML, schema, cross-field checks);
- ``check``: ``occmon.check.check_file`` (what ``occmon config check`` runs: load, agents,
  profiles, safety sections, units);
- ``gateway``: ``gateway.app.Gateway(...)`` on the loaded config (bindings, drivers, the
  alarm engine's specs, queue, publisher, intake); nothing connects until ``start()``;
- ``cli``: ``occmon config check FILE`` as a fresh process, wall clock (imports included).

Each stage runs ``--repeat`` times; the best time is printed (the least disturbed by the
other processes of a shared machine). ``--root DIR`` imports the code from DIR, to compare
with an older tree on the same machine.

    .venv/bin/python bench/config_load.py [--points 5000] [--repeat 3] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def best(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT, help="tree to import the code from")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(ROOT))
    from bench.site_gen import write

    sys.path.insert(0, str(root))
    from gateway.app import Gateway
    from occmon.check import check_file
    from occmon.config import load, read_yaml

    folder = Path(tempfile.mkdtemp(prefix="occmon-config-bench-"))
    path = write(folder, args.points)
    figures: dict[str, Any] = {"points": args.points, "bytes": path.stat().st_size,
                               "root": str(root)}

    figures["yaml_s"], _ = best(args.repeat, lambda: read_yaml(path))
    figures["load_s"], config = best(args.repeat, lambda: load(path))
    figures["check_s"], (checked, problems) = best(args.repeat, lambda: check_file(path))
    assert checked is not None, problems[:3]
    config = config.model_copy(update={"gateway": config.gateway.model_copy(
        update={"queue_path": folder / "queue.db"})})
    gateways: list[Any] = []

    def build() -> Any:
        gateway = Gateway(config, path, broker_host="127.0.0.1", broker_port=9)
        gateways.append(gateway)
        return gateway

    figures["gateway_s"], gateway = best(args.repeat, build)
    figures["drivers"] = len(gateway.drivers)
    for built in gateways:
        built.queue.close()

    env = {**os.environ, "PYTHONPATH": str(root)}
    cli: list[float] = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "occmon.cli", "config", "check", str(path)],
                              env=env, capture_output=True, text=True, check=False)
        cli.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures["cli_check_s"] = min(cli)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                      for k, v in figures.items()}))


if __name__ == "__main__":
    main()
