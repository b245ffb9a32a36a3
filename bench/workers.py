"""Benchmark: the registries' CSV import, and one worker's file through the API.

Run: .venv/bin/python bench/workers.py [--workers 10000] [--assignments 100000]
         [--per-instrument 50] [--years 30] [--requests 50] [--part import|file|both]
         [--path /api/v1/workers/{employee}] [--window-days 92] [--keep DIR]

import: a site store made from the demo plant; ``--workers`` workers, ``--assignments``
assignments (``--per-instrument`` consecutive 30-day wearings per TLD, each TLD worn by
workers in turn) written as CSV, then entered by the real CLI in subprocesses, timed wall
clock (Python start-up included): ``occmon instruments import`` (not in the target),
``occmon workers import`` and ``occmon assignments import`` (the target: <= 10 s together).
Then ``ledger.verify`` and ``registry.verify_rows`` over the result (timed, no target).

file: worker E00000 wore the demo's electronic dosimeter raddos-1 for ``--years`` years
(one assignment a quarter, the dosimeter reset to zero each year) with an hourly Hp(10)
reading all along (~263,000 readings for 30 years), on top of the import's store. The API is
served by uvicorn in a subprocess (the app ``occmon api`` serves, without its broker
watch) on a loopback port and the file is read
``--requests`` times through httpx with the officer's key: default window (today), the
longest window the route takes (``--window-days`` ending today), and a quarter 15 years ago;
p50 / p95 / max per window (target: <= 200 ms). ``--path`` names the route (``{employee}``
is replaced), so the same bench measures the file as other parts grow it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.schema import connect  # noqa: E402
from ingest.store import SqliteStore  # noqa: E402
from ingest.workers import registry  # noqa: E402
from occmon import ledger  # noqa: E402
from occmon.model import Quality, Reading  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
OFFICER = {"X-API-Key": "demo-officer-key"}
FILE_WORKER = "E00000"
EPD, EPD_DEVICE = "EPD-0001", "raddos-1"


def employee(i: int) -> str:
    return f"E{i:05d}"


def site_file(tmp: Path) -> Path:
    doc = yaml.safe_load((ROOT / "examples/demo-plant.yaml").read_text("utf-8"))
    doc["store"] = {"path": str(tmp / "occmon.db")}
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    return path


def write_csvs(tmp: Path, workers: int, assignments: int, per_instrument: int) -> None:
    jobs = ("探伤工", "焊工", "磨工", "操作工")
    with (tmp / "workers.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["employee", "name", "sex", "birth_date", "job", "category", "joined"])
        for i in range(workers):
            w.writerow([employee(i), f"工人{i}", "MF"[i % 2], f"{1960 + i % 40}-0{1 + i % 9}-1"
                        f"{i % 9}", jobs[i % 4], ("A", "B", "none")[i % 3], "1995-01-01"])
    instruments = -(-assignments // per_instrument)
    with (tmp / "instruments.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["serial", "type", "device", "quantities"])
        w.writerow([EPD, "EPD", EPD_DEVICE, "hp10|dose_rate"])
        for n in range(instruments):
            w.writerow([f"TLD-{n:05d}", "TLD", "", "hp10"])
    start0 = dt.datetime(2000, 1, 3, 8, tzinfo=TZ)
    with (tmp / "assignments.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["instrument", "worker", "start", "end", "position"])
        for k in range(assignments):
            n, turn = divmod(k, per_instrument)
            start = start0 + dt.timedelta(days=30 * turn)
            w.writerow([f"TLD-{n:05d}", employee((k * 7919) % workers), start.isoformat(),
                        (start + dt.timedelta(days=30)).isoformat(), "chest"])


def cli(*args: str) -> float:
    """Run ``occmon ARGS`` and return its wall time (its CPU time printed beside it: on a
    shared machine the wall time is mostly waiting for a core); fail loudly on a refusal."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "occmon.cli", *args], cwd=ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"occmon {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    print(f"  occmon {args[0]} {args[1]}: {took:.2f} s wall, {cpu:.2f} s CPU "
          f"({done.stderr.strip().splitlines()[-1]})")
    return took


def run_import(tmp: Path, site: Path, args: argparse.Namespace) -> dict[str, float]:
    write_csvs(tmp, args.workers, args.assignments, args.per_instrument)
    print(f"import: {args.workers} workers, {args.assignments} assignments")
    out = {"instruments": cli("instruments", "import", str(site), str(tmp / "instruments.csv")),
           "workers": cli("workers", "import", str(site), str(tmp / "workers.csv")),
           "assignments": cli("assignments", "import", str(site),
                              str(tmp / "assignments.csv"))}
    out["target"] = out["workers"] + out["assignments"]
    print(f"  workers + assignments: {out['target']:.2f} s (target <= 10 s)")
    conn = connect(tmp / "occmon.db")
    try:
        started = time.perf_counter()
        chain = ledger.verify(conn)
        problems = registry.verify_rows(conn)
        out["verify"] = time.perf_counter() - started
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("worker_rows", "assignment_rows", "ledger")}
    finally:
        conn.close()
    print(f"  ledger.verify + verify_rows: {out['verify']:.2f} s, chain ok {chain.ok}, "
          f"{len(problems)} problem(s); rows {counts}")
    if not chain.ok or problems:
        raise SystemExit("the imported registries do not verify")
    return out


def thirty_years(tmp: Path, site: Path, years: int) -> int:
    """E00000 wears the EPD a quarter at a time for ``years`` years; hourly Hp(10), reset
    to zero every 1 January (the dosimetry service's annual reset)."""
    rows = ["instrument,worker,start,end,position"]
    today = dt.datetime.now(TZ).date()
    first = dt.date(today.year - years, today.month, 1)  # 30 years up to today
    quarters = [dt.date(first.year + (first.month - 1 + 3 * q) // 12,
                        1 + (first.month - 1 + 3 * q) % 12, 1) for q in range(years * 4 + 2)]
    for a, b in itertools.pairwise(quarters):
        start = dt.datetime.combine(a, dt.time(0), TZ).isoformat()
        end = "" if b > today else dt.datetime.combine(b, dt.time(0), TZ).isoformat()
        rows.append(f"{EPD},{FILE_WORKER},{start},{end},chest")
        if not end:
            break
    (tmp / "epd.csv").write_text("\n".join(rows) + "\n", "utf-8")
    cli("assignments", "import", str(site), str(tmp / "epd.csv"))
    store = SqliteStore(tmp / "occmon.db")
    t = dt.datetime.combine(first, dt.time(0), TZ).timestamp()
    stop = time.time()
    total, batch, year, value = 0, list[Reading](), first.year, 0.0
    try:
        while t < stop:
            now_year = dt.datetime.fromtimestamp(t, TZ).year
            if now_year != year:
                year, value = now_year, 0.0
            value += 0.25 if 8 <= dt.datetime.fromtimestamp(t, TZ).hour < 17 else 0.01
            batch.append(Reading(point="ndt-worker-dose", agent="ionising-radiation", time=t,
                                 value=round(value, 3), unit="uSv", quality=Quality.GOOD,
                                 quantity="hp10", sensor="rd1-hp10", device=EPD_DEVICE))
            if len(batch) == 20000:
                store.write_readings(batch)
                total, batch = total + len(batch), []
            t += 3600.0
        store.write_readings(batch)
        total += len(batch)
    finally:
        store.close()
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(http: httpx.Client, path: str, params: dict[str, str], n: int) -> dict[str, Any]:
    """p50 / p95 / max of ``n`` GETs after a first one, timed apart: the first read of a
    file stores the closed days it needs (``ingest.workers.dose_days``)."""
    started = time.perf_counter()
    first = http.get(path, params=params, headers=OFFICER)
    cold = (time.perf_counter() - started) * 1000
    if first.status_code != 200:
        raise SystemExit(f"GET {path} {params}: {first.status_code} {first.text[:500]}")
    took = []
    for _ in range(n):
        started = time.perf_counter()
        r = http.get(path, params=params, headers=OFFICER)
        took.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200
    took.sort()
    return {"p50": statistics.median(took), "p95": took[int(0.95 * (len(took) - 1))],
            "max": took[-1], "first": cold, "bytes": len(first.content), "body": first.json()}


def run_file(tmp: Path, site: Path, args: argparse.Namespace) -> dict[str, Any]:
    readings = thirty_years(tmp, site, args.years)
    print(f"file: {FILE_WORKER}, {args.years} years, {readings} Hp(10) readings")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(site), str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    out: dict[str, Any] = {"readings": readings}
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/healthz", timeout=2)
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("occmon api did not start: "
                                     + (server.stderr.read().decode()[-2000:]
                                        if server.stderr else "")) from None
                time.sleep(0.2)
        today = dt.datetime.now(TZ).date()
        old = dt.date(today.year - 15, 4, 1)
        windows = {"today": {},
                   f"last {args.window_days} days": {
                       "start": (today - dt.timedelta(days=args.window_days - 1)).isoformat(),
                       "end": today.isoformat()},
                   "a quarter 15 years ago": {"start": old.isoformat(),
                                              "end": dt.date(old.year, 6, 30).isoformat()}}
        path = args.path.replace("{employee}", FILE_WORKER)
        with httpx.Client(base_url=base, timeout=30) as http:
            for name, params in windows.items():
                got = timed(http, path, params, args.requests)
                body = got.pop("body")
                shown = {k: body.get(k) for k in ("dose_usv",) if k in body}
                worn = len(body.get("worn", [])) if isinstance(body, dict) else 0
                print(f"  GET {path} {name}: p50 {got['p50']:.1f} ms, p95 {got['p95']:.1f} ms,"
                      f" max {got['max']:.1f} ms (first {got['first']:.0f} ms), "
                      f"{got['bytes']} bytes, {worn} worn, {shown}")
                out[name] = got
    finally:
        server.terminate()
        server.wait(10)
    return out


def serve(site: Path, port: int) -> None:
    """The API alone (no broker, no heartbeat watch), as ``occmon api`` builds it."""
    import uvicorn

    from api.app import create_app
    from occmon.config import load

    config = load(site)
    uvicorn.run(create_app(config, config.store.path), host="127.0.0.1", port=port,
                log_level="warning", access_log=False)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--assignments", type=int, default=100_000)
    parser.add_argument("--per-instrument", type=int, default=50)
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--window-days", type=int, default=92)
    parser.add_argument("--path", default="/api/v1/workers/{employee}")
    parser.add_argument("--part", choices=("import", "file", "both"), default="both")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="occmon-bench-workers-") as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        site = site_file(tmp)
        if args.part in ("import", "both"):
            run_import(tmp, site, args)
        else:  # the file alone: a small registry under it
            args.workers, args.assignments = max(args.workers // 100, 1), 0
            write_csvs(tmp, args.workers, 0, args.per_instrument)
            cli("instruments", "import", str(site), str(tmp / "instruments.csv"))
            cli("workers", "import", str(site), str(tmp / "workers.csv"))
        if args.part in ("file", "both"):
            run_file(tmp, site, args)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
