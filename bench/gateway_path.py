"""Benchmark the whole gateway path: Modbus plant -> ``occmon gateway`` -> Mosquitto -> subscriber.

What runs, each in its own process, all on loopback:

* the plant: one process serving ``--devices`` pymodbus TCP servers (one port each, any unit
  id), ``--registers`` holding registers each (FLOAT32, two registers a value). Every
  request is answered with ``plant_value(device, value, slot)``, a formula of the device,
  the value's index and the time slot of the request (``slot`` = ``--interval`` s), so a
  checker can recompute every value from (device, register, time) alone;
* a private Mosquitto on a free port (``tests.servers.running_mosquitto``);
* ``occmon gateway SITE`` on a generated site file (written to a temporary directory on
  disk, its queue beside it), polling every device every ``--interval`` s and publishing
  QoS 1; ``--alarms on`` gives every point an alarm rule (``alarms.points``: set-points
  above the plant's values, so the engine judges every reading and raises nothing),
  ``--alarms off`` disables every point's rule (``enabled: false``);
* a subscriber on ``occmon/+/{site}/readings/#`` (``--topic``) that stamps each message's arrival
  (``time.time()``) and keeps topic and payload; they are decoded after the run, off the
  measured path, with ``decode_message`` (the one place that knows payload versions).

Measured over ``--window`` s, ``--warmup`` s after the gateway is up (every point seen at
the subscriber), per run:
gateway CPU (utime + stime of all its threads, /proc/PID/stat) as % of one core, VmRSS and
VmHWM, disk writes (/proc/PID/io ``write_bytes``, what reaches the block layer, per thread
too), wire bytes per reading at the subscriber (MQTT payload + topic bytes, without the
MQTT fixed header, packet id and TCP/IP), readings/s delivered, the accounting of every
expected reading (missing, duplicate, wrong value, bad quality), latency from the
reading's time (the gateway's wall clock when it sent the poll request) to its arrival at
the subscriber (same host, same clock: it includes the Modbus round trip and the plant's
own queueing: one Python process answers 500 devices one request at a time), latency from
the plant's answer to that poll to the reading's arrival (the issue's "poll-response ->
broker", measured to the subscriber: the broker's hop is in it), and start-up
time (gateway process spawned -> first reading at the subscriber; -> every point seen).
Each run also times ``occmon config check`` on the same site file.

``--profile`` runs the gateway under cProfile for the window only (main thread: the event
loop; the queue's checkpoint thread is not profiled) and prints its self time grouped by
stage; time in the standard library and C builtins goes to the stage that called it.
``--keep-profile FILE`` keeps the raw stats for ``python -m pstats``.

``--startup-only`` (with ``--points 5000``: 500 devices x 10 sensors) times ``occmon
config check`` and the gateway's start-up on a large site, without a measuring window.

    .venv/bin/python bench/gateway_path.py [--devices 500] [--registers 20] [--interval 1]
        [--alarms on|off] [--warmup 30] [--window 60] [--runs 1] [--profile] [--topic F]
    .venv/bin/python bench/gateway_path.py --points 5000 --startup-only

Prints one ``RESULT {json}`` line per run (for scripts and tests) and a Markdown table.
Exits 1 if any expected reading is missing or wrong, a payload does not decode, or the
gateway fails.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import math
import os
import pickle
import queue
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SITE = "gwbench"
AGENT = "cement-dust"  # canonical unit mg/m3: the plant's values pass unconverted
SETPOINTS = {"pre_alarm": 50.0, "alarm": 80.0, "high_alarm": 100.0}  # above every value
EARLY = 0.05  # of an interval: how far before its estimated tick a poll may be seen
VALUE_TOLERANCE_S = 2.0  # a request reaches the plant at most this long after its poll time
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the plant ----------------------------------------------------------------------------

def float32(x: float) -> float:
    """``x`` as the FLOAT32 the plant sends, back as a Python float (exact)."""
    return float(struct.unpack(">f", struct.pack(">f", x))[0])


def plant_value(device: int, value: int, slot: int) -> float:
    """The value ``value`` of device ``device`` during time slot ``slot`` (1.00 .. 10.96).

    Different for neighbouring slots (steps of 0.13 mod 9.97), devices and values, so a
    stale, swapped or corrupted value shows."""
    return float32(1.0 + ((device * 31 + value * 7 + slot * 13) % 997) / 100)


def expected_values(device: int, value: int, when: float, interval: float) -> set[float]:
    """Every value a poll sent at ``when`` may carry: the request reaches the plant in the
    slot of ``when`` or up to ``VALUE_TOLERANCE_S`` later."""
    first = math.floor(when / interval)
    last = math.floor((when + VALUE_TOLERANCE_S) / interval)
    return {plant_value(device, value, k) for k in range(first, last + 1)}


def serve(count: int, values: int, interval: float) -> None:
    """The plant process: ``count`` pymodbus servers; prints their ports as one JSON line,
    then serves until stdin closes. Each answer's moment is kept (``time.time()`` when the
    request is served, just before pymodbus encodes the response); a line ``answers PATH``
    on stdin pickles them to PATH (device -> times, in order) and prints ``answered``."""
    import asyncio

    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    def words(device: int, slot: int) -> list[int]:
        out: list[int] = []
        for i in range(values):
            out += struct.unpack(">HH", struct.pack(">f", plant_value(device, i, slot)))
        return out

    def action(device: int) -> Callable[..., Any]:
        cache: list[Any] = [None, None]  # slot, words
        times = answered[device]

        async def answer(_fc: int, _start: int, _address: int, _count: int,
                         registers: list[int], _set: Any) -> None:
            now = time.time()
            times.append(now)
            slot = math.floor(now / interval)
            if cache[0] != slot:
                cache[0], cache[1] = slot, words(device, slot)
            registers[: 2 * values] = cache[1]

        return answer

    answered: list[list[float]] = [[] for _ in range(count)]

    def commands() -> None:
        for line in sys.stdin:
            if line.startswith("answers "):
                with open(line.split(" ", 1)[1].strip(), "wb") as f:
                    pickle.dump({n: list(t) for n, t in enumerate(answered)}, f)
                print("answered", flush=True)

    async def main() -> None:
        servers, ports = [], []
        for n in range(count):
            simdata = [SimData(0, values=[0] * (2 * values), datatype=DataType.REGISTERS)]
            server = ModbusTcpServer(SimDevice(0, simdata=simdata, action=action(n)),
                                     address=("127.0.0.1", 0))
            await server.serve_forever(background=True)
            servers.append(server)
            listener: Any = server.transport
            ports.append(int(listener.sockets[0].getsockname()[1]))
        print(json.dumps(ports), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, commands)
        for server in servers:
            await server.shutdown()  # type: ignore[no-untyped-call]

    asyncio.run(main())


# -- the site file ------------------------------------------------------------------------

def point_id(device: int, value: int) -> str:
    return f"p-{device}-{value}"


def site_document(ports: Sequence[int], values: int, interval: float, alarms: bool,
                  broker_port: int, workdir: Path) -> dict[str, Any]:
    profile = "gwbench.yaml"
    devices, points, sensors, rules = [], [], [], []
    for n, port in enumerate(ports):
        devices.append({"id": f"dev-{n}", "protocol": "modbus-tcp", "host": "127.0.0.1",
                        "port": port, "profile": profile, "poll_interval": interval,
                        "timeout": 1.0, "retries": 0})
        for i in range(values):
            pid = point_id(n, i)
            points.append({"id": pid, "name": {"zh": "点", "en": "point"}, "area": "a",
                           "agent": AGENT})
            sensors.append({"id": f"s-{n}-{i}", "point": pid, "device": f"dev-{n}",
                            "register": f"v{i}", "unit": "mg/m3", "range": [0, 100]})
            rules.append({"point": pid, **SETPOINTS} if alarms
                         else {"point": pid, "enabled": False})
    return {
        "site": {"id": SITE, "name": {"zh": "基准", "en": "bench"}},
        "broker": {"host": "127.0.0.1", "port": broker_port},
        "gateway": {"queue_path": str(workdir / "gateway-queue.db")},
        "store": {"path": str(workdir / "occmon.db")},
        "alarms": {"points": rules},
        "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
        "points": points, "devices": devices, "sensors": sensors,
    }


def write_site(workdir: Path, ports: Sequence[int], values: int, interval: float,
               alarms: bool, broker_port: int, event_loop: str | None = None,
               settings: Sequence[str] = ()) -> Path:
    """The site file and its device profile, on disk in ``workdir`` (``event_loop``: the
    site's ``gateway.event_loop``, its default when None; ``settings``: more of the site's
    ``gateway`` keys as ``key=value``, the value read as YAML)."""
    profile = {"name": "gwbench", "registers": [
        {"name": f"v{i}", "kind": "holding", "address": 2 * i, "type": "FLOAT32",
         "unit": "mg/m3"} for i in range(values)]}
    (workdir / "gwbench.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    site = workdir / "site.yaml"
    document = site_document(ports, values, interval, alarms, broker_port, workdir)
    if event_loop is not None:
        document.setdefault("gateway", {})["event_loop"] = event_loop
    for setting in settings:
        key, _, value = setting.partition("=")
        document.setdefault("gateway", {})[key.strip()] = yaml.safe_load(value)
    site.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return site


# -- decoding: the one plug for payload versions -------------------------------------------

@dataclass(frozen=True, slots=True)
class Delivered:
    """One reading as the subscriber got it."""

    point: str
    time: float
    value: float | None
    good: bool


def _v1_json(payload: bytes) -> list[Delivered] | None:
    """Payload schema v1 (``occmon.payload.decode_batch``); None if not a v1 JSON batch."""
    from occmon import payload as wire

    if not payload.startswith(b"{"):
        return None
    try:
        _, readings = wire.decode_batch(payload)
    except wire.PayloadError as exc:
        if exc.code == "bad-version":
            return None
        raise
    return [Delivered(r.point, r.time, r.value, r.quality.value == "good") for r in readings]


def _project_generic(payload: bytes) -> list[Delivered] | None:
    """A decoder for every version, if ``occmon.payload`` offers one (``decode_any`` or
    ``decode_message``, returning (site, readings) like ``decode_batch``)."""
    from occmon import payload as wire

    for name in ("decode_any", "decode_message"):
        decode = getattr(wire, name, None)
        if callable(decode):
            _, readings = decode(payload)
            return [Delivered(r.point, r.time, r.value, r.quality.value == "good")
                    for r in readings]
    return None


SERIES = None  # occmon.payload_v2.SeriesBook of this process, made on first use


def series_book() -> Any:
    global SERIES
    if SERIES is None:
        from occmon.payload_v2 import SeriesBook

        SERIES = SeriesBook()
    return SERIES


def learn_series(topic: str, payload: bytes) -> bool:
    """A retained ``series/{id}`` announcement (payload v2) learnt; False for other topics."""
    parts = topic.split("/")
    if len(parts) < 2 or parts[-2] != "series":
        return False
    series_book().learn(parts[-1], payload)
    return True


def _v2_binary(payload: bytes) -> list[Delivered] | None:
    """Payload schema v2 (``occmon.payload_v2``): values by series id, series announced on
    ``series/{id}`` and learnt by ``learn_series``; None if not a v2 message."""
    from occmon import payload_v2

    if not payload_v2.is_v2(payload):
        return None
    _, _, items = payload_v2.decode_items(payload, series_book())
    out = []
    for r in items:
        if isinstance(r, Exception):
            raise r
        out.append(Delivered(r.point, r.time, r.value, r.quality.value == "good"))
    return out


DECODERS: list[Callable[[bytes], list[Delivered] | None]] = [
    _v2_binary, _project_generic, _v1_json]


def decode_message(topic: str, payload: bytes) -> list[Delivered]:
    """Every reading of one readings message, whatever its payload version.

    Tries each of ``DECODERS`` in turn; a decoder answers None for a payload that is not
    its version. A new wire version needs one more function in ``DECODERS`` (or a
    ``decode_any`` in ``occmon.payload``). Raises ValueError if no decoder takes it.
    """
    for decoder in DECODERS:
        found = decoder(payload)
        if found is not None:
            return found
    raise ValueError(f"{topic}: no decoder takes this payload ({payload[:40]!r}...)")


# -- the subscriber process ---------------------------------------------------------------

def series_topic(readings: str) -> str:
    """The series announcements beside a readings filter: ``.../readings/#`` -> ``.../series/+``."""
    head = readings.split("/readings", 1)[0]
    return f"{head}/series/+"


def subscribe(port: int, points: int, out: str, topic: str) -> None:
    """Stamp every readings message on arrival; say when the first reading and every point
    have arrived (decoding only until then); on stdin EOF pickle [(arrival, topic,
    payload)] to ``out``."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    arrivals: list[tuple[float, str, bytes]] = []
    seen: set[str] = set()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gwbench-sub-{os.getpid()}")

    series = series_topic(topic)

    def on_connect(c: Any, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        c.subscribe([(series, 1), (topic, 1)])

    def on_subscribe(*_args: Any) -> None:
        subscribed.set()

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        now = time.time()
        arrivals.append((now, message.topic, message.payload))
        if learn_series(message.topic, message.payload):
            return
        if len(seen) < points:
            if not seen:
                print(f"first {now!r}", flush=True)
            try:
                seen.update(r.point for r in decode_message(message.topic, message.payload))
            except Exception as exc:
                print(f"undecodable {exc}", flush=True)
            if len(seen) >= points:
                print(f"all {now!r}", flush=True)

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
    with open(out, "wb") as f:
        pickle.dump(arrivals, f)
    print("done", flush=True)


# -- the gateway process under cProfile ---------------------------------------------------

def gateway_profiled(site: str, out: str) -> int:
    """``occmon gateway SITE``, profiled between SIGUSR1 (start) and SIGUSR2 (stop, dump)."""
    import cProfile

    from occmon.cli import main

    # CPU time of this thread, not wall time: the event loop's idle epoll wait is no cost.
    profiler = cProfile.Profile(time.thread_time)
    signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())

    def stop(*_: Any) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR2, stop)
    return main(["gateway", site])


# -- reading a process from /proc ---------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` (the process line sums its threads)."""
    return sum(cpu_times(pid))


def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of every thread of ``pid``: stime is the kernel's share (socket calls,
    and on loopback the peer's TCP receive path runs in the sender's system time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def io_counts(path: str) -> dict[str, int]:
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines())}


def thread_writes(pid: int) -> dict[int, int]:
    """write_bytes per thread id (the main thread's id is the pid)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        counts = io_counts(f"{task}/io")
        if counts:
            out[int(task.name)] = counts.get("write_bytes", 0)
    return out


# -- accounting ---------------------------------------------------------------------------

@dataclass
class Accounting:
    expected: int = 0
    delivered: int = 0  # expected readings delivered with their right value
    missing: int = 0
    missing_polls: int = 0  # device ticks without a single reading: polls never made or lost
    duplicates: int = 0
    wrong: int = 0
    bad_quality: int = 0
    unexpected: int = 0  # readings of no point of the plant
    extra_polls: int = 0  # two polls of a device in one interval
    latencies: list[float] = field(default_factory=list)
    poll_lags: list[float] = field(default_factory=list)  # poll time - its grid tick
    # arrival - the plant's answer to the poll (the latency the gateway itself adds)
    response_latencies: list[float] = field(default_factory=list)
    unanswered: int = 0  # delivered readings the plant has no answer for (answers given)


def account(readings: Sequence[tuple[float, Delivered]], devices: int, values: int,
            interval: float, window: tuple[float, float],
            answers: dict[int, list[float]] | None = None) -> Accounting:
    """Check every delivered reading and find every expected one that never came.

    Each device polls on a grid of its own (its phase, every ``interval`` s): a poll is
    never early but may run late, so the phase is a low (10th percentile) offset of the
    device's poll times before the window, and a poll belongs to the last tick at or
    before it (``EARLY`` of an interval of slack for noise). Expected: every value of
    every device at every grid tick inside the window. A reading counts as delivered
    when its value is one the plant may have sent for its time; ``latencies`` are
    arrival - reading time, in-window only. With the plant's ``answers`` (device -> the
    moments it answered, in order), ``response_latencies`` are arrival - the first answer
    to that device at or after the reading's time (the poll's response): what the gateway
    adds after the device has spoken, without the plant's own queueing.
    """
    acc = Accounting()
    start, end = window
    seen: set[tuple[str, float]] = set()
    polls: dict[int, set[float]] = defaultdict(set)
    good: list[tuple[int, int, float, float]] = []  # device, value, time, arrival
    for arrival, r in readings:
        key = (r.point, r.time)
        if key in seen:
            acc.duplicates += 1
            continue
        seen.add(key)
        try:
            _, n_text, i_text = r.point.split("-")
            n, i = int(n_text), int(i_text)
        except ValueError:
            acc.unexpected += 1
            continue
        if not (0 <= n < devices and 0 <= i < values):
            acc.unexpected += 1
            continue
        polls[n].add(r.time)
        if not r.good or r.value is None:
            acc.bad_quality += int(start <= r.time < end)
            continue
        if r.value not in expected_values(n, i, r.time, interval):
            acc.wrong += 1
            continue
        good.append((n, i, r.time, arrival))
    phase: dict[int, float] = {}
    for n, times in polls.items():
        ordered = sorted(times)
        before = [t for t in ordered if t < start] or ordered[:1]
        ref = before[-1]
        offsets = [((t - ref + interval / 2) % interval) - interval / 2 for t in before]
        middle = ref + statistics.median(offsets)  # a typical poll: the grid is before it
        around = sorted(((t - middle + interval / 2) % interval) - interval / 2 for t in before)
        phase[n] = middle + around[len(around) // 10]  # polls are late, never early

    def tick(n: int, t: float) -> int:  # a poll up to 0.95 interval late keeps its tick
        return math.floor((t - phase[n]) / interval + EARLY)

    ticks: dict[int, range] = {}
    for n in range(devices):
        if n in phase:
            first = math.ceil((start - phase[n]) / interval)
            last = math.ceil((end - phase[n]) / interval)
            ticks[n] = range(first, last)
        else:  # never heard from: its whole window is missing
            ticks[n] = range(0, round((end - start) / interval))
    acc.expected = sum(len(r) for r in ticks.values()) * values
    got: set[tuple[int, int, int]] = set()
    for n, i, t, arrival in good:
        k = tick(n, t)
        if k in ticks[n]:
            if (n, i, k) in got:
                acc.extra_polls += 1
                continue
            got.add((n, i, k))
            acc.latencies.append(arrival - t)
            if answers is not None:
                moments = answers.get(n, [])
                j = bisect.bisect_left(moments, t)
                if j < len(moments) and moments[j] - t < interval / 2:
                    acc.response_latencies.append(arrival - moments[j])
                else:
                    acc.unanswered += 1
            if i == 0:
                acc.poll_lags.append(t - (phase[n] + k * interval))
    acc.delivered = len(got)
    acc.missing = acc.expected - acc.delivered
    polled = {(n, k) for n, _, k in got}
    acc.missing_polls = sum(1 for n, ks in ticks.items() for k in ks if (n, k) not in polled)
    return acc


def quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- profile grouping ---------------------------------------------------------------------

STAGES: list[tuple[str, tuple[str, ...]]] = [  # first match wins; paths relative to a root
    ("Modbus client (pymodbus, gateway/modbus/leantcp.py)",
     ("pymodbus/", "gateway/modbus/leantcp.py")),
    ("decode (gateway/modbus)", ("gateway/modbus/",)),
    ("normalise", ("gateway/normalise.py", "thresholds/", "occmon/plausibility.py",
                   "occmon/model.py", "occmon/quantities.py")),
    ("alarm evaluation", ("gateway/alarms/", "gateway/safety/", "gateway/interlock/")),
    ("queue commit", ("gateway/queue.py", "gateway/committer.py", "gateway/sink.py",
                      "gateway/readlog.py")),
    ("encode (occmon/payload, payload_v2)", ("occmon/payload.py", "occmon/payload_v2.py")),
    ("publish (publisher, paho)", ("gateway/publisher.py", "paho/", "occmon/mqttclient.py")),
    ("loop overhead (asyncio, polling)", ("asyncio/", "selectors.py", "gateway/polling.py")),
    ("other gateway (health, heartbeat)", ("gateway/", "occmon/", "ingest/", "prometheus_client/")),
]
UNATTRIBUTED = "other (unattributed)"


def _relative(filename: str) -> str | None:
    """A path relative to the project or site-packages; None for the stdlib and builtins."""
    if filename.startswith(str(ROOT) + "/"):
        return filename[len(str(ROOT)) + 1:]
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    if "/asyncio/" in filename:
        return "asyncio/" + filename.split("/asyncio/", 1)[1]
    if filename.endswith("/selectors.py"):
        return "selectors.py"
    return None


def _own_stage(filename: str) -> str | None:
    rel = _relative(filename)
    if rel is None:
        return None
    for stage, prefixes in STAGES:
        if rel.startswith(prefixes):
            return stage
    return None


def stage_breakdown(profile_file: str) -> list[tuple[str, float]]:
    """(stage, self seconds) of a cProfile dump, largest first. A function in the stdlib or
    a C builtin is charged to its callers' stages, in proportion to the time each caller
    spent in it."""
    import pstats

    stats: dict[Any, Any] = pstats.Stats(profile_file).stats  # type: ignore[attr-defined]
    memo: dict[Any, dict[str, float]] = {}

    def shares(func: Any, depth: int = 0) -> dict[str, float]:
        if func in memo:
            return memo[func]
        own = _own_stage(func[0])
        if own is not None:
            return {own: 1.0}
        entry = stats.get(func)
        callers = entry[4] if entry else {}
        total = sum(c[3] for c in callers.values()) if callers else 0.0
        if depth > 30 or not callers:
            return {UNATTRIBUTED: 1.0}
        memo[func] = {UNATTRIBUTED: 1.0}  # a cycle ends here
        out: dict[str, float] = defaultdict(float)
        for caller, c in callers.items():
            weight = c[3] / total if total > 0 else 1.0 / len(callers)
            for stage, part in shares(caller, depth + 1).items():
                out[stage] += weight * part
        memo[func] = dict(out)
        return memo[func]

    seconds: dict[str, float] = defaultdict(float)
    unattributed: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tt, _ct, _callers) in stats.items():
        for stage, part in shares(func).items():
            seconds[stage] += tt * part
            if stage == UNATTRIBUTED:
                unattributed[f"{Path(func[0]).name}:{func[1]}({func[2]})"] += tt * part
    top = sorted(unattributed.items(), key=lambda kv: -kv[1])[:5]
    breakdown = sorted(seconds.items(), key=lambda kv: -kv[1])
    return [(f"{stage}: {', '.join(f'{f} {s:.2f} s' for f, s in top)}"
             if stage == UNATTRIBUTED and top else stage, s) for stage, s in breakdown]


# -- processes ----------------------------------------------------------------------------

def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class Lines:
    """A child's stdout lines, read by a thread, waited for with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.put(line.strip())
        self.lines.put("")  # EOF

    def wait(self, prefix: str, timeout: float) -> str | None:
        """The next line starting with ``prefix`` (others are kept aside), or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line.startswith(prefix):
                return line
            if line == "":
                return None
        return None


def start_child(stack: contextlib.ExitStack, argv: list[str]) -> subprocess.Popen[str]:
    """This script in another process; closing its stdin tells it to finish."""
    child = subprocess.Popen([sys.executable, __file__, *argv], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=child_env())
    stack.callback(stop_child, child)
    return child


def stop_child(child: subprocess.Popen[str]) -> None:
    if child.stdin is not None and not child.stdin.closed:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


STOP_TIMEOUT = 60.0  # s from SIGTERM; then the gateway is killed (exit -9)
STOPS: dict[int, float] = {}  # pid -> s from SIGTERM to exit


def stop_gateway(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as a service manager stops it; the time it takes is kept in ``STOPS``."""
    if process.poll() is not None:
        return process.returncode
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        code = -9
    STOPS[process.pid] = time.monotonic() - started
    return code


def config_check_seconds(site: Path) -> tuple[float, int]:
    """Wall time of ``occmon config check SITE`` as its own process, and its exit code."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from occmon.cli import main; sys.exit(main())",
         "config", "check", str(site)],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stderr.decode()[-2000:], file=sys.stderr)
    return elapsed, done.returncode


def import_seconds() -> float:
    """Interpreter start plus ``import gateway.app``: the floor under start-up time."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gateway.app"], env=child_env(), check=True)
    return time.perf_counter() - started


# -- one run ------------------------------------------------------------------------------

@dataclass
class Rig:
    plant: subprocess.Popen[str]
    ports: list[int]
    broker_port: int
    workdir: Path


def start_gateway(site: Path, workdir: Path, profile_out: Path | None
                  ) -> subprocess.Popen[bytes]:
    if profile_out is None:
        argv = [sys.executable, "-c",
                "import sys; from occmon.cli import main; sys.exit(main())",
                "gateway", str(site)]
    else:
        argv = [sys.executable, __file__, "--gateway-child", str(site), str(profile_out)]
    log = (workdir / "gateway.log").open("wb")
    try:
        return subprocess.Popen(argv, env=child_env(), stdout=log, stderr=subprocess.STDOUT,
                                cwd=workdir)
    finally:
        log.close()


def run_once(args: argparse.Namespace, rig: Rig, number: int) -> dict[str, Any]:
    values = args.registers // 2
    points = args.devices * values
    workdir = rig.workdir / f"run-{number}"
    workdir.mkdir()
    site = write_site(workdir, rig.ports, values, args.interval, args.alarms == "on",
                      rig.broker_port, getattr(args, "event_loop", None),
                      getattr(args, "gateway_setting", None) or ())
    check_s, check_rc = config_check_seconds(site)
    figures: dict[str, Any] = {
        "run": number, "devices": args.devices, "registers": args.registers,
        "points": points, "interval_s": args.interval, "alarms": args.alarms,
        "profiled": bool(args.profile), "config_check_s": round(check_s, 3),
        "config_check_exit": check_rc,
    }
    arrivals_file = workdir / "arrivals.pickle"
    profile_out = workdir / "gateway.prof" if args.profile else None
    with contextlib.ExitStack() as stack:
        subscriber = start_child(stack, ["--subscribe", str(rig.broker_port), str(points),
                                         str(arrivals_file), args.topic])
        lines = Lines(subscriber)
        if lines.wait("ready", 20) is None:
            raise SystemExit("subscriber did not start")
        spawned = time.time()
        gateway = start_gateway(site, workdir, profile_out)
        stack.callback(stop_gateway, gateway)
        first = lines.wait("first", args.startup_timeout)
        startup = float(first.split()[1]) - spawned if first else math.nan
        all_seen = lines.wait("all", args.startup_timeout) if first else None
        all_points = float(all_seen.split()[1]) - spawned if all_seen else math.nan
        figures.update(startup_s=round(startup, 3), all_points_s=round(all_points, 3))
        if first is None:
            figures["gateway_exit"] = stop_gateway(gateway)
            return figures
        if args.startup_only:
            figures["gateway_exit"] = stop_gateway(gateway)
            figures["stop_s"] = round(STOPS.get(gateway.pid, math.nan), 2)
            stop_child(subscriber)
            figures["import_gateway_s"] = round(import_seconds(), 3)
            figures["load_average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
            return figures
        pid = gateway.pid
        # The warm-up starts once the gateway is up: every point seen (else its first reading).
        up = spawned + (startup if math.isnan(all_points) else all_points)
        time.sleep(max(0.0, up + args.warmup - time.time()))
        if gateway.poll() is not None:
            raise SystemExit(f"gateway exited early ({gateway.returncode}); "
                             f"see {workdir / 'gateway.log'}")
        if profile_out is not None:
            os.kill(pid, signal.SIGUSR1)
        w0, cpu0, io0 = time.time(), cpu_seconds(pid), io_counts(f"/proc/{pid}/io")
        system0 = cpu_times(pid)[1]
        threads0 = thread_writes(pid)
        rss: list[int] = []
        while time.time() < w0 + args.window:
            rss.append(status_kib(pid, "VmRSS"))
            time.sleep(min(1.0, max(0.0, w0 + args.window - time.time())))
        w1, cpu1, io1 = time.time(), cpu_seconds(pid), io_counts(f"/proc/{pid}/io")
        system1 = cpu_times(pid)[1]
        threads1 = thread_writes(pid)
        hwm = status_kib(pid, "VmHWM")
        if profile_out is not None:
            os.kill(pid, signal.SIGUSR2)
        load = os.getloadavg()
        time.sleep(args.drain)  # the window's last polls reach the subscriber
        figures["gateway_exit"] = stop_gateway(gateway)
        figures["stop_s"] = round(STOPS.get(gateway.pid, math.nan), 2)
        stop_child(subscriber)
    answers_file = workdir / "answers.pickle"
    answers = plant_answers(rig.plant, answers_file)
    if figures["gateway_exit"] != 0:  # its last words, before the work directory goes
        tail = (workdir / "gateway.log").read_text(errors="replace").splitlines()[-20:]
        print("gateway log (last lines):", *tail, sep="\n  ", file=sys.stderr)
    wall = w1 - w0
    write_bytes = io1.get("write_bytes", 0) - io0.get("write_bytes", 0)
    main_writes = threads1.get(pid, 0) - threads0.get(pid, 0)
    figures.update(
        window_s=round(wall, 1),
        cpu_pct=round(100 * (cpu1 - cpu0) / wall, 2),
        cpu_system_pct=round(100 * (system1 - system0) / wall, 2),
        rss_mb=round(statistics.mean(rss) / 1024, 1) if rss else math.nan,
        rss_max_mb=round(max(rss) / 1024, 1) if rss else math.nan,
        peak_rss_mb=round(hwm / 1024, 1),
        disk_kib_s=round(write_bytes / 1024 / wall, 1),
        disk_main_thread_kib_s=round(main_writes / 1024 / wall, 1),
        disk_other_threads_kib_s=round((write_bytes - main_writes) / 1024 / wall, 1),
        wchar_kib_s=round((io1.get("wchar", 0) - io0.get("wchar", 0)) / 1024 / wall, 1),
        load_average=" ".join(f"{x:.2f}" for x in load),
    )
    figures.update(delivery_figures(arrivals_file, args, (w0, w1), answers))
    if profile_out is not None and profile_out.exists():
        breakdown = stage_breakdown(str(profile_out))
        total = sum(s for _, s in breakdown) or 1.0
        figures["profile"] = [[stage, round(s, 3), round(100 * s / total, 1)]
                              for stage, s in breakdown]
        figures["profile_total_s"] = round(total, 3)
        if args.keep_profile:
            shutil.copyfile(profile_out, args.keep_profile)
        figures["cpu_s"] = round(cpu1 - cpu0, 3)
    return figures


def plant_answers(plant: subprocess.Popen[str], path: Path) -> dict[int, list[float]] | None:
    """The plant's answer moments so far (device -> times), or None if it cannot say."""
    if plant.stdin is None or plant.stdout is None or plant.poll() is not None:
        return None
    plant.stdin.write(f"answers {path}\n")
    plant.stdin.flush()
    if plant.stdout.readline().strip() != "answered":
        return None
    with path.open("rb") as f:
        answers: dict[int, list[float]] = pickle.load(f)
    return answers


def delivery_figures(arrivals_file: Path, args: argparse.Namespace,
                     window: tuple[float, float],
                     answers: dict[int, list[float]] | None = None) -> dict[str, Any]:
    with arrivals_file.open("rb") as f:
        arrivals: list[tuple[float, str, bytes]] = pickle.load(f)
    readings: list[tuple[float, Delivered]] = []
    undecodable = 0
    wire_bytes = wire_readings = 0
    for arrival, topic, payload in arrivals:
        if learn_series(topic, payload):  # payload v2's series: wire bytes, no readings
            if window[0] <= arrival < window[1]:
                wire_bytes += len(payload) + len(topic.encode())
            continue
        try:
            batch = decode_message(topic, payload)
        except Exception:
            undecodable += 1
            continue
        readings.extend((arrival, r) for r in batch)
        if window[0] <= arrival < window[1]:
            wire_bytes += len(payload) + len(topic.encode())
            wire_readings += len(batch)
    acc = account(readings, args.devices, args.registers // 2, args.interval, window,
                  answers)
    wall = window[1] - window[0]
    ms = [1000 * x for x in acc.latencies]
    answered_ms = [1000 * x for x in acc.response_latencies]
    return {
        "messages": len(arrivals),
        "undecodable": undecodable,
        "expected": acc.expected,
        "delivered": acc.delivered,
        "missing": acc.missing,
        "missing_polls": acc.missing_polls,
        "duplicates": acc.duplicates,
        "wrong_values": acc.wrong,
        "bad_quality": acc.bad_quality,
        "unexpected": acc.unexpected,
        "extra_polls": acc.extra_polls,
        "readings_per_s": round(acc.delivered / wall, 1),
        "bytes_per_reading": round(wire_bytes / wire_readings, 1) if wire_readings else math.nan,
        "readings_per_message": round(wire_readings / max(1, sum(
            1 for a, _, _ in arrivals if window[0] <= a < window[1])), 1),
        "latency_p50_ms": round(quantile(ms, 0.50), 2),
        "latency_p99_ms": round(quantile(ms, 0.99), 2),
        "latency_max_ms": round(max(ms), 2) if ms else math.nan,
        "response_latency_p50_ms": round(quantile(answered_ms, 0.50), 2),
        "response_latency_p99_ms": round(quantile(answered_ms, 0.99), 2),
        "response_latency_max_ms": round(max(answered_ms), 2) if answered_ms else math.nan,
        "unanswered_readings": acc.unanswered,
        "poll_lag_p50_ms": round(1000 * quantile(acc.poll_lags, 0.50), 1),
        "poll_lag_p99_ms": round(1000 * quantile(acc.poll_lags, 0.99), 1),
    }


# -- output -------------------------------------------------------------------------------

ROWS = [  # (label, key, target text)
    ("gateway CPU, % of one core", "cpu_pct", "<= 10 (500 dev), <= 3 (100 dev)"),
    ("  of which system (kernel)", "cpu_system_pct", ""),
    ("RSS MB, mean over window (max)", "rss", "<= 120"),
    ("peak RSS MB (VmHWM)", "peak_rss_mb", "<= 120"),
    ("disk writes KiB/s (write_bytes)", "disk_kib_s", "<= 200"),
    ("  of which main thread / other threads", "disk_split", ""),
    ("  write() syscalls KiB/s (wchar)", "wchar_kib_s", ""),
    ("wire bytes/reading (payload+topic)", "bytes_per_reading", "<= 40"),
    ("readings per message", "readings_per_message", ""),
    ("readings/s delivered", "readings_per_s", ""),
    ("expected / delivered / missing", "accounting", "missing 0"),
    ("  polls with no reading at all", "missing_polls", "0"),
    ("duplicates / wrong / bad quality", "faults", "0 / 0 / 0"),
    ("latency poll request -> subscriber p50 / p99 / max ms", "latency", ""),
    ("latency poll response -> subscriber p50 / p99 / max ms", "response_latency",
     "p99 <= 20"),
    ("poll lag behind its tick p50 / p99 ms", "poll_lag", ""),
    ("start-up s (first reading; all points)", "startup", "<= 3"),
    ("occmon config check s", "config_check_s", "<= 1"),
    ("stop s (SIGTERM -> exit)", "stop_s", ""),
    ("load average 1/5/15", "load_average", ""),
]


def cell(figures: dict[str, Any], key: str) -> str:
    f = figures
    if key == "rss":
        return f"{f.get('rss_mb')} ({f.get('rss_max_mb')})"
    if key == "disk_split":
        return f"{f.get('disk_main_thread_kib_s')} / {f.get('disk_other_threads_kib_s')}"
    if key == "accounting":
        return f"{f.get('expected')} / {f.get('delivered')} / {f.get('missing')}"
    if key == "faults":
        return f"{f.get('duplicates')} / {f.get('wrong_values')} / {f.get('bad_quality')}"
    if key == "latency":
        return f"{f.get('latency_p50_ms')} / {f.get('latency_p99_ms')} / {f.get('latency_max_ms')}"
    if key == "response_latency":
        return (f"{f.get('response_latency_p50_ms')} / {f.get('response_latency_p99_ms')} / "
                f"{f.get('response_latency_max_ms')}")
    if key == "poll_lag":
        return f"{f.get('poll_lag_p50_ms')} / {f.get('poll_lag_p99_ms')}"
    if key == "startup":
        return f"{f.get('startup_s')}; {f.get('all_points_s')}"
    return str(f.get(key, "-"))


def print_table(runs: list[dict[str, Any]]) -> None:
    head = runs[0]
    title = (f"{head['devices']} devices x {head['registers']} registers "
             f"({head['points']} points), {head['interval_s']:g} s, alarms {head['alarms']}"
             + (", under cProfile" if head["profiled"] else ""))
    print(f"\n{title}\n")
    print("| figure | " + " | ".join(f"run {r['run']}" for r in runs) + " | target |")
    print("| --- | " + " | ".join("---" for _ in runs) + " | --- |")
    rows = ROWS
    if head.get("window_s") is None:  # start-up only
        rows = [r for r in ROWS
                if r[1] in ("startup", "config_check_s", "stop_s", "load_average")]
        rows.insert(1, ("interpreter + import gateway.app s", "import_gateway_s", ""))
    for label, key, target in rows:
        print(f"| {label} | " + " | ".join(cell(r, key) for r in runs) + f" | {target} |")
    for r in runs:
        if "profile" in r:
            print(f"\nrun {r['run']}: gateway main-thread self time by stage (cProfile, "
                  f"window only): {r['profile_total_s']} s profiled of {r['cpu_s']} s "
                  "process CPU\n")
            print("| stage | s | % |\n| --- | --- | --- |")
            for stage, seconds, pct in r["profile"]:
                print(f"| {stage} | {seconds} | {pct} |")


def failed(figures: dict[str, Any]) -> list[str]:
    why = []
    if figures.get("gateway_exit") not in (0, None):
        why.append(f"gateway exited {figures['gateway_exit']} "
                   f"(-9: no clean stop in {STOP_TIMEOUT:g} s)")
    if figures.get("config_check_exit") != 0:
        why.append("config check failed")
    if math.isnan(figures.get("startup_s", math.nan)):
        why.append("no reading ever arrived")
    for key in ("missing", "wrong_values", "undecodable", "unexpected"):
        if figures.get(key):
            why.append(f"{figures[key]} {key.replace('_', ' ')}")
    return why


@contextlib.contextmanager
def rig(args: argparse.Namespace) -> Iterator[Rig]:
    from tests.servers import running_mosquitto

    base = Path(tempfile.mkdtemp(prefix="occmon-gwbench-", dir=args.workdir))
    with contextlib.ExitStack() as stack:
        if not args.keep:  # the first callback registered runs last: after the children
            stack.callback(shutil.rmtree, base, ignore_errors=True)
        plant = start_child(stack, ["--serve", str(args.devices), str(args.registers // 2),
                                    str(args.interval)])
        line = plant.stdout.readline() if plant.stdout else ""
        try:
            ports = [int(p) for p in json.loads(line)]
        except ValueError:
            raise SystemExit(f"plant did not start: {line!r}") from None
        (base / "mosquitto").mkdir()
        broker = stack.enter_context(running_mosquitto(base / "mosquitto"))
        yield Rig(plant, ports, broker.port, base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--registers", type=int, default=20,
                        help="holding registers per device, two per FLOAT32 value")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, s")
    parser.add_argument("--alarms", choices=("on", "off"), default="on")
    parser.add_argument("--event-loop", choices=("auto", "uvloop", "asyncio"),
                        help="the gateway's event loop (gateway.event_loop; default: auto)")
    parser.add_argument("--gateway-setting", action="append", metavar="KEY=VALUE",
                        help="a key of the site's gateway section, e.g. publish_batch=500 "
                             "(repeatable)")
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="s from the gateway being up (every point seen at the "
                             "subscriber) to the window")
    parser.add_argument("--startup-timeout", type=float, default=600.0,
                        help="s to wait for the first reading, and then for every point")
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--drain", type=float, default=5.0,
                        help="s after the window for its last readings to arrive")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep-profile", metavar="FILE",
                        help="with --profile: copy the raw cProfile stats to FILE (pstats)")
    parser.add_argument("--profile", action="store_true",
                        help="run the gateway under cProfile; print self time by stage")
    parser.add_argument("--points", type=int,
                        help="size the site by points instead: devices = points / values")
    parser.add_argument("--startup-only", action="store_true",
                        help="time config check and start-up only, no window")
    parser.add_argument("--workdir", help="where the site file and queue go (default: TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--topic", default=f"occmon/+/{SITE}/readings/#",
                        help="what the subscriber takes as readings (MQTT filter)")
    parser.add_argument("--subscribe", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--gateway-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), int(args.serve[1]), float(args.serve[2]))
        return 0
    if args.subscribe:
        subscribe(int(args.subscribe[0]), int(args.subscribe[1]), *args.subscribe[2:])
        return 0
    if args.gateway_child:
        return gateway_profiled(*args.gateway_child)
    if args.registers < 2 or args.registers % 2:
        parser.error("--registers must be an even number >= 2 (FLOAT32 values)")
    if args.points:
        args.devices = math.ceil(args.points / (args.registers // 2))
    runs: list[dict[str, Any]] = []
    # a bench stopped with SIGTERM stops its gateway, broker and plant on the way out: left
    # running, a gateway polling a plant that is gone loads the machine for the next run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with rig(args) as plant:
        for number in range(1, args.runs + 1):
            figures = run_once(args, plant, number)
            figures["failures"] = failed(figures)
            print("RESULT " + json.dumps(figures), flush=True)
            runs.append(figures)
    print_table(runs)
    problems = [f"run {r['run']}: {why}" for r in runs for why in r["failures"]]
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
