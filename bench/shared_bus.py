"""Benchmark shared-bus isolation: 8 units on one connection, 5 answering, 3 silent, 1 Hz.

For each link kind (``tcp``, ``rtu-tcp`` serial server, ``serial`` RS-485 on a pty pair,
``dtu`` dialling in), a real pymodbus server answers for unit ids 1-5 and stays silent for
6-8 (tests/gateway/shared_bus_rig.py). This process polls all eight with the real drivers
(``build_drivers`` + ``run_polled``, one task per unit) for ``--seconds`` and reports, for
the five live units, the polls due at 1 Hz, the polls made, the polls answered, and the
poll duration (p50/p99/max, which includes waiting for the bus); for the connection, how
often it was dialled and how many requests went to the silent units.

``--timeout``/``--retries`` are the devices' (a silent unit costs timeout x (retries+1)
of bus time per attempt). ``--root DIR`` imports ``gateway`` and ``occmon`` from DIR (e.g.
an export of an earlier commit) for an A/B on the same machine; older trees know only
the ``tcp`` and ``serial`` links.

    .venv/bin/python bench/shared_bus.py [--links tcp,rtu-tcp,serial,dtu] [--seconds 30]
        [--timeout 0.25] [--retries 1] [--root DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def load_rig(root: Path) -> Any:
    """The test rig, by file (so ``--root`` can supply an older gateway underneath it)."""
    sys.path.insert(0, str(root))
    spec = importlib.util.spec_from_file_location(
        "shared_bus_rig", ROOT / "tests" / "gateway" / "shared_bus_rig.py")
    assert spec is not None and spec.loader is not None
    rig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rig)
    return rig


async def run_link(rig: Any, link: str, seconds: float, timeout: float,
                   retries: int) -> dict[str, Any]:
    from gateway.modbus.drivers import build_drivers
    from gateway.polling import run_polled
    from tests.gateway.helpers import RecordingSink, bindings_for

    async with rig.bus(link) as endpoint:
        config = rig.site(link, endpoint, interval=1.0, timeout=timeout, retries=retries)
        drivers = build_drivers(config, bindings_for(config), ROOT / "bench" / "x.yaml")
        counted = {d.config.unit_id: rig.CountedPolls(d) for d in drivers}
        sink = RecordingSink()
        tasks = [asyncio.create_task(run_polled(c, sink)) for c in counted.values()]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        counters = dict(drivers[0].hub.counters)
        for driver in drivers:
            await driver.close()
    due = math.floor(seconds)  # 1 Hz from t = 0: ticks 0 .. seconds-1 inside the window
    live = [counted[u] for u in rig.LIVE]
    durations = sorted(d * 1000 for c in live for d in c.durations)
    good = sum(min(c.good, due) for c in live)
    return {
        "link": link,
        "live_polls_due": due * len(live),
        "live_polls_made": sum(min(c.polls, due) for c in live),
        "live_polls_answered": good,
        "live_answered_pct": round(100 * good / (due * len(live)), 1),
        "live_poll_ms_p50": round(statistics.median(durations), 1),
        "live_poll_ms_p99": round(durations[max(0, math.ceil(0.99 * len(durations)) - 1)], 1),
        "live_poll_ms_max": round(durations[-1], 1),
        # from the third round on: the first round's silent requests no longer in the way
        "live_poll_ms_max_from_round_3": round(
            max(d * 1000 for c in live for d in c.durations[2:]), 1),
        "silent_units_polls_answered": sum(counted[u].good for u in rig.SILENT),
        "requests_to_silent_units": counters.get("unit-silent", "n/a"),
        "silent_polls_refused_in_backoff": counters.get("unit-backoff", "n/a"),
        "connects": counters.get("connects", "n/a"),
        "requests": counters.get("requests", 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", default="tcp,rtu-tcp,serial,dtu")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=0.25)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    rig = load_rig(args.root.resolve())
    rows = []
    for link in args.links.split(","):
        row = asyncio.run(run_link(rig, link, args.seconds, args.timeout, args.retries))
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n{'link':8} {'answered':>14} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
          f"{'max 3+':>7} {'to silent':>9} {'connects':>8}")
    for row in rows:
        answered = f"{row['live_polls_answered']}/{row['live_polls_due']}"
        print(f"{row['link']:8} {answered:>9} {row['live_answered_pct']:>4}% "
              f"{row['live_poll_ms_p50']:>7} {row['live_poll_ms_p99']:>7} "
              f"{row['live_poll_ms_max']:>7} {row['live_poll_ms_max_from_round_3']:>7} "
              f"{row['requests_to_silent_units']!s:>9} "
              f"{row['connects']!s:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
