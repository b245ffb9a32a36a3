"""``occmon records``: verify the ledger, close or sign a day, export records and exceedances,
export the ledger's signed anchors, print (and record) the quarterly summary."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ingest.daily import anchors, export, quarter, query
from ingest.daily.close import close_day
from ingest.daily.closing import DayOpen, is_open, require_ended
from ingest.daily.memory import keep_freed_memory
from ingest.daily.push import push_day
from ingest.daily.store import Conflict, RecordsStore
from occmon import signing
from occmon.config import ConfigError, SiteConfig, load
from occmon.keys import ledger_signing_key, ledger_verify_key

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
    try:
        key = ledger_verify_key(config, args.ledger_key)
    except signing.KeyFileError as exc:
        print(f"occmon records verify: {exc}", file=sys.stderr)
        return 2
    header = config.auth.header if config.auth else "X-API-Key"
    api_key = os.environ.get("OCCMON_API_KEY")
    try:
        files = [(src, anchors.load(src, {header: api_key} if api_key else None))
                 for src in args.anchor]
    except anchors.AnchorError as exc:
        print(f"occmon records verify: {exc}", file=sys.stderr)
        return 2
    with RecordsStore(path, readonly=True) as store:
        report = store.verify(key, anchor_files=files, require_signed=args.require_signed)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
        return 0 if report.ok else 1
    seals = (f"{report.sealed} sealed closes/signatures" if key is not None
             else "seals not checked (no ledger verify key)")
    if report.ok:
        print(f"ok: {report.entries} entries, head {report.head_sha256} (seq "
              f"{report.head_seq}); {seals}; {len(files)} anchor file(s)")
    elif report.broken is not None:
        print(f"BROKEN at {report.broken.message()} (after {report.entries} good entries)")
    else:
        print(f"BROKEN: {len(report.errors)} problem(s) in {report.entries} entries, head "
              f"{report.head_sha256} (seq {report.head_seq})")
    for finding in report.errors:
        print(f"  {finding.message()}")
    for finding in report.warnings:
        print(f"  warning: {finding.message()}")
    return 0 if report.ok else 1


def _anchor_export(args: argparse.Namespace) -> int:
    config = _config(args.config)
    path = _store(config, args.store)
    if not path.exists():
        print(f"occmon records anchor export: store {path} does not exist", file=sys.stderr)
        return 2
    key = ledger_signing_key(config)
    if key is None:
        print(f"occmon records anchor export: no ledger key at {config.security.ledger_key}: "
              "run occmon keys init CONFIG", file=sys.stderr)
        return 2
    with RecordsStore(path, readonly=True) as store:
        doc = anchors.export(store.conn, key, config.site.id, time.time())
    text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    head = doc["head"]
    print(f"{len(doc['anchors'])} day anchor(s) and the head (seq {head['seq']} "
          f"{head['sha256'][:12]}) written to {out}, key {doc['fingerprint']}")
    return 0


def _close(args: argparse.Namespace) -> int:
    config = _config(args.config)
    day = dt.date.fromisoformat(args.date)
    now = time.time()
    require_ended(config, day, now)  # an open day: refused before anything is opened
    keep_freed_memory()  # a batch process: trade retained heap for half the compute
    result = close_day(_store(config, args.store), config, day, now)
    print(f"{result.day}: {result.new} new, {result.corrected} corrected, {result.withdrawn} "
          f"withdrawn, {result.unchanged} unchanged; day-close entry {result.close_seq}")
    if result.sealed is False:
        print(f"warning: the day-close is not sealed: no ledger key at "
              f"{config.security.ledger_key} (occmon keys init CONFIG)", file=sys.stderr)
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
            entry = store.sign(args.date, args.name, now, window.closable_from,
                               seal=ledger_signing_key(config))
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


def _quarter(args: argparse.Namespace) -> int:
    """The quarterly form (Table 4-3) from the closed days; with --prepared-by and
    --reviewed-by it is first recorded in the ledger (sealed), like a signed day."""
    config = _config(args.config)
    _first, last = quarter.parse_quarter(args.quarter)
    path = _store(config, args.store)
    if not path.exists():
        print(f"occmon records quarter: store {path} does not exist", file=sys.stderr)
        return 2
    people = (args.prepared_by, args.reviewed_by)
    if any(people) and not all(people):
        print("occmon records quarter: give both --prepared-by and --reviewed-by",
              file=sys.stderr)
        return 2
    signers = config.records.signers if config.records else []
    if args.reviewed_by and signers and args.reviewed_by not in signers:
        print(f"{args.reviewed_by!r} is not one of the configured signers {signers}",
              file=sys.stderr)
        return 2
    now = time.time()
    site = config.site.name.model_dump()
    sign: dict[str, Any] | None
    running = is_open(config, last, now)
    if all(people):
        if running:
            print(f"occmon records quarter: {args.quarter} has not ended (its last day "
                  f"{last} is open): it can be printed, not recorded", file=sys.stderr)
            return 1
        with RecordsStore(path) as store, store.transaction() as conn:
            summary = quarter.summarise(conn, site, config.site.id, args.quarter)
            sign, written = quarter.record(conn, summary, args.prepared_by, args.reviewed_by,
                                           now, ledger_signing_key(config))
        print(f"{summary.quarter}: {'recorded' if written else 'already recorded'} as ledger "
              f"entry {sign['seq']} {sign['sha256']}", file=sys.stderr)
    else:
        with RecordsStore(path, readonly=True) as store:
            summary = quarter.summarise(store.conn, site, config.site.id, args.quarter)
            sign = quarter.signature_of(store.conn, summary)
    if args.format == "csv":
        data = quarter.to_csv(summary, sign, args.lang).encode("utf-8")
    else:
        data = quarter.to_pdf(summary, sign, args.lang, provisional=running)
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="occmon records",
                                description="daily records, exceedances and their ledger")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="walk the hash chain, check the seals and every "
                       "projection row; name each problem")
    v.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG)
    v.add_argument("--anchor", action="append", default=[], metavar="FILE_OR_URL",
                   help="an anchor file exported earlier (occmon records anchor export); "
                   "a URL is fetched with $OCCMON_API_KEY; repeatable")
    v.add_argument("--ledger-key", type=Path, metavar="PUB_PEM",
                   help="check seals with this public key (an inspector's own copy) instead "
                   "of security.ledger_verify_key")
    v.add_argument("--require-signed", action="store_true",
                   help="an unsigned close or signature is an error, not a warning")
    v.add_argument("--json", action="store_true", help="the report as JSON")
    a = sub.add_parser("anchor", help="signed anchors of the ledger (export)")
    asub = a.add_subparsers(dest="anchor_command", required=True)
    ax = asub.add_parser("export", help="write every closed day's anchor and the head, "
                         "signed with the site's ledger key")
    ax.add_argument("config", type=Path)
    ax.add_argument("--out", required=True, help="the anchor file to write (JSON)")
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
    q = sub.add_parser("quarter", help="the quarterly summary of daily monitoring (Table 4-3) "
                       "from the closed days, CSV or PDF; recorded in the ledger when "
                       "--prepared-by and --reviewed-by are given")
    q.add_argument("config", type=Path)
    q.add_argument("--quarter", required=True, help="YYYYQn, e.g. 2026Q1 (site local days)")
    q.add_argument("--format", choices=("csv", "pdf"), default="csv")
    q.add_argument("--lang", choices=("zh", "en"), default="zh")
    q.add_argument("--prepared-by", help="编制人: who prepared the form")
    q.add_argument("--reviewed-by", help="审核人: who reviewed it (one of records.signers)")
    q.add_argument("-o", "--output", help="file to write (default: stdout)")
    for sp in (v, c, s, e, ax, q):
        sp.add_argument("--store", type=Path, help="store file (default: the config's)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.command == "export" and args.what == "records" and not args.start:
        print("occmon records export records: --start is required", file=sys.stderr)
        return 2
    handlers = {"verify": _verify, "close": _close, "sign": _sign, "export": _export,
                "anchor": _anchor_export, "quarter": _quarter}
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
