"""Benchmark an MQTT flood against Modbus polling: max poll delay and intake throughput.

A private Mosquitto; the whole gateway (``gateway.app.Gateway``) with one Modbus gas
detector on a real pymodbus server polled every ``--interval`` s and one MQTT detector; a
vendor client publishes ``--messages`` garbage QoS 0 messages to the MQTT detector's topic
as fast as paho sends them (the scenario is ``tests/gateway_core/flood.py``, shared with
the test). Prints the largest gap between two poll starts, the largest delay against the
schedule, polls kept, the intake's throughput (messages read or dropped-and-counted per
second) and whether the Modbus point went bad or faulted.

``--root DIR`` imports ``gateway``, ``occmon``, ``thresholds`` and ``tests`` from DIR, to
compare with an older tree on the same machine.

    .venv/bin/python bench/mqtt_flood.py [--messages 20000] [--interval 0.2] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from tests.gateway_core.flood import run_flood
    from tests.servers import running_mosquitto

    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            broker_dir = Path(tmp) / "mosquitto"
            broker_dir.mkdir()
            with running_mosquitto(broker_dir) as broker:
                result = asyncio.run(run_flood(Path(tmp), broker.host, broker.port,
                                               messages=args.messages,
                                               interval=args.interval))
        print(json.dumps({
            "run": run, "messages": result.messages, "interval_s": result.interval,
            "max_poll_gap_s": round(result.max_gap, 3),
            "max_poll_delay_s": round(result.max_delay, 3),
            "polls": result.polls, "expected_polls": round(result.expected_polls, 1),
            "flood_s": round(result.flood_seconds, 2),
            "intake_msgs_per_s": round(result.throughput),
            "handled": result.handled, "dropped_counted": result.dropped,
            "dead_letters": result.dead_letters,
            "bad_modbus_readings": result.bad_modbus_readings,
            "fault_alarms": result.fault_alarms,
        }), flush=True)


if __name__ == "__main__":
    main()
