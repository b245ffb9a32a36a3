"""Benchmark the Modbus driver: 500 devices x 20 registers at 1 Hz, in this process.

A separate process serves the devices (one pymodbus TCP server per device, each on its
own port on 127.0.0.1, 10 FLOAT32 values = 20 holding registers). This process polls them
all with the real drivers (``build_drivers`` + ``run_polled``, one task per device) and
measures its own CPU share, peak RSS and latency. Loopback only; bounded in time.

``--path sink`` (default): readings go to a sink that only counts them; latency is from a
poll's last response to the sink call (decode, scale, normalise, Reading objects).

``--path broker``: the gateway's real path, composed as ``gateway.app`` does it: a
``QueueSink`` and ``Committer`` on a SQLite ``Queue`` (checkpoints on its own thread) that
wake a ``Publisher`` connected to a private
Mosquitto; a subscriber in another process timestamps each message on arrival. Latency is
from a poll's last response to the broker's delivery of each of its readings (both on the
system-wide monotonic clock); the CPU figure then includes the queue and the publisher.

``--root DIR`` imports ``gateway``, ``occmon`` and ``thresholds`` from DIR, to compare
with an older tree (e.g. a ``git worktree`` of an earlier commit) on the same machine.

    .venv/bin/python bench/modbus_poll.py [--devices 500] [--seconds 30] [--warmup 5]
        [--aligned] [--path sink|broker] [--wake-quantum S] [--root DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
SITE = "bench"

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
    return {"site": {"id": SITE, "name": {"zh": "基准", "en": "bench"}},
            "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
            "points": points, "devices": devices, "sensors": sensors}


class LatencySink:
    """Records response-to-sink latency per batch; counts readings and statuses.

    With ``inner`` (the gateway's QueueSink) it also passes everything on, and keeps for
    each poll its device, reading time and response instant, to match the subscriber's
    arrivals with after the run.
    """

    def __init__(self, drivers: dict[str, Any], inner: Any = None) -> None:
        self.drivers = drivers
        self.inner = inner
        self.latencies: list[float] = []
        self.polls: list[tuple[str, float, float]] = []  # device, reading time, response
        self.count = 0
        self.bad = 0
        self.offline: set[str] = set()
        self.recording = False

    def readings(self, batch: Sequence[Any]) -> None:
        now = time.monotonic()
        if self.inner is not None:
            self.inner.readings(batch)
        if not self.recording or not batch:
            return
        driver = self.drivers[batch[0].device]
        self.latencies.append(now - driver.last_response)
        if self.inner is not None:
            self.polls.append((batch[0].device, batch[0].time, driver.last_response))
        self.count += len(batch)
        self.bad += sum(1 for r in batch if r.quality != "good")

    def status(self, status: Any) -> None:
        if self.inner is not None:
            self.inner.status(status)
        if not status.online:
            self.offline.add(status.device)


def subscribe(port: int, out: str) -> None:
    """The broker's consumer, in its own process: timestamp every message on arrival.

    Prints "ready" once subscribed; on stdin EOF writes [arrival, point, time] per reading
    to ``out`` (JSON) and exits. Parsing waits until then, off the measured path.
    """
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    arrivals: list[tuple[float, bytes]] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-subscriber")

    def on_connect(c: Any, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        c.subscribe(f"occmon/v1/{SITE}/readings/#", qos=1)

    def on_subscribe(*_args: Any) -> None:
        subscribed.set()

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        arrivals.append((time.monotonic(), message.payload))

    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not subscribed.wait(10):
        raise SystemExit("subscriber: no SUBACK")
    print("ready", flush=True)
    sys.stdin.read()
    client.loop_stop()
    client.disconnect()
    rows = []
    for arrival, payload in arrivals:
        for reading in json.loads(payload)["readings"]:
            rows.append([arrival, reading["point"], reading["time"]])
    Path(out).write_text(json.dumps(rows))


def drivers_for(ports: Sequence[int], folder: Path) -> dict[str, Any]:
    """The bench site's drivers, as the gateway builds them (device id -> ModbusDevice);
    the site and profile files go in ``folder``."""
    import thresholds
    from gateway.modbus.drivers import build_drivers
    from gateway.normalise import Binding
    from occmon.config import parse

    (folder / "bench-20.yaml").write_text(PROFILE)
    config_file = folder / "site.yaml"
    config, problems = parse(site(ports), config_file)
    assert config is not None, problems[:3]
    bindings = {}
    for sensor in config.sensors:
        point = config.point(sensor.point)
        bindings[sensor.id] = Binding(sensor, point, thresholds.lookup(point.agent),
                                      thresholds.STANDARD_REFERENCE)
    return {d.device_id: d for d in build_drivers(config, bindings, config_file)}


async def poll(
    ports: Sequence[int],
    seconds: float,
    warmup: float,
    spread: bool = True,
    broker_port: int | None = None,
) -> tuple[dict[str, Any], LatencySink]:
    from gateway.polling import run_polled

    folder = Path(tempfile.mkdtemp(prefix="occmon-bench-"))
    drivers = drivers_for(ports, folder)
    publisher: Any = None
    queue: Any = None
    if broker_port is None:
        sink = LatencySink(drivers)
    else:  # as gateway.app.Gateway composes them
        from gateway.committer import Committer
        from gateway.publisher import Publisher
        from gateway.queue import Queue
        from gateway.sink import QueueSink
        from occmon import topics

        queue = Queue(folder / "queue.db", overflow_topic=topics.events(SITE, "queue-overflow"),
                      checkpoint_thread=True)
        publisher = Publisher(queue, site=SITE, host="127.0.0.1", port=broker_port,
                              client_id=f"occmon-gateway-{SITE}")
        inner = QueueSink(Committer(queue, on_commit=publisher.wake), SITE)
        sink = LatencySink(drivers, inner)
    tasks = []
    if publisher is not None:
        tasks.append(asyncio.create_task(publisher.run(), name="publisher"))
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
    pollers = tasks[1:] if publisher is not None else tasks
    for task in pollers:
        task.cancel()
    # A poll task that swallowed its cancel (see gateway.polling) would hang a gather.
    _, stuck = await asyncio.wait(pollers, timeout=10)
    for driver in drivers.values():
        await driver.close()
    if publisher is not None:
        sink.inner.flush()
        await asyncio.sleep(1.0)  # let the last messages reach the subscriber
        await publisher.stop(grace=1.0)
        await asyncio.wait_for(tasks[0], 5.0)
        queue.close()
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    wall = wall1 - wall0
    lat = sorted(sink.latencies)
    figures: dict[str, Any] = {
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
        "poll_tasks_not_ending_on_cancel": len(stuck),
    }
    if publisher is not None:
        figures.update({f"publisher_{k.split('.', 1)[1]}": v
                        for k, v in publisher.counters().items()})
    return figures, sink


def broker_latency(sink: LatencySink, arrivals: list[list[Any]]) -> dict[str, Any]:
    """Match each delivered reading with the poll that produced it: (device, time)."""
    from occmon.model import iso_utc

    response = {(device, iso_utc(t)): r for device, t, r in sink.polls}
    lat, unmatched = [], 0
    for arrival, point, when in arrivals:
        device = "dev-" + point.split("-")[1]  # p-{n}-{i} is on dev-{n}
        started = response.get((device, when))
        if started is None:
            unmatched += 1  # a warm-up or cool-down poll
            continue
        lat.append(arrival - started)
    lat.sort()

    def q(p: float) -> float:
        return round(1000 * lat[int(p * (len(lat) - 1))], 3) if lat else -1

    return {
        "broker_readings_matched": len(lat),
        "broker_readings_expected": sink.count,
        "broker_unmatched_outside_window": unmatched,
        "broker_latency_p50_ms": q(0.5),
        "broker_latency_p99_ms": q(0.99),
        "broker_latency_max_ms": q(1.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--aligned", action="store_true",
                        help="start every device at once (polls share event-loop wake-ups)")
    parser.add_argument("--path", choices=("sink", "broker"), default="sink",
                        help="sink: count readings only; broker: queue + publisher + Mosquitto")
    parser.add_argument("--wake-quantum", type=float,
                        help="override gateway.polling.WAKE_QUANTUM (s)")
    parser.add_argument("--root", type=Path, help="import gateway/occmon/thresholds from here")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # internal: server count
    parser.add_argument("--subscribe", nargs=2, help=argparse.SUPPRESS)  # internal: port, file
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if args.subscribe:
        subscribe(int(args.subscribe[0]), args.subscribe[1])
        return
    if args.root is not None:
        sys.path.insert(0, str(args.root.resolve()))
    if args.wake_quantum is not None:
        import gateway.polling

        gateway.polling.WAKE_QUANTUM = args.wake_quantum
    with contextlib.ExitStack() as stack:
        ports = device_servers(stack, args.devices)
        broker_port = subscriber = arrivals_file = None
        if args.path == "broker":
            from tests.servers import running_mosquitto

            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="occmon-mq-")))
            broker_port = stack.enter_context(running_mosquitto(workdir)).port
            arrivals_file = workdir / "arrivals.json"
            subscriber = start_child(stack, ["--subscribe", str(broker_port), str(arrivals_file)])
            if subscriber.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
                raise SystemExit("subscriber did not start")
        figures, sink = asyncio.run(poll(ports, args.seconds, args.warmup, not args.aligned,
                                         broker_port))
        if subscriber is not None and arrivals_file is not None:
            stop_child(subscriber)
            figures.update(broker_latency(sink, json.loads(arrivals_file.read_text())))
    figures["load_average_1_5_15"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    figures["code_root"] = str(args.root or ROOT)
    for key, value in figures.items():
        print(f"{key}: {value}")


def device_servers(stack: contextlib.ExitStack, count: int) -> list[int]:
    """``count`` device servers (``serve``) in a child process that ``stack`` stops; their
    ports."""
    server = start_child(stack, ["--serve", str(count)])
    line = server.stdout.readline()  # type: ignore[union-attr]
    try:
        return [int(p) for p in json.loads(line)]
    except ValueError:
        raise SystemExit(f"device server did not start: {line!r}") from None


def start_child(stack: contextlib.ExitStack, argv: list[str]) -> subprocess.Popen[str]:
    """This script in another process; closing its stdin tells it to finish."""
    child = subprocess.Popen(
        [sys.executable, __file__, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    stack.callback(stop_child, child)
    return child


def stop_child(child: subprocess.Popen[str]) -> None:
    if child.stdin is not None and not child.stdin.closed:
        child.stdin.close()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
