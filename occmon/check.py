"""``occmon config check``: every problem of a site config, with file, key and fix.

Runs the schema and cross-field checks, resolves every point's agent in the catalogue, and
asks each driver to check what only it knows (register names in device profiles).
"""

from __future__ import annotations

from pathlib import Path

import thresholds
from occmon.config import ConfigProblem, SiteConfig, parse, read_yaml
from occmon.quantities import QUANTITIES


def _agent_problems(config: SiteConfig, file: Path) -> list[ConfigProblem]:
    problems = []
    for i, point in enumerate(config.points):
        try:
            thresholds.lookup(point.agent)
        except thresholds.UnknownAgent as exc:
            problems.append(
                ConfigProblem(
                    file,
                    f"points[{i}].agent",
                    str(exc),
                    "use a catalogue id, CAS number or name (see thresholds/catalogue.yaml)",
                )
            )
    for i, sensor in enumerate(config.sensors):
        if sensor.quantity not in QUANTITIES:
            problems.append(
                ConfigProblem(
                    file,
                    f"sensors[{i}].quantity",
                    f"quantity {sensor.quantity!r} is not known",
                    f"use one of {sorted(QUANTITIES)}",
                )
            )
    return problems


def _job_problems(config: SiteConfig, file: Path) -> list[ConfigProblem]:
    """A job's profile step must name a configured point (else its hours would vanish)."""
    if config.records is None:
        return []
    known = {p.id for p in config.points}
    return [
        ConfigProblem(file, f"records.jobs[{i}].profile[{j}].point",
                      f"job {job.id!r}: point {step.point!r} is not configured",
                      f"use one of {sorted(known)}")
        for i, job in enumerate(config.records.jobs)
        for j, step in enumerate(job.profile) if step.point not in known
    ]


def job_lines(config: SiteConfig) -> list[str]:
    """What each job profile produces: one line per job x agent (its metric, limit, points)."""
    from ingest.daily import jobs
    from ingest.daily.spec import specs

    by_point = {s.point.id: s for s in specs(config)}
    return [ja.explain() for ja in jobs.plan(config, by_point)]


def check_file(path: Path) -> tuple[SiteConfig | None, list[ConfigProblem]]:
    """All problems of one config file; the config is returned only when there are none."""
    from gateway.modbus.validate import check as check_modbus
    from gateway.opcua.validate import check as check_opcua
    from gateway.safety.check import check as check_safety

    data, problems = read_yaml(path)
    if problems:
        return None, problems
    config, problems = parse(data, path)
    if config is None:
        return None, problems
    problems = _agent_problems(config, path) + check_modbus(config, path)
    problems += check_safety(config, path) + _job_problems(config, path)
    problems += check_opcua(config, path)
    return (None if problems else config), problems


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="occmon config check")
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    config, problems = check_file(args.file)
    if config is None:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {args.file}")
        return 2
    print(
        f"{args.file}: ok - site {config.site.id!r}, {len(config.points)} points, "
        f"{len(config.sensors)} sensors, {len(config.devices)} devices"
    )
    for line in job_lines(config):
        print(f"  {line}")
    return 0
