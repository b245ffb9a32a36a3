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
- ``cli``: ``occmon config check FILE`` as a fresh process, wall clock (imports included);
- ``--first-data``: ``occmon gateway FILE`` as a fresh process against real devices (one
  pymodbus server per device, from ``bench/modbus_poll.py``, in another process) and a
  private Mosquitto: the time from starting the process until every device is being polled
  (``polling_s``: ``Gateway.start()`` has logged its summary), to the first reading on the
  broker (``first_data_s``) and to a reading of every point (``all_points_s``). A figure
  missing from the output was not reached within 120 s.

Each stage runs ``--repeat`` times; the best wall time (``*_s``) and the best CPU time of
this process or the child (``*_cpu_s``) are printed, the least disturbed by the other
processes of a shared machine. ``--root DIR`` imports the code from DIR, to compare
with an older tree on the same machine.

    .venv/bin/python bench/config_load.py [--points 5000] [--repeat 3] [--root DIR]
        [--first-data]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def best(figures: dict[str, Any], name: str, repeat: int, action: Callable[[], Any]) -> Any:
    """Run ``action`` ``repeat`` times; keep the least wall and CPU time as ``name_s`` and
    ``name_cpu_s`` (CPU time is the steadier figure on a machine shared with other work)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    figures[f"{name}_s"], figures[f"{name}_cpu_s"] = min(walls), min(cpus)
    return result


def first_data(points: int, root: Path, timeout: float = 120.0) -> dict[str, float]:
    """Start ``occmon gateway`` on a site whose devices answer; time its first readings."""
    import contextlib
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from bench.site_gen import PER_DEVICE, write
    from tests.servers import running_mosquitto

    folder = Path(tempfile.mkdtemp(prefix="occmon-first-data-"))
    seen: set[str] = set()
    times: dict[str, float] = {}
    done = threading.Event()
    with contextlib.ExitStack() as stack:
        devices = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "modbus_poll.py"), "--serve",
             str(-(-points // PER_DEVICE))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        stack.callback(devices.wait, 30)
        stack.callback(devices.stdin.close)  # type: ignore[union-attr]
        ports = json.loads(devices.stdout.readline())  # type: ignore[union-attr]
        (folder / "mqtt").mkdir()
        broker = stack.enter_context(running_mosquitto(folder / "mqtt"))
        path = write(folder, points, ports=ports, broker_port=broker.port)

        from occmon import payload_v2

        book = payload_v2.SeriesBook()
        state = [0]

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            if "/series/" in message.topic:  # payload v2: what its readings need
                with contextlib.suppress(ValueError):
                    book.learn(message.topic.rsplit("/", 1)[1], bytes(message.payload))
                return
            if "/state/" in message.topic and "first_data_s" not in times:
                state[0] += 1  # retained alarm-state messages that came before any reading
            if "/readings" not in message.topic:
                return
            times.setdefault("first_data_s", time.monotonic())
            if payload_v2.is_v2(message.payload):
                with contextlib.suppress(ValueError):
                    _, _, items = payload_v2.decode_items(message.payload, book)
                    seen.update(r.point for r in items if not isinstance(r, Exception))
            else:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    seen.update(r["point"] for r in json.loads(message.payload)["readings"])
            if len(seen) >= points:
                times.setdefault("all_points_s", time.monotonic())
                done.set()

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-first-data")
        client.on_message = on_message
        client.connect("127.0.0.1", broker.port)
        client.subscribe("occmon/v1/big-plant/#", qos=1)
        client.loop_start()
        stack.callback(client.loop_stop)
        time.sleep(1.0)  # subscribed before the gateway starts
        started = time.monotonic()
        with (folder / "gateway.log").open("w") as log:
            gateway = subprocess.Popen(
                [sys.executable, "-m", "occmon.cli", "gateway", "-v", str(path)], cwd=folder,
                env={**os.environ, "PYTHONPATH": str(root)}, stdout=log, stderr=log)
        try:
            deadline = started + timeout
            while not done.is_set() and time.monotonic() < deadline:
                if "polling_s" not in times and "polled devices" in (
                        folder / "gateway.log").read_text(errors="replace"):
                    times["polling_s"] = time.monotonic()  # Gateway.start() has returned
                done.wait(0.05)
        finally:
            gateway.terminate()
            try:
                gateway.wait(30)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait()
    print(f"gateway log: {folder / 'gateway.log'}", file=sys.stderr)
    return {**{k: v - started for k, v in times.items()}, "state_before_first_data": state[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT, help="tree to import the code from")
    parser.add_argument("--first-data", action="store_true",
                        help="also time occmon gateway to its first readings on a broker")
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

    best(figures, "yaml", args.repeat, lambda: read_yaml(path))
    config = best(figures, "load", args.repeat, lambda: load(path))
    checked, problems = best(figures, "check", args.repeat, lambda: check_file(path))
    assert checked is not None, problems[:3]
    config = config.model_copy(update={"gateway": config.gateway.model_copy(
        update={"queue_path": folder / "queue.db"})})
    gateways: list[Any] = []

    def build() -> Any:
        gateway = Gateway(config, path, broker_host="127.0.0.1", broker_port=9)
        gateways.append(gateway)
        return gateway

    gateway = best(figures, "gateway", args.repeat, build)
    figures["drivers"] = len(gateway.drivers)
    for built in gateways:
        built.queue.close()

    env = {**os.environ, "PYTHONPATH": str(root)}
    cli: list[float] = []
    cli_cpu: list[float] = []
    for _ in range(args.repeat):
        started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, "-m", "occmon.cli", "config", "check", str(path)],
                              env=env, cwd=root, capture_output=True, text=True, check=False)
        cli.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_cpu.append(after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures["cli_check_s"], figures["cli_check_cpu_s"] = min(cli), min(cli_cpu)
    if args.first_data:
        figures.update(first_data(args.points, root))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                      for k, v in figures.items()}))


if __name__ == "__main__":
    main()
