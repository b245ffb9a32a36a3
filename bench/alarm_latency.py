"""Benchmark the leak-alarm -> accident-ventilation path inside the gateway.

Latency: from the Modbus poll response that carries the crossing (``ModbusDevice
.last_response`` of the gas detector's poll) to the FC5 response of the fan's run-coil
write (the first ``WriteCoil`` of the interlock), both on the monotonic clock, while the
gateway takes ``--rate`` readings/s of background traffic (synthetic readings of 100 other
H2S points handed to the gateway's sink in 20 batches a second, so the alarm engine judges
every one of them and the queue commits them all).

Everything real otherwise: the simulated gas detector and fans are pymodbus TCP servers on
loopback, in a process of their own as real devices would be (``--plant``, driven over a
pipe: ``set SENSOR VALUE`` / ``fan DEVICE``); the gateway is ``gateway.app.Gateway``
(queue, publisher to a private Mosquitto, the safety shell) on one asyncio loop as
``occmon gateway`` has it.

    .venv/bin/python bench/alarm_latency.py [--trials 40] [--rate 10000] [--poll 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.app import Gateway  # noqa: E402
from occmon.config import load  # noqa: E402
from occmon.model import Quality, Reading  # noqa: E402
from simulators.plant import SimulatedPlant  # noqa: E402
from tests.servers import free_port, mosquitto_binary, running_mosquitto  # noqa: E402

BACKGROUND_POINTS = 100
PPM = 34.08 / 24.04
ALARM_PPM = 10 / PPM


def site(tmp: Path, broker_port: int, poll: float) -> Path:
    points = [{"id": "desulf-h2s-1", "name": {"zh": "硫化氢", "en": "H2S"}, "area": "desulf",
               "agent": "h2s"}]
    sensors: list[dict[str, Any]] = [{"id": "gp1-h2s", "point": "desulf-h2s-1",
                                      "device": "gas-panel-1", "register": "gas_ppm",
                                      "unit": "ppm", "range": [0, 100]}]
    for i in range(BACKGROUND_POINTS):
        points.append({"id": f"bg-{i}", "name": {"zh": f"背景{i}", "en": f"bg {i}"},
                       "area": "bg", "agent": "h2s"})
        sensors.append({"id": f"bg-{i}", "point": f"bg-{i}", "device": "bg", "field": f"f{i}"})
    doc = {
        "site": {"id": "bench", "name": {"zh": "基准", "en": "bench"}},
        "broker": {"host": "127.0.0.1", "port": broker_port},
        "gateway": {"queue_path": str(tmp / "queue.db")},
        "areas": [{"id": "desulf", "name": {"zh": "脱硫", "en": "desulf"}},
                  {"id": "bg", "name": {"zh": "背景", "en": "background"}}],
        "points": points,
        "devices": [
            {"id": "gas-panel-1", "protocol": "modbus-tcp", "host": "127.0.0.1",
             "port": free_port(), "profile": "toxic-gas-detector", "poll_interval": poll,
             "timeout": 0.5},
            {"id": "fan-1", "protocol": "modbus-tcp", "host": "127.0.0.1", "port": free_port(),
             "profile": "ventilation-fan", "poll_interval": 0.25, "timeout": 0.5},
            {"id": "bg", "protocol": "mqtt", "topic": "vendor/bench/bg",
             "mapping": {"fields": {f"f{i}": f"f{i}" for i in range(BACKGROUND_POINTS)}},
             "expire_after": 3600},
        ],
        "sensors": sensors,
        # stale_after_polls 20: a loop stall must not fault the point (it would keep the fan on)
        "alarms": {"points": [{"point": "desulf-h2s-1", "on_delay": 0, "off_delay": 0,
                               "stale_after_polls": 20}]},
        "ventilation": {"units": [{"id": "desulf-exhaust", "points": ["desulf-h2s-1"],
                                   "fan": {"device": "fan-1"}, "hold_time": 0.2}]},
    }
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


async def background(gateway: Gateway, rate: int, stats: dict[str, float]) -> None:
    """``rate`` readings/s of low H2S into the gateway's sink, 20 batches a second."""
    per_batch = max(1, rate // 20)
    n = 0
    start = time.monotonic()
    while True:
        now = time.time()
        batch = []
        for k in range(per_batch):
            i = (n + k) % BACKGROUND_POINTS
            batch.append(Reading(f"bg-{i}", "h2s", now + k * 1e-6, 0.2, "mg/m3",
                                 Quality.GOOD, sensor=f"bg-{i}", device="bg"))
        gateway.sink.readings(batch)
        n += per_batch
        stats["readings"] = n
        stats["seconds"] = time.monotonic() - start
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))


async def serve_plant(config_path: Path) -> None:
    """The devices' side, in its own process: answers ``set`` and ``fan`` lines on stdin."""
    plant = SimulatedPlant(load(config_path), spin_up=0.1)
    plant.set_value("gp1-h2s", 0.3)
    await plant.start()
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            match line.split():
                case ["set", sensor, value]:
                    plant.set_value(sensor, float(value))
                    print("ok", flush=True)
                case ["fan", device]:
                    print(int(plant.fan(device).commanded), flush=True)
    finally:
        await plant.stop()


class Plant:
    """The parent's handle on the plant process."""

    def __init__(self, child: asyncio.subprocess.Process) -> None:
        self.child = child

    async def ask(self, line: str) -> str:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write(line.encode() + b"\n")
        await self.child.stdin.drain()
        return (await self.child.stdout.readline()).decode().strip()

    async def set_value(self, sensor: str, value: float) -> None:
        assert await self.ask(f"set {sensor} {value!r}") == "ok"

    async def fan_commanded(self, device: str) -> bool:
        return await self.ask(f"fan {device}") == "1"


async def trials(config_path: Path, count: int,
                 rate: int) -> tuple[list[tuple[float, float]], float]:
    config = load(config_path)
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--plant", str(config_path), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    if (await child.stdout.readline()).strip() != b"ready":
        raise SystemExit("the plant process did not start")
    plant = Plant(child)
    broker = config.broker
    assert broker is not None
    gateway = Gateway(config, config_path, broker_host=broker.host, broker_port=broker.port)
    gas = next(d for d in gateway.drivers if d.device_id == "gas-panel-1")
    crossings: list[float] = []

    def watch(batch: Any) -> None:  # runs before the safety shell sees the batch
        for r in batch:
            if r.point == "desulf-h2s-1" and r.value is not None and r.value >= 10.0:
                crossings.append(gas.last_response)
                return

    gateway.sink.observers.insert(0, watch)
    stats: dict[str, float] = {}
    await gateway.start()
    load_task = asyncio.create_task(background(gateway, rate, stats))
    latencies = []
    try:
        await asyncio.sleep(2.0)
        for _ in range(count):
            crossings.clear()
            seen = len(gateway.safety.writes)
            await plant.set_value("gp1-h2s", ALARM_PPM * 1.5)
            deadline = time.monotonic() + 10
            write = None
            while write is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                new = list(gateway.safety.writes)[seen:]
                write = next((w for w in new if w[1] == "run_command" and w[2]), None)
            if write is None or write[4] is None or not crossings:
                why = "no coil write" if write is None else (
                    "no FC5 response" if write[4] is None else "no crossing seen")
                print(f"trial skipped: {why}", gateway.safety.interlock.snapshot(),
                      gateway.safety.engine.conditions()["desulf-h2s-1"],
                      list(gateway.safety.writes)[-3:], file=sys.stderr)
            else:
                latencies.append((write[4] - crossings[0], write[3] - crossings[0]))
            await plant.set_value("gp1-h2s", 0.3)
            deadline = time.monotonic() + 10
            while await plant.fan_commanded("fan-1") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
    finally:
        load_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await load_task
        await gateway.stop()
        assert child.stdin is not None
        child.stdin.close()
        await asyncio.wait_for(child.wait(), 10)
    return latencies, stats.get("readings", 0) / max(stats.get("seconds", 1), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rate", type=int, default=10_000, help="background readings/s")
    parser.add_argument("--poll", type=float, default=0.1, help="gas detector poll interval")
    parser.add_argument("--plant", type=Path, help=argparse.SUPPRESS)  # internal: the devices
    args = parser.parse_args()
    if args.plant is not None:
        asyncio.run(serve_plant(args.plant))
        return
    mosquitto_binary()
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp)) as broker:
        path = site(Path(tmp), broker.port, args.poll)
        latencies, achieved = asyncio.run(trials(path, args.trials, args.rate))
    if not latencies:
        raise SystemExit("no trial completed")
    ms = sorted(total * 1000 for total, _ in latencies)
    decide = sorted(part * 1000 for _, part in latencies)

    def p99(xs: list[float]) -> float:
        return xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]

    print(f"alarm -> coil latency over {len(ms)} trials, background {achieved:,.0f} "
          f"readings/s: p50 {statistics.median(ms):.1f} ms, p99 {p99(ms):.1f} ms, "
          f"max {ms[-1]:.1f} ms")
    print(f"  of which poll response -> write started (engine, interlock, loop): "
          f"p50 {statistics.median(decide):.1f} ms, p99 {p99(decide):.1f} ms")


if __name__ == "__main__":
    main()
