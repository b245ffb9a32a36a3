"""Benchmark: closing a day, and the exceedance history through the API.

Run: .venv/bin/python bench/records.py [--points 1000] [--readings 86400] [--workers 1]
         [--path new|old|both] [--malloc tuned|default] [--shifts none|demo|night]
         [--events 100000] [--requests 300] [--part close|api|both]

close: the analyzer of ``ingest.daily`` (``_point_day``: day record, exceedances, TWA per
shift, STEL/MAC/PE or LEX/peak/dose by agent) for ``--points`` points of one day at 1 Hz,
from arrays in memory. **Compute only**: loading 86.4 M readings from SQLite and writing the
ledger are not in the timed region. Points cycle through the demo agents (H2S MAC, NH3
TWA+STEL, cement dust TWA+PE, noise LEX+peak); values are a lognormal background at 0.3 of
the limit with one 10-min surge, 1 % rejected readings. ``--shifts none``: no configured
shifts (the day and its three 8-h shifts for C_TWA); ``demo``: the demo's three shifts, each
also a record; ``night``: 22:00/06:00/14:00 shifts, the first running past midnight. Points
are independent, so ``--workers`` splits them.

``--path old`` times the analyzer as it was before one step series per point (kept verbatim
below as ``_legacy_*``: every metric rebuilt its series from the window's readings);
``--path both`` runs both on the same points, in blocks of 10 alternating which goes first,
and checks that every record and exceedance is identical (compared as JSON). ``--malloc
tuned`` (the default) sets glibc's thresholds as ``compute_day`` does
(``ingest.daily.memory``); ``default`` leaves glibc's.

api: a store holding ``--events`` exceedances spread over a year (12 points, 6 types, all
statuses), the API served by uvicorn on a loopback port, ``--requests`` GETs of
/api/v1/exceedances with varied filters and pages through httpx; p50/p95/max latency.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import thresholds  # noqa: E402
from ingest.daily.analyze import (  # noqa: E402
    EMPTY,
    Outcome,
    Series,
    _event,
    clip,
    num,
    verdict_fields,
)
from ingest.daily.close import _base, _event_content, _point_day  # noqa: E402
from ingest.daily.memory import keep_freed_memory  # noqa: E402
from ingest.daily.spec import PointSpec, instruments_on, point_spec  # noqa: E402
from ingest.daily.store import Draft  # noqa: E402
from ingest.daily.windows import Window, day_window, shift_windows, zone  # noqa: E402
from occmon.config import load  # noqa: E402
from occmon.config.records import Shift  # noqa: E402
from occmon.config.schema import SiteConfig  # noqa: E402

DAY = dt.date(2026, 5, 12)
DEMO = ROOT / "examples" / "demo-plant.yaml"
AGENTS = ("desulf-h2s-1", "ammonia-nh3-1", "mill-dust-total", "mill-noise-1")
BLOCK = 10
NIGHT = (Shift(name="night", start="22:00", hours=8), Shift(name="day", start="06:00", hours=8),
         Shift(name="swing", start="14:00", hours=8))


# ---- the analyzer before one series per point, verbatim (ingest/daily/analyze.py, close.py) --

def _legacy_stats(series: Series, win: Window, hold: float) -> dict[str, Any]:
    t, v = clip(series, win.start, win.end)
    good = v[np.isfinite(v)]
    cover = 0.0
    if t.size:
        s = thresholds.StepSeries.build(t, v, max_gap=hold, start=win.start, end=win.end)
        cover = s.monitored() / s.span if s.span > 0 else 0.0
    return {"readings": int(good.size), "coverage_pct": num(100.0 * cover, 2),
            "min": num(float(good.min())) if good.size else None,
            "max": num(float(good.max())) if good.size else None,
            "mean": num(float(good.mean())) if good.size else None, "_coverage": cover}


def _legacy_chemical(spec: PointSpec, series: Series, win: Window, twa_wins: Sequence[Window],
              min_cov: float, out: Outcome, cover: float) -> None:
    t, v = clip(series, win.start, win.end)  # shifts may run past the window: clip each
    hold = spec.hold("concentration")
    lim, pc_twa = spec.limits, spec.pc_twa
    if pc_twa is not None:
        twas, lowers = [], []
        for w in twa_wins:
            st = thresholds.shift_twa(*clip(series, w.start, w.end), start=w.start,
                                      hours=w.hours, max_gap=hold, min_coverage=min_cov)
            rf = thresholds.reduction_factor_day(w.hours) if w.hours <= 24 else 1.0
            verdict = thresholds.twa_verdict(st, pc_twa, rf)
            twas.append(st.c_twa)
            lowers.append(st.c_twa_lower)
            out.verdicts[f"twa:{w.name}"] = verdict
            if st.monitored_s > 0:
                out.means[w.name] = st.c_twa * 8.0 / w.hours if w.hours else float("nan")
            if verdict == "fail":
                value = st.c_twa if math.isfinite(st.c_twa) else st.c_twa_lower
                out.events.append(_event("twa", "c_twa", w.start, w.end, value, pc_twa * rf,
                                         w.name, rf=num(rf, 4), coverage=num(st.coverage, 4)))
        finite = [x for x in twas if math.isfinite(x)]
        out.fields["c_twa"] = num(max(finite)) if finite else None
        out.fields["c_twa_lower"] = num(max(lowers)) if lowers else None
    if lim.pc_stel is not None:
        stel = thresholds.stel_max(t, v, start=win.start, end=win.end, max_gap=hold)
        over = math.isfinite(stel.stel_max) and stel.stel_max > lim.pc_stel
        out.fields["stel_max"] = num(stel.stel_max)
        out.verdicts["stel"] = thresholds.evidence_verdict(over, cover, min_cov)
        if over:
            out.events.append(_event("stel", "stel_15min", stel.window_end - 900.0,
                                     stel.window_end, stel.stel_max, lim.pc_stel))
    if lim.mac is not None:
        mac = thresholds.mac_exceedances(t, v, mac=lim.mac, start=win.start, end=win.end,
                                         max_gap=hold)
        out.fields["mac_exceedances"] = len(mac.exceedances)
        out.verdicts["mac"] = thresholds.evidence_verdict(mac.exceeded, cover, min_cov)
        for iv in mac.exceedances:
            out.events.append(_event("mac", "concentration", iv.start, iv.end, iv.max, lim.mac,
                                     duration_s=num(iv.duration_s, 3)))
    if pc_twa is not None and lim.pc_stel is None:
        pe = thresholds.peak_excursions(t, v, pc_twa=pc_twa, start=win.start, end=win.end,
                                        max_gap=hold)
        out.fields["peak_excursions"] = len(pe.excursions)
        out.fields["pe_broken"] = list(pe.broken)
        out.verdicts["peak"] = thresholds.evidence_verdict(bool(pe.broken), cover, min_cov)
        if pe.broken:
            for iv in pe.excursions:
                # the ceiling (5 x PC-TWA) is the limit an excursion over it broke
                limit = 5 * pc_twa if iv.max > 5 * pc_twa else 3 * pc_twa
                out.events.append(_event("peak", "excursion", iv.start, iv.end, iv.max,
                                         limit, broken=list(pe.broken),
                                         duration_s=num(iv.duration_s, 3),
                                         ceiling=num(5 * pc_twa)))


def _legacy_noise(spec: PointSpec, series: Mapping[str, Series], win: Window,
           twa_wins: Sequence[Window], min_cov: float, out: Outcome) -> None:
    assert spec.agent.noise is not None
    limit = spec.agent.noise.lex_8h
    laeq = series.get("laeq", EMPTY)
    hold = spec.hold("laeq")
    lexes, doses = [], []
    for w in twa_wins:
        sn = thresholds.shift_noise(*clip(laeq, w.start, w.end), start=w.start, hours=w.hours,
                                    max_gap=hold, min_coverage=min_cov)
        verdict = sn.verdict(limit)
        out.verdicts[f"noise:{w.name}"] = verdict
        lexes.append(sn.lex_8h)
        doses.append(sn.dose_percent)
        if math.isfinite(sn.laeq):
            out.means[w.name] = sn.laeq
        if verdict == "fail":
            value = sn.lex_8h if math.isfinite(sn.lex_8h) else sn.lex_8h_lower
            out.events.append(_event("noise", "lex_8h", w.start, w.end, value, limit, w.name,
                                     dose_pct=num(sn.dose_percent, 2)))
    finite = [x for x in lexes if math.isfinite(x)]
    out.fields["lex_8h"] = num(max(finite), 2) if finite else None
    dfin = [x for x in doses if math.isfinite(x)]
    out.fields["noise_dose_pct"] = num(max(dfin), 2) if dfin else None
    peaks = clip(series.get("lcpeak", EMPTY), win.start, win.end)
    good = peaks[1][np.isfinite(peaks[1])]
    out.fields["noise_peak_db"] = num(float(good.max()), 2) if good.size else None
    peak_limit = thresholds.impulse_peak_limit(1)  # the most lenient band (n <= 100)
    if peak_limit is not None and good.size:
        over = thresholds.mac_exceedances(*peaks, mac=peak_limit, start=win.start, end=win.end,
                                          max_gap=spec.hold("lcpeak"))
        out.verdicts["noise_peak"] = "fail" if over.exceeded else "pass"
        for iv in over.exceedances:
            out.events.append(_event("peak", "lcpeak", iv.start, iv.end, iv.max, peak_limit))
    dosimeter = clip(series.get("noise_dose", EMPTY), win.start, win.end)[1]
    dgood = dosimeter[np.isfinite(dosimeter)]
    out.fields["dosimeter_dose_pct"] = num(float(dgood.max()), 2) if dgood.size else None


def _legacy_radiation(spec: PointSpec, series: Mapping[str, Series], win: Window, min_cov: float,
               out: Outcome, cover: float) -> None:
    """The day's Hp(10) against the GBZ 128 investigation level shared over 365 daily periods
    (an occmon policy for a daily check; the statutory period is 1-3 months)."""
    v = clip(series.get("hp10", EMPTY), win.start, win.end)[1]
    good = v[np.isfinite(v)]
    # a cumulative reading: the day's dose is the sum of its rises (a reset starts again)
    dose = float(np.clip(np.diff(good), 0.0, None).sum()) if good.size > 1 else None
    limit_usv = thresholds.investigation_level(365) * 1000.0
    out.fields["dose_usv"] = num(dose, 3)
    out.fields["dose_limit_usv"] = num(limit_usv, 3)
    rates = clip(series.get("dose_rate", EMPTY), win.start, win.end)[1]
    rgood = rates[np.isfinite(rates)]
    out.fields["dose_rate_max"] = num(float(rgood.max()), 3) if rgood.size else None
    over = dose is not None and dose > limit_usv
    out.verdicts["dose"] = thresholds.evidence_verdict(over, cover, min_cov)
    if over and dose is not None:
        out.events.append(_event("dose", "hp10", win.start, win.end, dose, limit_usv))


def _legacy_analyze(spec: PointSpec, series: Mapping[str, Series], win: Window,
            twa_wins: Sequence[Window], min_cov: float) -> Outcome:
    """Figures, verdicts and exceedances of one point over ``win``; TWA/LEX per ``twa_wins``."""
    out = Outcome()
    primary = series.get(spec.primary, EMPTY)
    stats = _legacy_stats(primary, win, spec.hold(spec.primary))
    cover = float(stats.pop("_coverage"))
    out.fields.update(stats)
    if spec.kind in ("chemical", "dust"):
        _legacy_chemical(spec, primary, win, twa_wins, min_cov, out, cover)
    elif spec.kind == "noise":
        _legacy_noise(spec, series, win, twa_wins, min_cov, out)
    elif spec.kind == "radiation":
        _legacy_radiation(spec, series, win, min_cov, out, cover)
    return out


def _legacy_point_day(config: SiteConfig, spec: PointSpec, day: dt.date,
                      series: Mapping[str, Series], alarms: list[dict[str, Any]],
                      min_cov: float) -> tuple[list[Draft], list[dict[str, Any]], Outcome]:
    tz_name = config.site.timezone
    tz = zone(tz_name)
    dwin = day_window(day, tz)
    shifts = shift_windows(day, tz, config.records)
    iso = day.isoformat()
    out = _legacy_analyze(spec, series, dwin, shifts, min_cov)
    events = [_event_content(config, spec, iso, ev, tz_name) for ev in out.events]
    instruments = instruments_on(spec, day)
    content = {**_base(config, spec, iso, dwin, None, tz_name), **out.fields,
               **verdict_fields(out), "instruments": instruments, "alarms": alarms,
               "exceedances": sorted(e["id"] for e in events),
               "shifts": [w.name for w in shifts]}
    key = f"{spec.point.id}|{iso}|"
    drafts = [Draft(key, "daily-record", spec.point.area, spec.point.id, spec.agent.id, "",
                    content)]
    if config.records is not None and config.records.shifts:
        for w in shifts:
            sout = _legacy_analyze(spec, series, w, [w], min_cov)
            scontent = {**_base(config, spec, iso, w, w.name, tz_name), **sout.fields,
                        **verdict_fields(sout), "instruments": instruments,
                        "alarms": [a for a in alarms if w.start <= a["time"] < w.end]}
            drafts.append(Draft(f"{spec.point.id}|{iso}|{w.name}", "daily-record",
                                spec.point.area, spec.point.id, spec.agent.id, w.name,
                                scontent))
    return drafts, events, out


def _config(shifts: str = "none") -> SiteConfig:
    config = load(DEMO)
    if shifts == "none" or config.records is None:
        return config.model_copy(update={"records": None})
    if shifts == "night":
        records = config.records.model_copy(update={"shifts": list(NIGHT), "jobs": []})
        return config.model_copy(update={"records": records})
    return config


def _series(kind: str, limit: float, n: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    w = day_window(DAY, zone("Asia/Shanghai"))
    t = w.start + np.arange(n, dtype=np.float64) * (86400.0 / n)
    if kind == "noise":
        v = 80 + rng.normal(0, 3, n)
        surge = slice(n // 3, n // 3 + n // 144)
        v[surge] += 15
        peaks = v + 25
        return {"laeq": (t, v), "lcpeak": (t, peaks)}
    v = rng.lognormal(np.log(0.3 * limit), 0.3, n)
    v[n // 2: n // 2 + n // 144] = 1.5 * limit
    v[rng.random(n) < 0.01] = np.nan
    return {"concentration": (t, v)}


def _dump(result: tuple[list[Draft], list[dict[str, Any]], Outcome]) -> str:
    drafts, events, out = result
    return json.dumps([[dataclasses.asdict(d) for d in drafts], events, out.means],
                      sort_keys=True, ensure_ascii=False)


def _chunk(args: tuple[list[int], int, str, str, str]) -> dict[str, float]:
    indexes, n, path, shifts, malloc = args
    if malloc == "tuned":
        keep_freed_memory()
    config = _config(shifts)
    specs = {p: point_spec(config, config.point(p)) for p in AGENTS}
    runs = {"new": _point_day, "old": _legacy_point_day}
    paths = ["new", "old"] if path == "both" else [path]
    totals = {"new": 0.0, "old": 0.0, "events": 0, "records": 0, "points": 0, "same": 0}
    for block, i in enumerate(indexes):
        spec: PointSpec = specs[AGENTS[i % len(AGENTS)]]
        limit = spec.limits.mac or spec.pc_twa or 85.0
        series = _series(spec.kind, limit, n, i)
        dumps = []
        for which in paths if (block // BLOCK) % 2 == 0 else paths[::-1]:
            t0 = time.perf_counter()
            result = runs[which](config, spec, DAY, series, [], 0.75)
            totals[which] += time.perf_counter() - t0
            if path == "both":
                dumps.append(_dump(result))
        totals["events"] += len(result[1])
        totals["records"] += len(result[0])
        totals["points"] += 1
        totals["same"] += path != "both" or dumps[0] == dumps[1]
    return totals


def bench_close(points: int, n: int, workers: int, path: str, shifts: str, malloc: str) -> None:
    chunks = [(list(range(w, points, workers)), n, path, shifts, malloc) for w in range(workers)]
    wall0 = time.perf_counter()
    if workers == 1:
        results = [_chunk(chunks[0])]
    else:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_chunk, chunks))
    wall = time.perf_counter() - wall0
    total = {k: sum(r[k] for r in results) for k in results[0]}
    print(f"close: {points} points x {n} readings, {workers} worker(s), shifts {shifts}, "
          f"malloc {malloc}: {int(total['records'])} records, {int(total['events'])} "
          f"exceedances per path; wall incl. data generation {wall:.1f} s")
    for which in ("new", "old"):
        if path in (which, "both"):
            slowest = max(r[which] for r in results)  # workers run in parallel
            print(f"  {which}: compute {slowest:.2f} s (slowest worker; sum "
                  f"{total[which]:.2f} s, {1000 * total[which] / points:.2f} ms/point)")
    if path == "both":
        print(f"  old / new {total['old'] / total['new']:.2f}x; identical records and "
              f"exceedances: {int(total['same'])} of {int(total['points'])} points")


def _fill(path: Path, config: SiteConfig, events: int) -> None:
    from ingest.daily.store import RecordsStore
    from occmon import ledger

    rng = np.random.default_rng(1)
    year0 = dt.datetime(2025, 5, 12, tzinfo=dt.UTC).timestamp()
    starts = np.sort(year0 + rng.random(events) * 365 * 86400)
    types = ("twa", "stel", "mac", "peak", "noise", "dose")
    statuses = ("open", "actioned", "rechecked", "closed")
    points = [(f"p{i:02d}", ("mill", "desulf", "ammonia")[i % 3],
               ("h2s", "ammonia", "cement-dust", "noise")[i % 4]) for i in range(12)]
    with RecordsStore(path) as store, store.transaction() as conn:
        for k, start in enumerate(starts.tolist()):
            point, area, agent = points[k % 12]
            kind = types[k % 6]
            day = dt.datetime.fromtimestamp(start, dt.UTC).date().isoformat()
            body = {"id": f"{day}.{point}.{kind}.{k}", "site": config.site.id, "area": area,
                    "point": point, "agent": {"id": agent, "zh": agent, "en": agent},
                    "day": day, "type": kind, "metric": kind, "start": start,
                    "end": start + 600, "peak": 25.0, "limit": 20.0, "ratio": 1.25,
                    "start_local": day, "end_local": day, "shift": None, "detail": {},
                    "sources": ["GBZ 2.1-2019"]}
            e = ledger.append(conn, kind="exceedance", site=config.site.id, point=point,
                              day=day, content=body, time=start)
            conn.execute(
                "INSERT INTO exceedances (id, site, area, point, agent, type, day, start, end, "
                "peak, limit_value, ratio, status, seq, status_seq, content) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (body["id"], config.site.id, area, point, agent, kind, day, start, start + 600,
                 25.0, 20.0, 1.25, statuses[k % 4] if k % 7 else "open", e.seq, e.content))
        conn.execute("ANALYZE")


def bench_api(events: int, requests: int) -> None:
    import httpx

    from api.app import create_app
    from tests.api.serve import serve

    tmp = Path(tempfile.mkdtemp(prefix="occmon-bench-"))
    config = load(DEMO).model_copy(update={})
    path = tmp / "occmon.db"
    t0 = time.perf_counter()
    _fill(path, config, events)
    print(f"api: {events} exceedances over a year written in {time.perf_counter() - t0:.1f} s")
    rng = np.random.default_rng(2)
    filters: list[dict[str, str | int]] = []
    for i in range(requests):
        f: dict[str, str | int] = {"limit": int(rng.choice([50, 100, 200]))}
        choice = i % 6
        if choice == 1:
            f["point"] = f"p{rng.integers(12):02d}"
        elif choice == 2:
            f["type"] = str(rng.choice(["twa", "stel", "mac", "peak", "noise", "dose"]))
        elif choice == 3:
            f["status"] = "open"
            f["area"] = str(rng.choice(["mill", "desulf", "ammonia"]))
        elif choice == 4:
            month = int(rng.integers(1, 12))
            f["start"] = f"2025-{month:02d}-01T00:00:00+08:00"
            f["end"] = f"2025-{month + 1:02d}-01T00:00:00+08:00"
        elif choice == 5:
            f["agent"] = "h2s"
            f["offset"] = int(rng.integers(0, 5000))
        filters.append(f)
    times = []
    with serve(create_app(config, path)) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": "demo-officer-key"}) as http:
        for f in filters[:10]:
            http.get("/api/v1/exceedances", params=f).raise_for_status()  # warm-up
        for f in filters:
            t1 = time.perf_counter()
            r = http.get("/api/v1/exceedances", params=f)
            times.append(time.perf_counter() - t1)
            r.raise_for_status()
    ms = sorted(x * 1000 for x in times)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"api: {len(ms)} requests of /api/v1/exceedances: p50 {statistics.median(ms):.1f} ms, "
          f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--readings", type=int, default=86400)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--path", choices=("new", "old", "both"), default="new")
    p.add_argument("--malloc", choices=("tuned", "default"), default="tuned")
    p.add_argument("--shifts", choices=("none", "demo", "night"), default="none")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--part", choices=("close", "api", "both"), default="both")
    a = p.parse_args()
    if a.part in ("close", "both"):
        bench_close(a.points, a.readings, a.workers, a.path, a.shifts, a.malloc)
    if a.part in ("api", "both"):
        bench_api(a.events, a.requests)


if __name__ == "__main__":
    main()
