"""Benchmark the Modbus driver: 500 devices x 20 registers at 1 Hz, in this process.

A separate process serves the devices (one pymodbus TCP server per device, each on its
own port on 127.0.0.1, 10 FLOAT32 values = 20 holding registers). This process polls them
all with the real drivers (``build_drivers`` + ``run_polled``, one task per device) and
measures its own CPU share, peak RSS, and the latency from a poll's last response to the
sink call (decode, scale, normalise, Reading objects). Loopback only; bounded in time.

    .venv/bin/python bench/modbus_poll.py [--devices 500] [--seconds 30] [--warmup 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VALUES = 10  # FLOAT32 values per device = 20 registers

PROFILE = "name: bench-20\nregisters:\n" + "".join(
    f"  - {{name: v{i}, kind: holding, address: {2 * i}, type: FLOAT32, unit: mg/m3}}\n"
    for i in range(VALUES)
)


async def serve(count: int) -> None:
    """The device side: ``count`` pymodbus servers on ports the OS picks, any unit id.

    Prints the ports as one JSON line, then serves until stdin closes.
    """
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    from gateway.modbus.codec import encode

    words: list[int] = []
    for i in range(VALUES):
        words += encode(1.0 + i / 10, "FLOAT32", "ABCD")
    servers, ports = [], []
    for _ in range(count):
        device = SimDevice(0, simdata=[SimData(0, values=words, datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(device, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        servers.append(server)
        listener: Any = server.transport  # an asyncio Server once listening
        ports.append(int(listener.sockets[0].getsockname()[1]))
    print(json.dumps(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for server in servers:
        await server.shutdown()  # type: ignore[no-untyped-call]


def site(ports: Sequence[int]) -> dict[str, Any]:
    devices, points, sensors = [], [], []
    for n, port in enumerate(ports):
        devices.append({"id": f"dev-{n}", "protocol": "modbus-tcp", "host": "127.0.0.1",
                        "port": port, "profile": "bench-20.yaml", "poll_interval": 1.0,
                        "timeout": 1.0, "retries": 0})
        for i in range(VALUES):
            points.append({"id": f"p-{n}-{i}", "name": {"zh": "点", "en": "point"},
                           "area": "a", "agent": "cement-dust"})
            sensors.append({"id": f"s-{n}-{i}", "point": f"p-{n}-{i}", "device": f"dev-{n}",
                            "register": f"v{i}", "range": [0, 100]})
    return {"site": {"id": "bench", "name": {"zh": "基准", "en": "bench"}},
            "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
            "points": points, "devices": devices, "sensors": sensors}


class LatencySink:
    """Records response-to-sink latency per batch; counts readings and statuses."""

    def __init__(self, drivers: dict[str, Any]) -> None:
        self.drivers = drivers
        self.latencies: list[float] = []
        self.count = 0
        self.bad = 0
        self.offline: set[str] = set()
        self.recording = False

    def readings(self, batch: Sequence[Any]) -> None:
        now = time.monotonic()
        if not self.recording or not batch:
            return
        driver = self.drivers[batch[0].device]
        self.latencies.append(now - driver.last_response)
        self.count += len(batch)
        self.bad += sum(1 for r in batch if r.quality != "good")

    def status(self, status: Any) -> None:
        if not status.online:
            self.offline.add(status.device)


async def poll(
    ports: Sequence[int], seconds: float, warmup: float, spread: bool = True
) -> dict[str, float]:
    import thresholds
    from gateway.modbus import build_drivers
    from gateway.normalise import Binding
    from gateway.polling import run_polled
    from occmon.config import parse

    folder = Path(tempfile.mkdtemp(prefix="occmon-bench-"))
    (folder / "bench-20.yaml").write_text(PROFILE)
    config_file = folder / "site.yaml"
    config, problems = parse(site(ports), config_file)
    assert config is not None, problems[:3]
    bindings = {}
    for sensor in config.sensors:
        point = config.point(sensor.point)
        bindings[sensor.id] = Binding(sensor, point, thresholds.lookup(point.agent),
                                      thresholds.STANDARD_REFERENCE)
    drivers = {d.device_id: d for d in build_drivers(config, bindings, config_file)}
    sink = LatencySink(drivers)
    tasks = []
    for n, driver in enumerate(drivers.values()):
        if spread:  # start the devices evenly over the second, as a real plant would
            await asyncio.sleep(1.0 / len(drivers))
        tasks.append(asyncio.create_task(run_polled(driver, sink), name=f"poll-{n}"))
    await asyncio.sleep(warmup)
    sink.recording = True
    usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    await asyncio.sleep(seconds)
    usage1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    sink.recording = False
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for driver in drivers.values():
        await driver.close()
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    wall = wall1 - wall0
    lat = sorted(sink.latencies)
    return {
        "devices": len(drivers),
        "registers_per_device": 2 * VALUES,
        "seconds": round(wall, 1),
        "polls_per_s": round(len(lat) / wall, 1),
        "readings_per_s": round(sink.count / wall, 1),
        "bad_readings": sink.bad,
        "devices_offline": len(sink.offline),
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "cpu_user_percent": round(100 * (usage1.ru_utime - usage0.ru_utime) / wall, 1),
        "cpu_system_percent": round(100 * (usage1.ru_stime - usage0.ru_stime) / wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "latency_p50_ms": round(1000 * statistics.median(lat), 3) if lat else -1,
        "latency_p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 3) if lat else -1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--aligned", action="store_true",
                        help="start every device at once (polls share event-loop wake-ups)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # internal: server count
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.devices)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        try:
            ports = [int(p) for p in json.loads(line)]
        except ValueError:
            raise SystemExit(f"device server did not start: {line!r}") from None
        figures = asyncio.run(poll(ports, args.seconds, args.warmup, not args.aligned))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
