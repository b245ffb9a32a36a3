"""``occmon run``: the whole system on one box, in one process, stopped cleanly by Ctrl-C.

Start order follows the data: broker, then ingest (so nothing published is missed), then
the simulated plant, waiting until each simulated device accepts connections (a gateway
polling a simulator that is not listening yet would raise sensor-fault alarms and start
the accident fans fail-safe on an ordinary day), then the gateway, then the API. Stop order
is the reverse, each step bounded, so Ctrl-C ends everything within a few seconds.

Every port the run will listen on is tried before anything starts, so a second
``occmon run`` says so in one line instead of half-starting; the API's port is then held
(bound) until the API serves on it, so no client connection made meanwhile is given it.
The terminal shows one line per alarm, fan action and exceedance (``occmon.console``);
``-q`` leaves only the banner.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from occmon import eventloop, topics
from occmon.config import ConfigError, SiteConfig
from occmon.config.mqttauth import MissingPassword, check_logins
from occmon.config.schema import Simulation

log = logging.getLogger("occmon")
STOP_STEP_TIMEOUT = 1.5
FAILURE_CHECK_S = 1.0  # how often `occmon run` looks for a part that died for good


@dataclass
class Options:
    config_file: Path
    scenario: str | None = None
    speed: float | None = None
    seed: int | None = None
    api_port: int | None = None
    quiet: bool = False


@dataclass
class System:
    """The running parts, each with its stop coroutine, stopped in reverse order."""

    stops: list[tuple[str, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    # why a part died for good (crash-only: the process then exits non-zero for a restart)
    failures: list[Callable[[], str | None]] = field(default_factory=list)

    def failure(self) -> str | None:
        for check in self.failures:
            why = check()
            if why is not None:
                return why
        return None

    async def stop(self) -> None:
        for name, stop in reversed(self.stops):
            try:
                await asyncio.wait_for(stop(), STOP_STEP_TIMEOUT)
            except Exception as exc:  # a part that fails to stop must not keep the rest up
                log.warning("stopping %s: %s", name, exc)
        self.stops.clear()


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the launcher owns Ctrl-C and stops the parts
    in order; uvicorn would otherwise take SIGINT and re-raise it after its own exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def load_checked(path: Path) -> SiteConfig:
    """Load with every check ``occmon config check`` runs; raise ConfigError on problems."""
    from occmon.check import check_file

    config, problems = check_file(path)
    if config is None:
        raise ConfigError(problems)
    return config


def broker_address(config: SiteConfig) -> tuple[str, int]:
    if config.broker is not None:
        return config.broker.host, config.broker.port
    return config.embedded_broker.host, config.embedded_broker.port


def _simulation(config: SiteConfig, options: Options) -> Simulation | None:
    sim = config.simulation
    if sim is None and options.scenario is None:
        return None
    base = sim or Simulation()
    return base.model_copy(
        update={
            k: v
            for k, v in (
                ("scenario", options.scenario),
                ("speed", options.speed),
                ("seed", options.seed),
            )
            if v is not None
        }
    )


class StartProblem(Exception):
    """The system cannot start here as configured (a port in use, a simulator that cannot
    listen): said in one line, exit 2, no traceback."""


def listen_ports(config: SiteConfig, options: Options) -> list[tuple[str, int, str]]:
    """(host, port, what) of every socket ``occmon run`` will listen on."""
    out: list[tuple[str, int, str]] = []
    if config.broker is None:
        out.append((config.embedded_broker.host, config.embedded_broker.port, "embedded broker"))
    api_port = config.api.port if options.api_port is None else options.api_port
    if api_port:
        out.append((config.api.host, api_port, "API"))
    if _simulation(config, options) is not None:
        from simulators.plant import is_loopback

        for device in config.devices:
            host, port = getattr(device, "host", None), getattr(device, "port", None)
            if isinstance(host, str) and isinstance(port, int) and is_loopback(host):
                out.append((host, port, f"simulated device {device.id!r}"))
    return out


def check_ports(ports: list[tuple[str, int, str]]) -> None:
    """Raise StartProblem for the first port another process holds. Bound as the servers
    bind (SO_REUSEADDR), so a port merely in TIME_WAIT after a restart is not refused."""
    for host, port, what in ports:
        bound_socket(host, port, what).close()


def bound_socket(host: str, port: int, what: str) -> socket.socket:
    """A socket bound to ``host:port`` as the servers bind it; StartProblem if it cannot be."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartProblem(f"port {port} is in use: is occmon already running? "
                               f"(wanted by the {what} on {host})") from None
        raise StartProblem(f"cannot listen on {host}:{port} ({what}): "
                           f"{exc.strerror or exc}") from None
    return sock


def _closer(sock: socket.socket) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        sock.close()

    return close


async def start_system(
    config: SiteConfig,
    options: Options,
    on_ingest: Callable[[SiteConfig], None] | None = None,
) -> tuple[System, str]:
    """Start every part; return the running system and the banner that says where to look.

    ``on_ingest`` runs once ingest has opened the store, before any device is polled."""
    from api.app import create_app
    from api.heartbeats import ComponentWatch
    from gateway.app import Gateway
    from ingest.subscriber import Ingest
    from occmon.keys import ensure_for_run

    ensure_for_run(config)  # one box: the API's signing key and the gateway's copy of it
    # The API's port is held from here: a client connection of a part started before the API
    # (ingest, gateway) may otherwise be given the same port number as its local end, and the
    # API would then fail to bind after everything else had started.
    api_port = config.api.port if options.api_port is None else options.api_port
    api_socket = bound_socket(config.api.host, api_port, "API")
    system = System()
    system.stops.append(("API socket", _closer(api_socket)))
    host, port = broker_address(config)
    embedded = config.broker is None
    panel_note = ""
    try:
        if config.broker is None:
            from occmon.broker import EmbeddedBroker

            broker = EmbeddedBroker(config.embedded_broker, config)
            panel_note = ("read-only account occmon-annunciator" if broker.panel else
                          "none (to let a panel read the pushes as occmon-annunciator, set "
                          "$OCCMON_MQTT_PASSWORD_ANNUNCIATOR)")
            await broker.start()
            system.stops.append(("embedded broker", broker.stop))
            config = broker.clients(config)  # each client its account (occmon/brokeracl.py)

        ingest = Ingest(config, broker_host=host, broker_port=port, close_days=True)
        ingest.start()
        system.failures.append(lambda: ingest.failure)
        system.stops.append(("ingest", lambda: asyncio.to_thread(ingest.stop)))
        if on_ingest is not None:
            on_ingest(config)  # the store exists now: the console takes its watermarks

        sim = _simulation(config, options)
        if sim is not None:
            from simulators.plant import SimulatedPlant

            plant = SimulatedPlant(
                config,
                scenario=sim.scenario,
                speed=sim.speed,
                seed=sim.seed,
                broker_host=host,
                broker_port=port,
                profile_search=(options.config_file.parent,),
            )
            await plant.start()
            system.stops.append(("simulated plant", plant.stop))
            await plant.wait_listening()  # before the gateway's first poll

        gateway = Gateway(config, options.config_file, broker_host=host, broker_port=port)
        await gateway.start()
        system.stops.append(("gateway", gateway.stop))

        watch = ComponentWatch(config, config.store.path, host=host, port=port)
        server = ApiServer(
            uvicorn.Config(
                create_app(config, config.store.path, components=watch),
                host=config.api.host,
                port=api_port,
                log_level="warning",
                lifespan="on",
            )
        )
        serving = asyncio.create_task(server.serve(sockets=[api_socket]), name="api")
        while not server.started:
            if serving.done():
                serving.result()  # raises why it stopped
                raise RuntimeError(f"API did not start on {config.api.host}:{api_port}")
            await asyncio.sleep(0.05)

        async def stop_api() -> None:
            server.should_exit = True
            await serving

        system.stops.append(("api", stop_api))
    except BaseException:
        await system.stop()
        raise
    bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else api_port
    url = f"http://{config.api.host}:{bound}"
    header = config.auth.header if config.auth else "X-API-Key"
    banner = "\n".join(
        [
            f"occmon is running for site {config.site.id!r} ({config.site.name.zh})",
            f"  API       {url}/api/v1/points  ({header} header: the site file's auth: keys)",
            f"  API docs  {url}/docs  (Authorize with a key to try the calls)",
            f"  health    {url}/healthz",
            f"  board     {url}/board  (notice board, public)",
            f"  records   {url}/api/v1/daily-records?start=<YYYY-MM-DD>",
            f"  broker    mqtt://{host}:{port}"
            + ("  (embedded)" if embedded else ""),
            *([f"  panel     {panel_note}"] if panel_note else []),
            f"  readings  {topics.readings(config.site.id)}",
            f"  events    {topics.events(config.site.id, '<kind>')}",
            f"  store     {config.store.path}",
            "  scenario  " + (f"{sim.scenario} x{sim.speed:g}" if sim else "(no simulation)"),
            "Press Ctrl-C to stop.",
        ]
    )
    return system, banner


async def _serve(config: SiteConfig, options: Options, started: asyncio.Event | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    from occmon.console import Console

    console: list[Console] = []

    def watch(running: SiteConfig) -> None:
        if not options.quiet:
            console.append(Console(running, sys.stdout))

    system, banner = await start_system(config, options, watch)
    print(banner, flush=True)
    for c in console:
        c.start()
    if started is not None:
        started.set()
    failure: str | None = None
    try:
        while failure is None and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FAILURE_CHECK_S)
            failure = system.failure()
    finally:
        if failure is not None:  # crash-only: a supervisor (systemd, compose) restarts us
            print(f"occmon run: {failure}; stopping with exit status 1", file=sys.stderr,
                  flush=True)
        print("stopping ...", flush=True)
        for c in console:
            c.stop()
        await system.stop()
        print("stopped", flush=True)
    return 0 if failure is None else 1


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("config", type=Path, help="site configuration (YAML)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str]) -> int:
    parser = _parser("occmon run")
    parser.add_argument("--scenario", help="override the config's simulation scenario")
    parser.add_argument("--speed", type=float, help="simulated seconds per real second")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--api-port", type=int, help="0 picks a free port")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only the banner, not a line per alarm and fan action")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_checked(args.config)
        check_logins(config.broker, ("gateway", "ingest", "api"))
    except (ConfigError, MissingPassword) as exc:
        print(exc, file=sys.stderr)
        return 2
    options = Options(args.config, args.scenario, args.speed, args.seed, args.api_port,
                      args.quiet)
    from simulators.baselines import SignalError
    from simulators.plant import SimulationError
    from simulators.scenarios import ScenarioError, get_scenario

    try:
        if options.scenario is not None:
            get_scenario(options.scenario)  # ScenarioError names the known ones
        _check_simulation(config, options)
        check_ports(listen_ports(config, options))
        status = eventloop.run(_serve(config, options, None), config.gateway.event_loop)
    except (StartProblem, ConfigError, SimulationError, ScenarioError, SignalError,
            MissingPassword, OSError, eventloop.EventLoopUnavailable) as exc:
        # a configuration or environment problem met while starting (a port taken after
        # the check, a simulated device's password): one line, exit 2, no traceback
        print(f"occmon run: {exc}", file=sys.stderr)
        return 2
    return status


def _check_simulation(config: SiteConfig, options: Options) -> None:
    """A ``--scenario`` on a config without ``simulation:``: the checks ``config check``
    runs only for configs that simulate."""
    if config.simulation is None and _simulation(config, options) is not None:
        from occmon.check import simulation_problems

        problems = simulation_problems(config, options.config_file)
        if problems:
            raise ConfigError(problems)


def component_main(name: str, argv: list[str]) -> int:
    """``occmon gateway|ingest|api CONFIG``: one part alone, for a multi-process deployment."""
    args = _parser(f"occmon {name}").parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        if name == "gateway":  # the load's scratch memory stays in a child (gateway/forkload.py)
            from gateway.forkload import run_forked

            config = run_forked(load_checked, args.config)
        else:
            config = load_checked(args.config)
        check_logins(config.broker, (name,))  # type: ignore[arg-type]  # gateway|ingest|api
    except (ConfigError, MissingPassword) as exc:
        print(exc, file=sys.stderr)
        return 2
    host, port = broker_address(config)
    if name == "api":
        from api.app import create_app
        from api.heartbeats import ComponentWatch

        try:  # a taken port is one line and exit 2, as for `occmon run` (not uvicorn's 3)
            listening = bound_socket(config.api.host, config.api.port, "API")
        except StartProblem as exc:
            print(f"occmon api: {exc}", file=sys.stderr)
            return 2
        watch = ComponentWatch(config, config.store.path, host=host, port=port)
        uvicorn.Server(uvicorn.Config(
            create_app(config, config.store.path, components=watch),
            host=config.api.host, port=config.api.port,
        )).run(sockets=[listening])
        return 0

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if name == "gateway":
            from gateway.app import Gateway
            from occmon.config.gcpause import collector_paused

            with collector_paused():  # 5,000 points: a third of the construction (gcpause.py)
                gateway = Gateway(config, args.config, broker_host=host, broker_port=port)
            await gateway.start()
            from gateway.heap import settle

            settle()  # long-lived objects out of the collector's full passes (gateway/heap.py)
            await stop.wait()
            await gateway.stop()
            return 0
        from ingest.main import supervise
        from ingest.subscriber import Ingest

        ingest = Ingest(config, broker_host=host, broker_port=port, close_days=True)
        ingest.start()
        status = await supervise(ingest, stop)  # 1 if its writer died: restart it
        await asyncio.to_thread(ingest.stop)
        return status

    try:  # the gateway on the site's choice of loop; ingest on asyncio's
        return eventloop.run(serve(), config.gateway.event_loop if name == "gateway"
                             else "asyncio")
    except eventloop.EventLoopUnavailable as exc:
        print(f"occmon {name}: {exc}", file=sys.stderr)
        return 2
