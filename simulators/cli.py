"""``occmon simulate``: run the simulated plant of a site config until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from occmon.config import ConfigError, SiteConfig, load
from simulators.plant import SimulatedPlant, SimulationError
from simulators.scenarios import ScenarioError, get_scenario, list_scenarios


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="occmon simulate",
        description="Serve the site's Modbus TCP (loopback) and MQTT devices from simulators, "
        "with a scripted, seedable, time-accelerated scenario.",
    )
    p.add_argument("config", nargs="?", type=Path, help="site config (YAML)")
    p.add_argument("--scenario", help="scenario name (default: the config's, or normal-day)")
    p.add_argument("--speed", type=float, help="sim seconds per real second (default: config)")
    p.add_argument("--seed", type=int, help="random seed (default: config)")
    p.add_argument("--broker", metavar="HOST:PORT", help="MQTT broker (default: the config's)")
    p.add_argument("--listen", metavar="ADDRESS",
                   help="serve every Modbus TCP device on this address (default: only the "
                        "devices whose host is loopback, on that host)")
    p.add_argument("--state", action="append", default=[], metavar="DEVICE=STATE",
                   help="hold a detector in a maintenance state its profile can say, e.g. "
                        "xnx-1=check-function:bump-test or xnx-1=fault (repeatable)")
    p.add_argument("--states", action="store_true",
                   help="list the maintenance states each simulated device can say, and exit")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return p


def apply_states(plant: SimulatedPlant, given: list[str]) -> None:
    """``--state DEVICE=STATE``: ValueError naming the device and what it can say."""
    for item in given:
        device, sep, state = item.partition("=")
        if not sep or not device or not state:
            raise ValueError(f"--state must be DEVICE=STATE, got {item!r}")
        if device not in plant.modbus:
            raise ValueError(f"--state: {device!r} is not a simulated Modbus detector")
        plant.set_state(device, state)


def print_states(plant: SimulatedPlant) -> None:
    for device_id, device in plant.modbus.items():
        states = sorted(plant.states_of(device_id))
        print(f"{device_id:<14} {device.profile.name:<26} {', '.join(states) or '(none)'}")
    for device_id in plant.drives:
        print(f"{device_id:<14} {'drive':<26} (fan: set_fault trips it)")


def broker_address(config: SiteConfig, given: str | None) -> tuple[str, int]:
    if given:
        host, sep, port = given.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"--broker must be HOST:PORT, got {given!r}")
        return host, int(port)
    if config.broker is not None:
        return config.broker.host, config.broker.port
    return config.embedded_broker.host, config.embedded_broker.port


async def run(plant: SimulatedPlant) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await plant.start()
    try:
        await stop.wait()
    finally:
        await plant.stop()


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.list:
        for scenario in list_scenarios():
            print(f"{scenario.name:<12} {scenario.description}")
        return 0
    if args.config is None:
        print("occmon simulate: give a site config (or --list)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load(args.config)
        sim = config.simulation
        scenario = get_scenario(args.scenario or (sim.scenario if sim else "normal-day"))
        host, port = broker_address(config, args.broker)
        plant = SimulatedPlant(
            config,
            scenario=scenario,
            speed=args.speed if args.speed is not None else (sim.speed if sim else 1.0),
            seed=args.seed if args.seed is not None else (sim.seed if sim else 1),
            broker_host=host,
            broker_port=port,
            profile_search=(args.config.parent,),
            listen=args.listen,
        )
        if args.states:
            print_states(plant)
            return 0
        apply_states(plant, args.state)
        asyncio.run(run(plant))
    except ConfigError as exc:
        print(f"occmon simulate: invalid config:\n{exc}", file=sys.stderr)
        return 2
    except (ScenarioError, SimulationError, KeyError, ValueError) as exc:
        print(f"occmon simulate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
