"""Benchmark the InfluxDB sink into a real VictoriaMetrics (Debian ``victoria-metrics``).

1. steady state: readings/s through ``write_readings`` (durable outbox commit) until the
   server confirmed all of them (end to end);
2. backlog drain: readings queued while the server is down, then the rate at which the
   forwarder drains them once it is back.

    .venv/bin/python bench/sink.py [--readings 200000] [--batch 500] [--backlog 200000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.influx import InfluxSink
from occmon.model import Reading
from tests.influx_servers import VictoriaMetrics, _binary

POINTS = [f"point-{i:02d}" for i in range(20)]


def batches(total: int, size: int, t0: float) -> list[list[Reading]]:
    out: list[list[Reading]] = []
    for start in range(0, total, size):
        out.append([Reading(POINTS[i % len(POINTS)], "h2s", t0 + i * 0.001, float(i % 97),
                            "mg/m3") for i in range(start, min(total, start + size))])
    return out


def steady(server: VictoriaMetrics, workdir: Path, total: int, size: int) -> tuple[float, float]:
    sink = InfluxSink(server.url, "t", "occmon", "occmon", workdir / "steady.db", site="bench")
    work = batches(total, size, time.time() - 3600)
    began = time.perf_counter()
    for batch in work:
        sink.write_readings(batch)
    appended = time.perf_counter() - began
    assert sink.flush(600), sink.stats()
    done = time.perf_counter() - began
    sink.close()
    return total / appended, total / done


def drain(server: VictoriaMetrics, workdir: Path, total: int, size: int) -> float:
    server.stop()
    sink = InfluxSink(server.url, "t", "occmon", "occmon", workdir / "backlog.db", site="bench",
                      max_backoff=0.5)
    for batch in batches(total, size, time.time() - 7200):
        sink.write_readings(batch)
    assert sink.stats()["pending_telemetry"] == total
    server.start()
    began = time.perf_counter()
    assert sink.flush(600), sink.stats()
    elapsed = time.perf_counter() - began
    sink.close()
    return total / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--backlog", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "vm").mkdir()
        server = VictoriaMetrics(_binary("victoria-metrics", "victoria-metrics"), workdir / "vm")
        server.start()
        try:
            append_rate, e2e_rate = steady(server, workdir, args.readings, args.batch)
            drain_rate = drain(server, workdir, args.backlog, args.batch)
        finally:
            server.stop()
    print(f"steady: {args.readings} readings in batches of {args.batch}")
    print(f"  write_readings (durable outbox commit): {append_rate:10.0f} readings/s")
    print(f"  end to end (confirmed by the server):   {e2e_rate:10.0f} readings/s")
    print(f"backlog drain after an outage ({args.backlog} readings): {drain_rate:.0f} readings/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
