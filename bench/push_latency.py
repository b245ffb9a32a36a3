"""Benchmark alarm pushes: event raised -> site annunciator (MQTT) and -> webhook received.

The whole path is real: the gateway (``gateway.app.Gateway``: alarm engine, queue,
publisher) polls a simulated gas detector (pymodbus TCP, in a process of its own, as in
``bench/alarm_latency.py``, whose site, plant process and background load this reuses);
the alarm event goes through a private Mosquitto to ingest (``python -m ingest``, its own
process: store, then the notifier) which pushes it to the annunciator topic and POSTs it to
a webhook receiver (a local HTTP server). The annunciator panel (an MQTT subscriber) and the
receiver stamp each arrival with ``time.time()``.

"Event raised" is the moment the gateway hands the crossing reading to the alarm engine
(an observer of the gateway's sink, just before the safety shell; the engine raises in the
same call, high-alarm on-delay 0). Meanwhile ``--rate`` readings/s of background traffic go
through the same gateway queue, broker and ingest into the store.

Every trial is a first push (the alarm is acknowledged and returns to normal between
trials), and every trial after the first is raised while the desulf area's grouping window
(``group_window``, 30 s) opened by the previous push is still open: before issue 13 these
waited for the window's end.

    .venv/bin/python bench/push_latency.py [--trials 40] [--rate 10000] [--poll 0.1]
                                           [--timeout 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import alarm_latency as al  # noqa: E402

from gateway.app import Gateway  # noqa: E402
from occmon.config import load  # noqa: E402
from tests.notify.annunciator import Annunciator  # noqa: E402
from tests.notify.servers import HttpSink, http_sink  # noqa: E402
from tests.servers import mosquitto_binary, running_mosquitto  # noqa: E402

ALARM = "desulf-h2s-1:process"
WINDOW = 30.0


def site(tmp: Path, broker_port: int, poll: float, hook_url: str) -> Path:
    """alarm_latency's site, plus ingest's store and the ``notify:`` section."""
    path = al.site(tmp, broker_port, poll)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["store"] = {"path": str(tmp / "occmon.db")}
    doc["notify"] = {
        "channels": [{"id": "annunciator", "type": "mqtt"},
                     {"id": "ops", "type": "webhook", "url": hook_url}],
        "contacts": [{"id": "lead", "name": "值班长"}],
        "groups": [{"id": "control-room", "contacts": ["lead"],
                    "channels": ["annunciator", "ops"]}],
        "escalation": [{"group": "control-room", "after": 0}],
        "group_window": WINDOW,
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class Trial:
    raised: float
    panel: float
    hook: float
    in_window: bool  # raised within WINDOW of the previous push of the area


def pushes(panel: Annunciator, hook: HttpSink) -> tuple[list[float], list[float]]:
    """Arrival times of the alarm's 'raised' pushes at the panel and at the webhook."""
    def raised(body: dict[str, Any]) -> bool:
        return any(a["alarm_id"] == ALARM and a["event"] == "raised" for a in body["alarms"])

    return ([p.received for p in panel.of(ALARM) if raised(p.body)],
            [r.received for r in hook.of("/ops") if raised(r.body)])


async def trials(config_path: Path, count: int, rate: int, panel: Annunciator,
                 hook: HttpSink, timeout: float) -> tuple[list[Trial], dict[str, float]]:
    config = load(config_path)
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "alarm_latency.py"), "--plant", str(config_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    if (await child.stdout.readline()).strip() != b"ready":
        raise SystemExit("the plant process did not start")
    plant = al.Plant(child)
    ingest = subprocess.Popen([sys.executable, "-m", "ingest", str(config_path)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log: list[str] = []
    assert ingest.stderr is not None
    reader = threading.Thread(target=lambda: log.extend(
        line.decode(errors="replace") for line in ingest.stderr or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while not any(" connected to " in line for line in log):  # then it subscribes
        if ingest.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("ingest did not connect:\n" + "".join(log[-20:]))
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    broker = config.broker
    assert broker is not None
    gateway = Gateway(config, config_path, broker_host=broker.host, broker_port=broker.port)
    crossings: list[float] = []

    def watch(batch: Any) -> None:  # runs just before the safety shell sees the batch
        for r in batch:
            if r.point == "desulf-h2s-1" and r.value is not None and r.value >= 10.0:
                crossings.append(time.time())
                return

    gateway.sink.observers.insert(0, watch)
    stats: dict[str, float] = {}
    await gateway.start()
    load_task = asyncio.create_task(al.background(gateway, rate, stats))
    out: list[Trial] = []
    last_push = 0.0
    try:
        await asyncio.sleep(3.0)  # ingest subscribes, the background settles
        for n in range(count + 1):  # trial 0 warms up (connections) and is not counted
            crossings.clear()
            await plant.set_value("gp1-h2s", al.ALARM_PPM * 1.5)
            deadline = time.monotonic() + (max(30.0, timeout) if n == 0 else timeout)
            while time.monotonic() < deadline:
                at_panel, at_hook = pushes(panel, hook)
                if len(at_panel) > n and len(at_hook) > n and crossings:
                    break
                await asyncio.sleep(0.01)
            at_panel, at_hook = pushes(panel, hook)
            if len(at_panel) <= n or len(at_hook) <= n or not crossings:
                print(f"trial {n}: no push in time (panel {len(at_panel)}, webhook "
                      f"{len(at_hook)}, crossing {bool(crossings)})", file=sys.stderr)
                break
            if n:
                out.append(Trial(crossings[0], at_panel[n], at_hook[n],
                                 crossings[0] - last_push < WINDOW))
            last_push = min(at_panel[n], at_hook[n])
            # acknowledge (as the API would, through the engine) and return to normal, so the
            # next raise is a first push again
            gateway.safety.command(json.dumps({
                "v": 1, "request_id": f"bench-{n}", "command": "acknowledge",
                "alarm_id": ALARM, "user": "bench", "comment": "push latency"}).encode())
            await plant.set_value("gp1-h2s", 0.3)
            deadline = time.monotonic() + 10
            while await plant.fan_commanded("fan-1") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
    finally:
        load_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await load_task
        counters = gateway.counters()
        stats["published"] = counters.get("publisher.rows_acked", 0)
        stats["backlog"] = counters.get("queue.rows", 0)
        await gateway.stop()
        await asyncio.sleep(1.0)  # ingest takes what is in flight
        ingest.send_signal(signal.SIGTERM)
        try:
            ingest.wait(timeout=15)
        except subprocess.TimeoutExpired:
            ingest.kill()
            ingest.wait()
        reader.join(timeout=5)
        if ingest.returncode not in (0, -signal.SIGTERM):
            print("".join(log[-20:]), file=sys.stderr)
        assert child.stdin is not None
        child.stdin.close()
        await asyncio.wait_for(child.wait(), 10)
    stats["rate"] = stats.get("readings", 0) / max(stats.get("seconds", 1), 1e-9)
    return out, stats


def ingested_readings(config_path: Path) -> int:
    """Readings ingest took in (its ``readings`` counter; rows are fewer: the wire carries
    milliseconds, so the background's readings 1 us apart are upserted onto one row)."""
    db = load(config_path).store.path
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT value FROM counters WHERE name = 'readings'").fetchone()
    return int(row[0]) if row else 0


def p99(xs: list[float]) -> float:
    return xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rate", type=int, default=10_000, help="background readings/s")
    parser.add_argument("--poll", type=float, default=0.1, help="gas detector poll interval")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="s to wait for a trial's pushes (more to time an old grouping)")
    args = parser.parse_args()
    mosquitto_binary()
    with (tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp)) as broker,
          http_sink() as hook):
        path = site(Path(tmp), broker.port, args.poll, hook.url("/ops"))
        panel = Annunciator(broker.host, broker.port, "bench")
        try:
            done, stats = asyncio.run(trials(path, args.trials, args.rate, panel, hook,
                                                  args.timeout))
        finally:
            panel.close()
        stored = ingested_readings(path)
    if not done:
        raise SystemExit("no trial completed")
    to_panel = sorted((t.panel - t.raised) * 1000 for t in done)
    to_hook = sorted((t.hook - t.raised) * 1000 for t in done)
    print(f"push latency over {len(done)} trials ({sum(t.in_window for t in done)} raised "
          f"inside the area's open grouping window), background {stats['rate']:,.0f} "
          f"readings/s: {stats.get('readings', 0):,.0f} handed to the gateway, "
          f"{stats.get('published', 0):,.0f} rows published (queue left "
          f"{stats.get('backlog', 0):,.0f}), {stored:,} taken in by ingest")
    for name, xs in (("raised -> annunciator (MQTT)", to_panel),
                     ("raised -> webhook received", to_hook)):
        print(f"  {name}: p50 {statistics.median(xs):.1f} ms, p99 {p99(xs):.1f} ms, "
              f"max {xs[-1]:.1f} ms")
    verdict = "met" if max(p99(to_panel), p99(to_hook)) <= 1000 else "NOT met"
    print(f"  target p99 <= 1000 ms: {verdict}")


if __name__ == "__main__":
    main()
