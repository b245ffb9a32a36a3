"""``occmon simulate --day DATE CONFIG``: fill the embedded store with one simulated day.

A live demo runs minutes, never a whole day, so every daily record it produces says
数据不足 (insufficient data). This writes a full day instead (every sensor at its device's
rate, the site's shifts, a scenario at a chosen hour) so a newcomer can close it
(``occmon records close``), sign it and open its report with real verdicts.

The values come from the simulators (``simulators.day``), are normalised by the gateway's
own ``normalise`` (units, ranges, quality) and written through ingest's ``SqliteStore``:
the records are computed from exactly what the live path would have stored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from occmon.config import ConfigError, SiteConfig

BATCH = 50_000


class DayRefused(ValueError):
    """The day cannot be simulated into this store (not over yet, already closed)."""


def _parse_at(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--at must be HH:MM, got {text!r}") from None


def _parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--day must be YYYY-MM-DD, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="occmon simulate --day",
        description="Write one whole simulated day of every sensor into the site's store, "
        "ready for `occmon records close` and `occmon records sign`.")
    p.add_argument("config", type=Path, help="site config (YAML)")
    p.add_argument("--day", required=True, type=_parse_day, help="YYYY-MM-DD, site local; "
                   "a day that has ended")
    p.add_argument("--scenario", default="normal-day",
                   help="scenario of the day (default normal-day: a passing day)")
    p.add_argument("--at", type=_parse_at, default=dt.time(10, 0),
                   help="local time the scenario starts (default 10:00)")
    p.add_argument("--seed", type=int, help="random seed (default: the config's, or 1)")
    p.add_argument("--store", type=Path, help="store file (default: the config's)")
    return p


def _closed(path: Path, day: str) -> bool:
    if not path.exists():
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT 1 FROM day_closures WHERE day = ?", (day,)).fetchone()
    except sqlite3.OperationalError:  # no records tables yet
        return False
    finally:
        conn.close()
    return row is not None


def write_day(config: SiteConfig, day: dt.date, store_path: Path, *, scenario: str,
              at: dt.time, seed: int, now: float | None = None) -> tuple[int, int]:
    """Simulate ``day`` into ``store_path``; (readings written, sensors). Raises DayRefused
    for a day that has not ended or is already closed there, ScenarioError for a name."""
    from gateway.app import build_bindings
    from gateway.normalise import normalise
    from ingest.store import SqliteStore
    from simulators.day import day_bounds, simulate_day
    from simulators.scenarios import get_scenario

    chosen = get_scenario(scenario)
    _start, end = day_bounds(day, ZoneInfo(config.site.timezone))
    if end > (time.time() if now is None else now):
        raise DayRefused(f"{day} has not ended yet in {config.site.timezone}: simulate a "
                         "past day (the live record of today must stay the live one)")
    if _closed(store_path, day.isoformat()):
        raise DayRefused(f"{day} is already closed in {store_path}: its records are in the "
                         "ledger; simulate another day or give another --store")
    bindings = build_bindings(config)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(store_path)
    written = sensors = 0
    try:
        for series in simulate_day(config, day, chosen, at, seed):
            binding = bindings[series.sensor]
            unit = series.unit
            batch = []
            for t, v in zip(series.times.tolist(), series.values.tolist(), strict=True):
                batch.append(normalise(binding, v, t, unit=unit))
                if len(batch) >= BATCH:
                    store.write_readings(batch)
                    written += len(batch)
                    batch = []
            store.write_readings(batch)
            written += len(batch)
            sensors += 1
    finally:
        store.close()
    return written, sensors


def main(argv: list[str]) -> int:
    from occmon.config import load
    from occmon.keys import ensure_for_run
    from simulators.scenarios import ScenarioError

    args = parser().parse_args(argv)
    try:
        config = load(args.config)
        path = args.store or config.store.path
        seed = args.seed if args.seed is not None else (
            config.simulation.seed if config.simulation else 1)
        began = time.monotonic()
        # a simulated plant is a one-box demo, like `occmon run`: the day it writes is closed
        # and signed next, so the site's ledger keys must exist (made once, kept after)
        ensure_for_run(config)
        written, sensors = write_day(config, args.day, path, scenario=args.scenario,
                                     at=args.at, seed=seed)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (DayRefused, ScenarioError, OSError) as exc:
        print(f"occmon simulate --day: {exc}", file=sys.stderr)
        return 2
    took = time.monotonic() - began
    day = args.day.isoformat()
    print(f"{day}: {written:,} readings of {sensors} sensors ({args.scenario} from "
          f"{args.at:%H:%M}, seed {seed}) written to {path} in {took:.1f} s")
    print("next:")
    print(f"  occmon records close {args.config} --date {day}")
    signer = config.records.signers[0] if config.records and config.records.signers else "NAME"
    print(f"  occmon records sign {args.config} --date {day} --name {signer}")
    print(f"  then, with `occmon run {args.config}` up: "
          f"/api/v1/daily-records/report?day={day}&format=pdf")
    return 0
