"""``occmon dashboards build|push``: generate the Grafana boards, or upload them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dashboards.build import build_boards, write_all
from dashboards.panels import Json

DEFAULT_OUT = Path("dashboards/generated")
DEFAULT_PROVISIONING = Path("deploy/grafana/provisioning")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="occmon dashboards", description="Grafana boards generated from a site file.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write the boards and the provisioning files")
    build.add_argument("config", type=Path, help="site configuration (YAML)")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT)
    build.add_argument("--provisioning", type=Path, default=DEFAULT_PROVISIONING,
                       help="Grafana provisioning folder to write (datasources/, dashboards/)")
    build.add_argument("--no-provisioning", action="store_true")
    build.add_argument("--store", action="store_true",
                       help="read who wore which dosimeter from the site store's registry: "
                       "the radiation board then has a dose panel per worker (rebuild after "
                       "assignments change)")
    push = sub.add_parser("push", help="upload the boards to a running Grafana")
    push.add_argument("config", type=Path, nargs="?", help="site file; else --from")
    push.add_argument("--from", dest="source", type=Path, default=None,
                      help="push the JSON files of this folder instead of building")
    push.add_argument("--url", default=os.environ.get("GRAFANA_URL", "http://localhost:3000"))
    push.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"),
                      help="service-account token (default: $GRAFANA_TOKEN)")
    return parser


def _boards(args: argparse.Namespace) -> dict[str, Json]:
    if args.source is not None:
        return {p.stem: json.loads(p.read_text(encoding="utf-8"))
                for p in sorted(args.source.glob("*.json"))}
    from occmon.config import load

    return build_boards(load(args.config))


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "build":
        from occmon.config import load

        provisioning = None if args.no_provisioning else args.provisioning
        config = load(args.config)
        from dashboards.wearers import wearings

        worn = wearings(config, Path(config.store.path)) if args.store else ()
        for path in write_all(config, args.out, provisioning, worn):
            print(path)
        return 0
    if args.config is None and args.source is None:
        print("occmon dashboards push: give a site file or --from FOLDER", file=sys.stderr)
        return 2
    if not args.token:
        print("occmon dashboards push: no token (--token or $GRAFANA_TOKEN)", file=sys.stderr)
        return 2
    from dashboards.push import push

    try:
        uids = push(args.url, args.token, _boards(args))
    except Exception as exc:  # report the Grafana answer, not a traceback
        print(f"occmon dashboards push: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"pushed {len(uids)} dashboards to {args.url}: {', '.join(uids)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
