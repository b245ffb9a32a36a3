"""Staggered polls: devices are asked at spread moments of their interval, once each.

Real pymodbus servers record when each request arrives (``trace_pdu``, on the same
monotonic clock as the poller: the servers run in the test's event loop). Five devices:
three units on one connection and two one-unit connections, polled at 2 Hz with
``build_drivers`` + ``run_polled``. With ``stagger: auto`` the five take the slots 0, 1/5,
..., 4/5 of the interval (worked out by hand below) from their second poll on (the first
goes out at the start, as always); with ``stagger: off`` they all poll in the same instant,
as before.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.server import ModbusTcpServer

from gateway.modbus.codec import encode
from gateway.modbus.drivers import build_drivers
from gateway.modbus.stagger import bus_load, stagger_phases
from gateway.polling import WAKE_QUANTUM, run_polled
from occmon.config import parse
from occmon.config.modbus_links import ModbusRtuTcpDevice
from tests.gateway.helpers import RecordingSink, bindings_for
from tests.gateway.modbus_server import sim_device
from tests.servers import free_port, wait_port

INTERVAL = 0.5
INTERVALS = 8  # polled for this many intervals after the first round
QUANTUM = min(WAKE_QUANTUM, INTERVAL / 10)  # polls wake on this grid (gateway.polling)
PROFILE = ("name: one-value\nregisters:\n"
           "  - {name: v, kind: holding, address: 0, type: FLOAT32, unit: ppm}\n")
# connection -> unit ids on it
LAYOUT = {"a": (1, 2, 3), "b": (1,), "c": (1,)}


def link(device: str, **extra: Any) -> ModbusRtuTcpDevice:
    return ModbusRtuTcpDevice(id=device, profile="p", protocol="modbus-rtu-tcp", host="h",
                              **extra)


def test_phases_spread_each_connection_and_all_devices() -> None:
    sharing = {"a": [link("a1"), link("a2"), link("a3")], "b": [link("b")], "c": [link("c")]}
    # ideal moments (j + c/C) / n with C = 3: a 0, 1/3, 2/3; b (0 + 1/3)/1; c (0 + 2/3)/1;
    # in that order (ties by connection) they take the five even slots k/5
    assert stagger_phases(sharing) == {"a1": 0.0, "a2": 0.2, "b": 0.4, "a3": 0.6, "c": 0.8}
    # one device saying off turns its connection off; the others share the slots:
    # C = 2, a 0, 1/3, 2/3 and c (0 + 1/2)/1, so four slots k/4 in the order a a c a
    sharing["b"] = [link("b", stagger="off")]
    assert stagger_phases(sharing) == {"a1": 0.0, "a2": 0.25, "c": 0.5, "a3": 0.75}


def test_bus_load_is_the_pacing_share_of_the_interval() -> None:
    devices = [link("x", inter_request_delay=0.1, poll_interval=1.0),
               link("y", inter_request_delay=0.05, poll_interval=2.0)]
    # the connection paces at the largest delay, 0.1 s before each request:
    # x 3 requests per 1 s = 0.3, y 2 requests per 2 s = 0.1
    assert bus_load(devices, {"x": 3, "y": 2}) == pytest.approx(0.4)


def test_a_bad_stagger_names_the_key_and_the_choices(tmp_path: Path) -> None:
    data = site({"a": 1}, {"a": (1,)}, "sideways")
    config, problems = parse(data, tmp_path / "site.yaml")
    assert config is None
    text = "\n".join(str(p) for p in problems)
    assert "stagger" in text and "'auto' or 'off'" in text, text


def test_yaml_off_and_on_are_the_words_meant(tmp_path: Path) -> None:
    # a bare `stagger: off` in YAML 1.1 (PyYAML) is the boolean False
    assert yaml.safe_load("stagger: off") == {"stagger": False}
    for given, meant in ((False, "off"), (True, "auto"), ("off", "off")):
        config, problems = parse(site({"a": 1}, {"a": (1,)}, given), tmp_path / "site.yaml")
        assert config is not None, problems
        assert [d.stagger for d in config.devices] == [meant]  # type: ignore[union-attr]


def site(ports: dict[str, int], layout: Mapping[str, Sequence[int]],
         stagger: str | bool) -> dict[str, Any]:
    devices, points, sensors = [], [], []
    for conn, units in layout.items():
        for unit in units:
            name = f"{conn}{unit}"
            devices.append({"id": name, "protocol": "modbus-tcp", "host": "127.0.0.1",
                            "port": ports[conn], "unit_id": unit, "profile": "p.yaml",
                            "poll_interval": INTERVAL, "timeout": 0.5, "retries": 0,
                            "stagger": stagger})
            points.append({"id": f"p-{name}", "name": {"zh": "点", "en": "point"},
                           "area": "a", "agent": "h2s"})
            sensors.append({"id": f"s-{name}", "point": f"p-{name}", "device": name,
                            "register": "v"})
    return {"site": {"id": "t", "name": {"zh": "测试", "en": "test"}},
            "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
            "points": points, "devices": devices, "sensors": sensors}


async def poll_and_record(tmp_path: Path, stagger: str) -> tuple[
        dict[str, list[float]], dict[str, float | None], float]:
    """(request arrival times per device, phases given, time the pollers started)."""
    arrivals: dict[str, list[float]] = {}
    servers, ports = [], {}
    for conn, units in LAYOUT.items():
        def trace(sending: bool, pdu: Any, conn: str = conn) -> Any:
            if not sending:
                arrivals.setdefault(f"{conn}{pdu.dev_id}", []).append(time.monotonic())
            return pdu

        ports[conn] = free_port()
        value = encode(1.5, "FLOAT32")
        server = ModbusTcpServer([sim_device(u, {"holding": {0: value}}) for u in units],
                                 address=("127.0.0.1", ports[conn]), trace_pdu=trace)
        await server.serve_forever(background=True)
        wait_port(ports[conn])
        servers.append(server)
    (tmp_path / "p.yaml").write_text(PROFILE, encoding="utf-8")
    config, problems = parse(site(ports, LAYOUT, stagger), tmp_path / "site.yaml")
    assert config is not None, problems
    drivers = build_drivers(config, bindings_for(config), tmp_path / "site.yaml")
    sink = RecordingSink()
    started = time.monotonic()
    tasks = [asyncio.create_task(run_polled(d, sink)) for d in drivers]
    await asyncio.sleep(INTERVAL * (INTERVALS + 1))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for driver in drivers:
        await driver.close()
    for server in servers:
        await server.shutdown()  # type: ignore[no-untyped-call]
    assert not [s for s in sink.statuses if not s.online]
    return arrivals, {d.device_id: d.poll_phase for d in drivers}, started


def test_staggered_devices_are_asked_at_their_own_moment_once_per_interval(
        tmp_path: Path) -> None:
    arrivals, phases, started = asyncio.run(poll_and_record(tmp_path, "auto"))
    assert phases == {"a1": 0.0, "a2": 0.2, "b1": 0.4, "a3": 0.6, "c1": 0.8}
    assert sorted(arrivals) == sorted(phases)
    late = QUANTUM + 0.06  # a poll wakes at the next grid slot; a loaded machine adds some
    for device, times in arrivals.items():
        # the first poll goes out at the start, as without staggering
        assert times[0] - started < late, (device, times[0] - started)
        slot = phases[device] * INTERVAL  # type: ignore[operator]
        offsets = [(t - slot) % INTERVAL for t in times[1:]]
        # from the second on, at its own moment of the interval (never before it)
        assert sum(1 for o in offsets if o <= late) >= 0.8 * len(offsets), (device, offsets)
        # once per interval: the first, then one per slot in the window, none twice
        assert INTERVALS <= len(times) <= INTERVALS + 2, (device, len(times))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # the second poll comes at least half an interval after the first
        assert min(gaps) > INTERVAL / 2 - 0.01, (device, gaps)
        assert max(gaps[1:]) < INTERVAL + late, (device, gaps)
    # the five second requests are spread over the interval, a fifth of it apart
    seconds = sorted(times[1] for times in arrivals.values())
    spacing = [b - a for a, b in itertools.pairwise(seconds)]
    assert min(spacing) > INTERVAL / 5 - late, spacing
    assert seconds[-1] - seconds[0] > INTERVAL * 4 / 5 - late, seconds


def test_stagger_off_polls_every_device_at_once(tmp_path: Path) -> None:
    arrivals, phases, started = asyncio.run(poll_and_record(tmp_path, "off"))
    assert set(phases.values()) == {None}
    firsts = sorted(times[0] for times in arrivals.values())
    # all five asked together at the start (the three units of "a" one after the other)
    assert firsts[-1] - started < QUANTUM + 0.1, [t - started for t in firsts]
    for device, times in arrivals.items():
        assert INTERVALS <= len(times) <= INTERVALS + 2, (device, len(times))
