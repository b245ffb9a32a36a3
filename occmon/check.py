"""``occmon config check``: every problem of a site config, with file, key and fix.

Runs the schema and cross-field checks, resolves every point's agent in the catalogue, and
asks each driver to check what only it knows (register names in device profiles).
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import thresholds
from occmon.config import ConfigProblem, SiteConfig, parse, read_yaml
from occmon.config.gcpause import collector_paused
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


def _unit_problems(config: SiteConfig, file: Path) -> list[ConfigProblem]:
    """A sensor's unit must convert to its quantity's canonical unit for the point's agent
    (ppm of a dust, dB(A) of a gas): otherwise the gateway fails on the first value."""
    from gateway.normalise import Binding
    from gateway.reference import site_reference

    reference = site_reference(config)
    problems = []
    # (quantity, unit, agent) -> None, or (the conversion's error, the canonical unit): the
    # outcome depends on nothing else, and a large site repeats a few combinations
    outcomes: dict[tuple[str, str, str], tuple[str, str] | None] = {}
    for i, sensor in enumerate(config.sensors):
        if sensor.unit is None or sensor.quantity not in QUANTITIES:
            continue
        try:
            point = config.point(sensor.point)
            agent = thresholds.lookup(point.agent)
        except (KeyError, ValueError):
            continue  # reported by the reference and agent checks
        key = (sensor.quantity, sensor.unit, point.agent)
        if key not in outcomes:
            binding = Binding(sensor, point, agent, reference)
            try:
                binding.converter(sensor.unit)
                outcomes[key] = None
            except ValueError as exc:
                outcomes[key] = (str(exc), binding.canonical_unit)
        outcome = outcomes[key]
        if outcome is not None:
            error, canonical_unit = outcome
            problems.append(ConfigProblem(
                file, f"sensors[{i}].unit",
                f"sensor {sensor.id!r}: {error}",
                f"give the unit the instrument reports its {sensor.quantity} in, one that "
                f"converts to {canonical_unit} for {point.agent!r}"))
    return problems


def simulation_problems(config: SiteConfig, file: Path) -> list[ConfigProblem]:
    """What stops the simulated plant of ``occmon run`` (config ``simulation:`` or
    ``--scenario``): two simulated Modbus devices on one port (one server per port), a
    simulated device on the broker's or the API's port, an MQTT device topic with
    wildcards, a sensor the simulators cannot produce."""
    from occmon.config.schema import ModbusTcpDevice, MqttDevice
    from simulators.baselines import SensorSpec, SignalError, base_signal, unit_factor
    from simulators.plant import is_loopback

    problems: list[ConfigProblem] = []
    taken: dict[int, str] = {}
    if config.broker is None:
        taken[config.embedded_broker.port] = "the embedded broker"
    if config.api.port:
        taken[config.api.port] = "the API"
    for i, device in enumerate(config.devices):
        if isinstance(device, ModbusTcpDevice) and is_loopback(device.host):
            other = taken.get(device.port)
            if other is not None:
                problems.append(ConfigProblem(
                    file, f"devices[{i}].port",
                    f"simulated device {device.id!r} would listen on port {device.port}, "
                    f"which {other} already uses",
                    "give every simulated device its own free port"))
            else:
                taken[device.port] = f"simulated device {device.id!r}"
        elif isinstance(device, MqttDevice) and any(ch in device.topic for ch in "+#"):
            problems.append(ConfigProblem(
                file, f"devices[{i}].topic",
                f"device {device.id!r}: topic {device.topic!r} has wildcards; a simulated "
                "device needs a concrete topic to publish on",
                "give the topic the device publishes on, without + or #"))
    simulated = {d.id for d in config.devices
                 if isinstance(d, MqttDevice)
                 or (isinstance(d, ModbusTcpDevice) and is_loopback(d.host))}
    tz = ZoneInfo(config.site.timezone)
    for i, sensor in enumerate(config.sensors):
        if sensor.device not in simulated:
            continue
        try:
            point = config.point(sensor.point)
        except KeyError:
            continue
        spec = SensorSpec(point.agent, sensor.quantity, point.fraction, sensor.unit,
                          sensor.device, False)
        try:
            unit_factor(spec, base_signal(1, spec, tz).unit)
        except SignalError as exc:
            problems.append(ConfigProblem(
                file, f"sensors[{i}]", f"sensor {sensor.id!r}: {exc}",
                "simulate it with a unit the simulators give, or do not simulate this site"))
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
    """What each job profile produces: one line per job x agent (its metric, limit, points).

    Specs only for the points a profile names (not all 5,000 of a large site), and none of
    the analyzer imported when no job is configured."""
    if config.records is None or not config.records.jobs:
        return []
    from ingest.daily import jobs
    from ingest.daily.spec import point_spec

    named = {step.point for job in config.records.jobs for step in job.profile}
    by_point = {p.id: point_spec(config, p) for p in config.points if p.id in named}
    return [ja.explain() for ja in jobs.plan(config, by_point)]


def check_file(path: Path) -> tuple[SiteConfig | None, list[ConfigProblem]]:
    """All problems of one config file; the config is returned only when there are none."""
    with collector_paused():  # linear work on a million live objects (config/gcpause.py)
        return _check_file(path)


def _check_file(path: Path) -> tuple[SiteConfig | None, list[ConfigProblem]]:
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
    if not problems:  # these resolve agents and devices the checks above vouch for
        units = _unit_problems(config, path)
        problems += units
        if config.simulation is not None:
            wrong = {p.key.removesuffix(".unit") for p in units}  # said once, as a unit
            problems += [p for p in simulation_problems(config, path) if p.key not in wrong]
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
    from gateway.modbus.validate import address_lines

    for line in address_lines(config, args.file):  # vendor reference -> 0-based address
        print(f"  {line}")
    return 0
