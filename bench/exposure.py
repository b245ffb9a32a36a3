"""Benchmark: every exposure metric for 1,000 points x 86,400 readings (one day at 1 Hz).

Run: .venv/bin/python bench/exposure.py [--points 1000] [--readings 86400] [--workers 2]

Each point: 1 Hz with jitter, 1 % rejected readings (NaN gaps), lognormal background at 0.3
of the limit with three 5-min peak excursions and one 10-min MAC exceedance; noise around
80 dB(A). Data generation is outside the timed region; each metric is timed on its own and
the wall time of the whole run is printed too. Points are independent, so they are split
across ``--workers`` processes. glibc's malloc is told to keep freed memory (mmap/trim
thresholds), as an analyzer process would be tuned: without it every large numpy temporary
is a fresh mmap and page faults dominate on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import thresholds as thr

_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 28), "MALLOC_TRIM_THRESHOLD_": str(1 << 29)}
METRICS = ("shift_twa", "stel_max", "mac_exceedances", "peak_excursions",
           "shift_noise (LAeq, LEX,8h, dose)")


def _run(seed: int, points: int, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    base = np.arange(n, dtype=np.float64)
    timing = [0.0] * len(METRICS)
    day = float(n)
    common = {"start": 0.0, "max_gap": 2.0}
    for _ in range(points):
        times = base + rng.uniform(0.0, 0.2, n)
        values = rng.lognormal(np.log(0.3), 0.3, n)
        for start in rng.integers(0, n - 600, 3):
            values[start:start + 300] = 4.0            # 5-min excursion above 3 x PC-TWA
        mac_at = int(rng.integers(0, n - 600))
        values[mac_at:mac_at + 600] = 8.0              # 10 min above MAC 5
        values[rng.random(n) < 0.01] = np.nan
        levels = 80.0 + 5.0 * rng.standard_normal(n)
        marks = [time.perf_counter()]
        thr.shift_twa(times, values, hours=day / 3600.0, **common)
        marks.append(time.perf_counter())
        thr.stel_max(times, values, end=day, **common)
        marks.append(time.perf_counter())
        thr.mac_exceedances(times, values, mac=5.0, end=day, **common)
        marks.append(time.perf_counter())
        thr.peak_excursions(times, values, pc_twa=1.0, end=day, **common)
        marks.append(time.perf_counter())
        thr.shift_noise(times, levels, hours=day / 3600.0, **common)
        marks.append(time.perf_counter())
        for k in range(len(METRICS)):
            timing[k] += marks[k + 1] - marks[k]
    return timing


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--readings", type=int, default=86_400)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if any(os.environ.get(k) != v for k, v in _MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_MALLOC_ENV})
    shares = [args.points // args.workers + (i < args.points % args.workers)
              for i in range(args.workers)]
    wall0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(pool.map(_run, [args.seed + i for i in range(args.workers)], shares,
                              [args.readings] * args.workers))
    wall = time.perf_counter() - wall0
    cpu = [sum(part[k] for part in parts) for k in range(len(METRICS))]
    print(f"points={args.points} readings/point={args.readings} workers={args.workers} "
          f"numpy={np.__version__}")
    print("metric CPU time summed over workers:")
    for name, secs in zip(METRICS, cpu, strict=True):
        print(f"  {name:36s} {secs:7.3f} s")
    total = sum(cpu)
    print(f"  {'total metric CPU':36s} {total:7.3f} s   ({total / args.points * 1e3:.2f} ms/point)")
    print(f"wall time incl. data generation: {wall:.2f} s; metric time per worker "
          f"(max): {max(sum(part) for part in parts):.2f} s")


if __name__ == "__main__":
    main()
