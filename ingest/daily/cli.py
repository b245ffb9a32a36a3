"""``occmon records``: verify the ledger, close or sign a day, export records and exceedances."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from ingest.daily import export, query
from ingest.daily.close import close_day
from ingest.daily.closing import DayOpen, require_ended
from ingest.daily.memory import keep_freed_memory
from ingest.daily.push import push_day
from ingest.daily.store import Conflict, RecordsStore
from occmon.config import ConfigError, SiteConfig, load

DEFAULT_CONFIG = Path("examples/demo-plant.yaml")


def _config(path: Path) -> SiteConfig:
    return load(path)


def _store(config: SiteConfig, override: Path | None) -> Path:
    return override or config.store.path


def _verify(args: argparse.Namespace) -> int:
    config = _config(args.config)
    path = _store(config, args.store)
    if not path.exists():
        print(f"occmon records verify: store {path} does not exist", file=sys.stderr)
        return 2
    with RecordsStore(path, readonly=True) as store:
        result = store.verify()
    if result.ok:
        print(f"ok: {result.entries} entries, head {result.head_sha256}")
        return 0
    assert result.broken is not None
    print(f"BROKEN at {result.broken.message()} (after {result.entries} good entries)")
    return 1


def _close(args: argparse.Namespace) -> int:
    config = _config(args.config)
    day = dt.date.fromisoformat(args.date)
    now = time.time()
    require_ended(config, day, now)  # an open day: refused before anything is opened
    keep_freed_memory()  # a batch process: trade retained heap for half the compute
    result = close_day(_store(config, args.store), config, day, now)
    print(f"{result.day}: {result.new} new, {result.corrected} corrected, {result.withdrawn} "
          f"withdrawn, {result.unchanged} unchanged; day-close entry {result.close_seq}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    config = _config(args.config)
    signers = config.records.signers if config.records else []
    if signers and args.name not in signers:
        print(f"{args.name!r} is not one of the configured signers {signers}", file=sys.stderr)
        return 2
    now = time.time()
    window = require_ended(config, dt.date.fromisoformat(args.date), now)
    with RecordsStore(_store(config, args.store)) as store:
        try:
            entry = store.sign(args.date, args.name, now, window.closable_from)
        except Conflict as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"signed {args.date} by {args.name}: entry {entry.seq} {entry.entry_sha256}")
        push = config.records.push if config.records else None
        if push is not None:
            for d in push_day(store, args.date, push):
                print(f"  push {d.target}: {'ok' if d.ok else 'FAILED'} ({d.message})")
    return 0


def _export(args: argparse.Namespace) -> int:
    config = _config(args.config)
    with RecordsStore(_store(config, args.store), readonly=True) as store:
        if args.what == "records":
            rows = query.daily_records(store.conn, query.Filters(
                day_from=args.start, day_to=args.end or args.start, point=args.point))
            text = export.to_csv(rows, export.RECORD_COLUMNS, args.lang)
        else:
            _, rows = query.exceedances(store.conn, query.Filters(point=args.point),
                                        limit=10_000_000)
            text = export.to_csv(rows, export.EXCEEDANCE_COLUMNS, args.lang)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="occmon records",
                                description="daily records, exceedances and their ledger")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="walk the hash chain; name the first broken entry")
    v.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG)
    c = sub.add_parser("close", help="close (or re-close) a day that has ended (plus "
                       "records.close_grace_min); idempotent")
    c.add_argument("config", type=Path)
    c.add_argument("--date", required=True, help="YYYY-MM-DD, site local")
    s = sub.add_parser("sign", help="the safety officer signs a closed day")
    s.add_argument("config", type=Path)
    s.add_argument("--date", required=True)
    s.add_argument("--name", required=True)
    e = sub.add_parser("export", help="CSV of records or exceedances")
    e.add_argument("what", choices=("records", "exceedances"))
    e.add_argument("config", type=Path)
    e.add_argument("--start", help="first day (records)")
    e.add_argument("--end", help="last day (records)")
    e.add_argument("--point")
    e.add_argument("--lang", choices=("zh", "en"), default="zh")
    e.add_argument("-o", "--output")
    for sp in (v, c, s, e):
        sp.add_argument("--store", type=Path, help="store file (default: the config's)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.command == "export" and args.what == "records" and not args.start:
        print("occmon records export records: --start is required", file=sys.stderr)
        return 2
    handlers = {"verify": _verify, "close": _close, "sign": _sign, "export": _export}
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except DayOpen as exc:  # the closing rule: not bad input, the day is not over yet
        print(f"occmon records {args.command}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"occmon records {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
