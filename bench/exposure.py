"""Benchmark: every exposure metric for 1,000 points x 86,400 readings (one day at 1 Hz).

Run: .venv/bin/python bench/exposure.py [--points 1000] [--readings 86400] [--workers 2]
                                        [--path new|old|both]

Each point: 1 Hz with jitter, 1 % rejected readings (NaN gaps), lognormal background at 0.3
of the limit with three 5-min peak excursions and one 10-min MAC exceedance; noise around
80 dB(A). Data generation is outside the timed region.

``new`` is what occmon calls: ``assess_point`` (C_TWA, STEL, MAC, PE from one step series)
plus ``shift_noise``. ``old`` is the code before the optimisation, kept verbatim below
(``_Legacy*``: five series builds per point, STEL by ``np.interp`` of the knot index, sums
by BLAS ``dot``), so one run gives the ratio on the same machine load. ``both`` runs the two
on the same points (in blocks, alternating which goes first) and prints the ratio and the
largest difference between their results. Points are independent, so they are split across
``--workers`` processes.
glibc's malloc is told to keep freed memory (mmap/trim thresholds), as an analyzer process
would be tuned: without it every large numpy temporary is a fresh mmap and page faults
dominate on this machine.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

import thresholds as thr
from thresholds.types import ArrayLike, BoolArray, FloatArray

_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 28), "MALLOC_TRIM_THRESHOLD_": str(1 << 29)}
NEW = ("assess_point (TWA, STEL, MAC, PE)", "shift_noise (LAeq, LEX,8h, dose)")
OLD = ("shift_twa", "stel_max", "mac_exceedances", "peak_excursions",
       "shift_noise (LAeq, LEX,8h, dose)")
EIGHT_H = 8 * 3600.0
BLOCK = 10
_LN10_10 = float(np.log(10.0) / 10.0)


# ---- the code before the optimisation, verbatim in substance (thresholds/ as of the issue) --

@dataclass(frozen=True)
class _LegacySeries:
    t: FloatArray
    s: FloatArray
    v: FloatArray
    start: float
    end: float

    @classmethod
    def build(cls, times: ArrayLike, values: ArrayLike, *, max_gap: float,
              start: float | None = None, end: float | None = None) -> _LegacySeries:
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(t)):
            raise ValueError("times must be finite")
        if t.size > 1 and np.flatnonzero(np.diff(t) <= 0).size:
            raise ValueError("times must be strictly increasing")
        s = t + max_gap
        if t.size > 1:
            s[:-1] = np.minimum(s[:-1], t[1:])
        lo = float(t[0]) if start is None and t.size else (start or 0.0)
        hi = float(s[-1]) if end is None and t.size else (end if end is not None else lo)
        keep = np.isfinite(v) & (s > lo) & (t < hi)
        if not keep.all():
            t, s, v = t[keep], s[keep], v[keep]
        return cls(np.clip(t, lo, hi), np.clip(s, lo, hi), v, float(lo), float(hi))

    @property
    def durations(self) -> FloatArray:
        return self.s - self.t

    @property
    def span(self) -> float:
        return self.end - self.start

    def monitored(self) -> float:
        return float(np.sum(self.durations))

    def integral(self) -> float:
        return float(np.dot(self.v, self.durations))

    def knots(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        n = self.t.size
        d = self.durations
        x = np.empty(2 * n)
        x[0::2], x[1::2] = self.t, self.s
        ci = np.cumsum(self.v * d)
        ck = np.cumsum(d)
        cum_i = np.empty(2 * n)
        cum_k = np.empty(2 * n)
        cum_i[1::2], cum_i[0::2] = ci, ci - self.v * d
        cum_k[1::2], cum_k[0::2] = ck, ck - d
        return x, cum_i, cum_k

    def unique_knots(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        x, cum_i, cum_k = self.knots()
        if x.size < 2:
            return x, cum_i, cum_k
        keep = np.empty(x.size, dtype=np.bool_)
        keep[0] = True
        np.greater(x[1:], x[:-1], out=keep[1:])
        return x[keep], cum_i[keep], cum_k[keep]

    def runs(self, mask: BoolArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        if not mask.any():
            empty = np.empty(0)
            return empty, empty, empty
        contiguous = np.asarray(self.s[:-1] >= self.t[1:], dtype=np.bool_)
        prev = np.zeros_like(mask)
        prev[1:] = mask[:-1] & contiguous
        first = np.flatnonzero(mask & ~prev)
        nxt = np.zeros_like(mask)
        nxt[:-1] = mask[1:] & contiguous
        last = np.flatnonzero(mask & ~nxt)
        peak = np.maximum.reduceat(np.where(mask, self.v, -np.inf), first)
        return self.t[first], self.s[last], peak


def _lerp_at(query: FloatArray, x: FloatArray, *ys: FloatArray) -> list[FloatArray]:
    m = x.size
    pos = np.interp(query, x, np.arange(m, dtype=np.float64))
    idx = np.minimum(pos.astype(np.intp), m - 2)
    frac = pos - idx
    return [y[idx] + frac * (y[idx + 1] - y[idx]) for y in ys]


def _legacy_stel(times: FloatArray, values: FloatArray, *, start: float, end: float,
                 max_gap: float, window: float = 900.0, mwc: float = 0.75) -> thr.StelResult:
    series = _LegacySeries.build(times, values, max_gap=max_gap, start=start, end=end)
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    lo, hi = start + window, end
    x, cum_i, cum_k = series.unique_knots()
    if hi < lo or x.size < 2:
        return thr.StelResult(float("nan"), float("nan"), 0, cover)
    edges = np.array([lo, hi])
    i_lo, k_lo = _lerp_at(edges - window, x, cum_i, cum_k)
    i_hi, k_hi = _lerp_at(edges, x, cum_i, cum_k)
    i_before, k_before = _lerp_at(x - window, x, cum_i, cum_k)
    i_after, k_after = _lerp_at(x + window, x, cum_i, cum_k)
    ends = np.concatenate((x, x + window, edges))
    integral = np.concatenate((cum_i - i_before, i_after - cum_i, i_hi - i_lo))
    held = np.concatenate((cum_k - k_before, k_after - cum_k, k_hi - k_lo))
    inside = (ends >= lo) & (ends <= hi)
    ok = inside & (held >= mwc * window) & (held > 0)
    means = np.divide(integral, held, out=np.full(held.shape, np.nan), where=ok)
    means[~inside] = np.nan
    if np.all(np.isnan(means)):
        return thr.StelResult(float("nan"), float("nan"), int(inside.sum()), cover)
    k = int(np.nanargmax(means))
    return thr.StelResult(float(means[k]), float(ends[k]), int(inside.sum()), cover)


def _legacy_twa(times: FloatArray, values: FloatArray, *, start: float, hours: float,
                max_gap: float) -> thr.ShiftTWA:
    shift_s = hours * 3600.0
    series = _LegacySeries.build(times, values, max_gap=max_gap, start=start,
                                 end=start + shift_s)
    monitored, integral = series.monitored(), series.integral()
    c_twa = integral / monitored * shift_s / EIGHT_H if monitored > 0 else float("nan")
    return thr.ShiftTWA(c_twa, integral / EIGHT_H, monitored / shift_s, monitored / shift_s,
                        monitored, shift_s, "missing", thr.DEFAULT_MIN_COVERAGE)


def _legacy_intervals(series: _LegacySeries, threshold: float) -> tuple[thr.Interval, ...]:
    a, b, m = series.runs(series.v > threshold)
    return tuple(thr.Interval(float(x), float(y), float(z))
                 for x, y, z in zip(a.tolist(), b.tolist(), m.tolist(), strict=True))


def _legacy_mac(times: FloatArray, values: FloatArray, *, mac: float, start: float, end: float,
                max_gap: float) -> thr.MacResult:
    series = _LegacySeries.build(times, values, max_gap=max_gap, start=start, end=end)
    top = float(np.max(series.v)) if series.v.size else float("nan")
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    return thr.MacResult(mac, _legacy_intervals(series, mac), top, cover)


def _legacy_pe(times: FloatArray, values: FloatArray, *, pc_twa: float, start: float,
               end: float, max_gap: float) -> thr.PeakResult:
    series = _LegacySeries.build(times, values, max_gap=max_gap, start=start, end=end)
    excursions = _legacy_intervals(series, 3.0 * pc_twa)
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    return thr.PeakResult(pc_twa, excursions, (), cover)   # rules: as new, not timed apart


def _legacy_noise(times: FloatArray, levels: FloatArray, *, start: float, hours: float,
                  max_gap: float) -> thr.ShiftNoise:
    shift_s = hours * 3600.0
    energy = np.exp(_LN10_10 * np.asarray(levels, dtype=np.float64))
    series = _LegacySeries.build(times, energy, max_gap=max_gap, start=start,
                                 end=start + shift_s)
    held = series.monitored()
    level = float(10.0 * np.log10(series.integral() / held))
    lower = float(10.0 * np.log10(series.integral() / EIGHT_H))
    lex = thr.lex_8h(level, hours)
    return thr.ShiftNoise(level, lex, lower, float(thr.noise_dose_percent(lex)),
                          held / shift_s, thr.DEFAULT_MIN_COVERAGE)


# ---- the benchmark ----

def _point(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    times = np.arange(n, dtype=np.float64) + rng.uniform(0.0, 0.2, n)
    values = rng.lognormal(np.log(0.3), 0.3, n)
    for start in rng.integers(0, n - 600, 3):
        values[start:start + 300] = 4.0            # 5-min excursion above 3 x PC-TWA
    mac_at = int(rng.integers(0, n - 600))
    values[mac_at:mac_at + 600] = 8.0              # 10 min above MAC 5
    values[rng.random(n) < 0.01] = np.nan
    levels = 80.0 + 5.0 * rng.standard_normal(n)
    return times, values, levels


def _new(times: FloatArray, values: FloatArray, levels: FloatArray, day: float,
         marks: list[float]) -> list[Any]:
    marks.append(time.perf_counter())
    point = thr.assess_point(times, values, start=0.0, end=day, max_gap=2.0, mac=5.0,
                             pc_twa=1.0)
    marks.append(time.perf_counter())
    noise = thr.shift_noise(times, levels, start=0.0, hours=day / 3600.0, max_gap=2.0)
    marks.append(time.perf_counter())
    return [point.twa, point.stel, point.mac, point.peaks, noise]


def _old(times: FloatArray, values: FloatArray, levels: FloatArray, day: float,
         marks: list[float]) -> list[Any]:
    common = {"start": 0.0, "max_gap": 2.0}
    marks.append(time.perf_counter())
    out: list[Any] = [_legacy_twa(times, values, hours=day / 3600.0, **common)]
    marks.append(time.perf_counter())
    out.append(_legacy_stel(times, values, end=day, **common))
    marks.append(time.perf_counter())
    out.append(_legacy_mac(times, values, mac=5.0, end=day, **common))
    marks.append(time.perf_counter())
    out.append(_legacy_pe(times, values, pc_twa=1.0, end=day, **common))
    marks.append(time.perf_counter())
    out.append(_legacy_noise(times, levels, hours=day / 3600.0, **common))
    marks.append(time.perf_counter())
    return out


def _rel(a: float, b: float) -> float:
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def _differences(new: list[Any], old: list[Any]) -> dict[str, float]:
    twa, stel, mac, peaks, noise = new
    o_twa, o_stel, o_mac, o_peaks, o_noise = old
    return {"c_twa": _rel(twa.c_twa, o_twa.c_twa), "stel_max": _rel(stel.stel_max,
                                                                     o_stel.stel_max),
            "lex_8h": _rel(noise.lex_8h, o_noise.lex_8h),
            "mac/pe intervals differ": float(mac.exceedances != o_mac.exceedances
                                             or peaks.excursions != o_peaks.excursions)}


def _run(seed: int, points: int, n: int, path: str) -> dict[str, Any]:
    """Points in blocks of ``BLOCK``: each block's data is timed on each path in turn (the
    first path alternating), so both see the same data and the same machine load, and the
    old path's spinning BLAS threads do not land inside the new path's timing."""
    rng = np.random.default_rng(seed)
    day = float(n)
    spent: dict[str, list[float]] = {"new": [0.0] * len(NEW), "old": [0.0] * len(OLD)}
    cpu = {"new": 0.0, "old": 0.0}
    worst: dict[str, float] = {}
    paths = ["new", "old"] if path == "both" else [path]
    for b0 in range(0, points, BLOCK):
        block = [_point(rng, n) for _ in range(min(BLOCK, points - b0))]
        results: dict[str, list[list[Any]]] = {}
        for which in paths if (b0 // BLOCK) % 2 == 0 else paths[::-1]:
            results[which] = []
            c0 = time.process_time()
            for times, values, levels in block:
                marks: list[float] = []
                run = _new if which == "new" else _old
                results[which].append(run(times, values, levels, day, marks))
                for k in range(len(marks) - 1):
                    spent[which][k] += marks[k + 1] - marks[k]
            cpu[which] += time.process_time() - c0
        if len(results) == 2:
            for new, old in zip(results["new"], results["old"], strict=True):
                for key, d in _differences(new, old).items():
                    worst[key] = max(worst.get(key, 0.0), d)
    return {**spent, "cpu": cpu, "worst": worst}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--readings", type=int, default=86_400)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--path", choices=("new", "old", "both"), default="new")
    args = p.parse_args()
    if any(os.environ.get(k) != v for k, v in _MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_MALLOC_ENV})
    shares = [args.points // args.workers + (i < args.points % args.workers)
              for i in range(args.workers)]
    wall0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(pool.map(_run, [args.seed + i for i in range(args.workers)], shares,
                              [args.readings] * args.workers, [args.path] * args.workers))
    wall = time.perf_counter() - wall0
    print(f"points={args.points} readings/point={args.readings} workers={args.workers} "
          f"path={args.path} numpy={np.__version__}")
    totals = {}
    for which, names in (("new", NEW), ("old", OLD)):
        if args.path not in (which, "both"):
            continue
        spent = [sum(part[which][k] for part in parts) for k in range(len(names))]
        totals[which] = sum(spent)
        cpu = sum(part["cpu"][which] for part in parts)
        print(f"{which} path, metric time summed over workers:")
        for name, secs in zip(names, spent, strict=True):
            print(f"  {name:36s} {secs:7.3f} s")
        print(f"  {'total metric time':36s} {totals[which]:7.3f} s   "
              f"({totals[which] / args.points * 1e3:.2f} ms/point); process CPU {cpu:.3f} s")
    if len(totals) == 2:
        print(f"old / new = {totals['old'] / totals['new']:.2f}x (same run, same points)")
        worst = {k: max(part["worst"][k] for part in parts) for k in parts[0]["worst"]}
        print("largest new-vs-old difference: " + ", ".join(
            f"{k} {v:.1e}" if "differ" not in k else f"{k}: {'yes' if v else 'no'}"
            for k, v in worst.items()))
    print(f"wall time incl. data generation: {wall:.2f} s")


if __name__ == "__main__":
    main()
