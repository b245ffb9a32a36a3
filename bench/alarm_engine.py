"""The alarm engine's cost per reading on a quiet site: a good poll's values and the ticks.

The gateway hands the engine each poll's good values at once (``AlarmEngine.observe_good``
over a per-device plan made once); other readings go one by one (``observe``). This runs a
site of ``--points`` quiet points, ``--per-device`` to a device, every point sampled once a
second for ``--seconds`` simulated seconds and the engine ticked twice a second (as
``gateway.safety.Safety`` does), in process, no I/O: it prints the CPU a value costs each
way and what the ticks cost per simulated second. Every value is below every set-point, so
each takes the engine's short way (the gateway's common case); batched, a device's plan
goes lazy after its first quiet poll, and its polls are then kept in the plan in one step
(``gateway.alarms.engine.GoodPlan``).

    .venv/bin/python bench/alarm_engine.py [--points 5000] [--per-device 10] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import time

import thresholds
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.events import Tick
from gateway.alarms.spec import PointSpec
from occmon.model import Quality


def site(points: int) -> AlarmEngine:
    """``points`` H2S points with GBZ/T 223's set-points (1/2 MAC, MAC, 2 x MAC: 5, 10 and
    20 mg/m3), engine started."""
    h2s = thresholds.setpoints(thresholds.lookup("h2s"), profile="GBZ/T 223")
    engine = AlarmEngine([PointSpec(f"p{i}", h2s.unit, setpoints=h2s, poll_interval=1.0,
                                    on_delay=1.0, off_delay=2.0)
                          for i in range(points)])
    engine.handle(Tick(0.0))
    return engine


def run(points: int, per_device: int, seconds: int, batched: bool) -> dict[str, float]:
    """CPU seconds spent on values and on ticks over ``seconds`` simulated seconds."""
    engine = site(points)
    devices = [[(j, f"p{d * per_device + j}", "concentration") for j in range(per_device)]
               for d in range(points // per_device)]
    plans = [engine.good_plan(series) for series in devices] if batched else []
    values = [1.0 + 0.01 * j for j in range(per_device)]
    on_values = on_ticks = 0.0
    ticks_per_second = 2
    for second in range(1, seconds + 1):
        for k, series in enumerate(devices):
            t = second + k / len(devices)
            start = time.process_time()
            if batched:
                engine.observe_good(plans[k], t, values)
            else:
                for i, point, quantity in series:
                    engine.observe(point, t, values[i], Quality.GOOD, None, quantity)
            on_values += time.process_time() - start
            if k % (len(devices) // ticks_per_second or 1) == 0:
                start = time.process_time()
                engine.handle(Tick(t))
                on_ticks += time.process_time() - start
    n = seconds * len(devices) * per_device
    return {"us_per_value": 1e6 * on_values / n, "tick_ms_per_s": 1e3 * on_ticks / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--per-device", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args(argv)
    one = run(args.points, args.per_device, args.seconds, batched=False)
    batch = run(args.points, args.per_device, args.seconds, batched=True)
    figures = {
        "points": args.points, "per_device": args.per_device, "seconds": args.seconds,
        "observe_us_per_value": round(one["us_per_value"], 3),
        "observe_good_us_per_value": round(batch["us_per_value"], 3),
        "tick_ms_per_s": round(batch["tick_ms_per_s"], 3),
        "values_ms_per_s": round(batch["us_per_value"] * args.points / 1e3, 3),
    }
    print("RESULT " + json.dumps(figures))
    print(f"\n{args.points} quiet points, {args.per_device} a device, 1 Hz, ticks at 2 Hz\n")
    print("| figure | value |\n| --- | --- |")
    print(f"| `observe`, one call a value: us a value | {figures['observe_us_per_value']} |")
    print(f"| `observe_good`, a poll at once: us a value | "
          f"{figures['observe_good_us_per_value']} |")
    print(f"| values, ms of CPU a second (batched) | {figures['values_ms_per_s']} |")
    print(f"| ticks, ms of CPU a second | {figures['tick_ms_per_s']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
