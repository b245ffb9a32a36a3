"""The ``occmon`` command. Each subcommand imports its component lazily, so ``occmon assess``
on a hygienist's laptop does not load the broker or the Modbus stack."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable

USAGE = """occmon <command> [options]

commands:
  run CONFIG            the whole system on one box: simulators (if configured), embedded
                        broker (if none configured), gateway, ingest, API
  gateway CONFIG        the edge gateway alone
  ingest CONFIG         the ingest worker alone
  api CONFIG            the API alone
  simulate CONFIG       the simulated plant alone (--scenario, --speed, --seed, --list)
  simulate --day DATE CONFIG   one whole simulated day into the store (--scenario, --at)
  config check CONFIG   every problem of a site config, with file, key and fix (exit 2)
  assess ...            exposure assessment of a CSV from a portable instrument
  dashboards build|push Grafana boards from the site config; upload them to Grafana
  records verify|close|sign|export|quarter   daily records and the tamper-evident ledger
  keys init CONFIG      the API's command-signing key pair, where security: says
  broker acl CONFIG --out DIR   Mosquitto ACL and password file, one account per role/device
  broker certs --out DIR --host NAME   CA, broker and client certificates for MQTT over TLS
  workers|instruments|assignments import|export CONFIG [FILE]   the registries as CSV
  workers import-doses CONFIG FILE   a dosimetry lab's period results (all rows or none)
"""


def _run(argv: list[str]) -> int:
    from occmon.run import main

    return main(argv)


def _component(name: str) -> Callable[[list[str]], int]:
    def command(argv: list[str]) -> int:
        from occmon.run import component_main

        return component_main(name, argv)

    return command


def _simulate(argv: list[str]) -> int:
    if any(a == "--day" or a.startswith("--day=") for a in argv):
        from occmon.simday import main as day_main  # a whole day into the store

        return day_main(argv)
    from simulators.cli import main

    return main(argv)


def _config(argv: list[str]) -> int:
    if not argv or argv[0] != "check":
        print("usage: occmon config check CONFIG", file=sys.stderr)
        return 2
    from occmon.check import main

    return main(argv[1:])


def _dashboards(argv: list[str]) -> int:
    from dashboards.cli import main

    return main(argv)


def _assess(argv: list[str]) -> int:
    from occmon.assess import main

    return main(argv)


def _records(argv: list[str]) -> int:
    from ingest.daily.cli import main

    return main(argv)


def _keys(argv: list[str]) -> int:
    from occmon.keys import main

    return main(argv)


def _broker(argv: list[str]) -> int:
    if argv and argv[0] == "certs":  # the TLS listener's CA and certificates
        from occmon.brokercerts import main as certs

        return certs(argv[1:])
    if not argv or argv[0] != "acl":
        print("usage: occmon broker acl CONFIG --out DIR [--acl-only]\n"
              "       occmon broker certs --out DIR --host NAME [--host NAME ...]",
              file=sys.stderr)
        return 2
    from occmon.brokeracl import main

    return main(argv[1:])


def _registry(name: str) -> Callable[[list[str]], int]:
    def command(argv: list[str]) -> int:
        from ingest.workers.cli import main

        return main(name, argv)

    return command


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "run": _run,
    "gateway": _component("gateway"),
    "ingest": _component("ingest"),
    "api": _component("api"),
    "simulate": _simulate,
    "config": _config,
    "assess": _assess,
    "dashboards": _dashboards,
    "records": _records,
    "keys": _keys,
    "broker": _broker,
    "workers": _registry("workers"),
    "instruments": _registry("instruments"),
    "assignments": _registry("assignments"),
}


# Commands that read a whole site file, print, and end: no cyclic garbage collection while
# they run (their million objects of YAML and models live until the end, so a collection
# frees nothing and walks them all) and, from the console, no interpreter teardown after
# them (freeing those objects one by one at exit was 4 % of `config check` at 5,000 points).
ONE_SHOT = frozenset({"config"})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        print(USAGE, file=sys.stderr if args and args[0] not in ("-h", "--help") else sys.stdout)
        return 0 if args and args[0] in ("-h", "--help") else 2
    if args[0] not in ONE_SHOT:
        return _dispatch(args)
    enabled = gc.isenabled()
    gc.disable()
    try:
        code = _dispatch(args)
    finally:
        if enabled:
            gc.enable()
    if argv is None:  # the console's process: nothing is left to do but exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _dispatch(args: list[str]) -> int:
    from occmon.config import ConfigError

    try:
        return COMMANDS[args[0]](args[1:])
    except (ConfigError, OSError) as exc:  # the edge: a config or environment problem is
        print(f"occmon {args[0]}: {exc}", file=sys.stderr)  # one line, never a traceback
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
