"""``Gateway.stop`` keeps its 2 s bound with hundreds of devices, many of them hung.

The plant is real: pymodbus TCP servers in processes of their own (the device side of
bench/gateway_path.py), one port per device. One plant answers; the other is frozen with
SIGSTOP once the gateway polls it, so its devices accept a connection and never answer
(requests in flight when the stop comes); a few more devices point at a port where nothing
listens. While the stop comes, a command (a register write, as the interlock sends) is on
the bus of every hung device, waiting for an answer within the devices' 5 s timeout: a
device's connection can close only when its bus is free. Stopping used to close the devices
one after another, 0.2 s each: 30 s for 150 such devices.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway.app import STOP_TIMEOUT, Gateway
from occmon.config import load
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "gateway_path.py"
VALUES = 2  # FLOAT32 values per device
ANSWERING, HUNG, ABSENT = 150, 150, 20
DEVICE_TIMEOUT = 5.0


@pytest.fixture
def plants() -> Iterator[tuple[subprocess.Popen[str], list[int], subprocess.Popen[str],
                               list[int]]]:
    started: list[subprocess.Popen[str]] = []

    def plant(count: int) -> tuple[subprocess.Popen[str], list[int]]:
        process = subprocess.Popen(
            [sys.executable, str(BENCH), "--serve", str(count), str(VALUES), "1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        started.append(process)
        assert process.stdout is not None
        ports = json.loads(process.stdout.readline())
        assert len(ports) == count
        return process, ports

    try:
        live, live_ports = plant(ANSWERING)
        hung, hung_ports = plant(HUNG)
        yield live, live_ports, hung, hung_ports
    finally:
        for process in started:
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait(10)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()


def write_site(workdir: Path, ports: list[int], broker_port: int) -> Path:
    """The bench's own site file for these ports (alarms on every point)."""
    from bench import gateway_path as module

    document = module.site_document(ports, VALUES, 1.0, True, broker_port, workdir)
    for device in document["devices"]:
        device["timeout"] = DEVICE_TIMEOUT
    module.write_site(workdir, ports, VALUES, 1.0, True, broker_port)  # the profile
    site = workdir / "site.yaml"
    site.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return site


def appended(gateway: Gateway) -> int:
    return gateway.queue.counters().get("queue.appended", 0)


def test_stop_within_the_bound_with_hundreds_of_devices_some_hung(
    tmp_path: Path, mosquitto: Mosquitto,
    plants: tuple[subprocess.Popen[str], list[int], subprocess.Popen[str], list[int]],
) -> None:
    _, live_ports, hung, hung_ports = plants
    absent = [free_port() for _ in range(ABSENT)]
    site = write_site(tmp_path, live_ports + hung_ports + absent, mosquitto.port)
    config = load(site)
    assert len(config.devices) == ANSWERING + HUNG + ABSENT

    async def main() -> tuple[float, int]:
        gateway = Gateway(config, site, broker_host=mosquitto.host, broker_port=mosquitto.port)
        await gateway.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and appended(gateway) < ANSWERING * VALUES:
                await asyncio.sleep(0.2)
            hung.send_signal(signal.SIGSTOP)  # its devices now take requests, answer none
            await asyncio.sleep(0.5)  # polls to them are in flight, waiting for answers
            hung_devices = gateway.drivers[ANSWERING : ANSWERING + HUNG]
            commands = [asyncio.create_task(d.hub.write("holding", 0, 1, d.config.unit_id))
                        for d in hung_devices]
            await asyncio.sleep(0.5)  # every command is on its bus, unanswered
            assert not any(c.done() for c in commands)
            read = appended(gateway)
        finally:
            started = time.monotonic()
            await gateway.stop()
        took = time.monotonic() - started
        await asyncio.gather(*commands, return_exceptions=True)  # time out on their own
        return took, read

    took, read = asyncio.run(main())
    assert read >= ANSWERING * VALUES  # the answering devices were read
    assert took < STOP_TIMEOUT + 0.5, took  # the 2 s contract, with scheduling slack
