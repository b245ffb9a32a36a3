"""A DTU dials in to the gateway, registers, and its units are polled over RTU on that socket.

The DTU is ``DtuSimulator``: a real asyncio socket client that dials the gateway's
listener, sends its registration packet, then relays bytes to a pymodbus server speaking
RTU frames over TCP (as a DTU relays them to its RS-485 port). No part of the gateway is
replaced: ``build_drivers`` makes the listener and the hub from a site config.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.driver import DeviceOffline
from gateway.modbus.device import ModbusDevice
from gateway.modbus.drivers import build_drivers
from gateway.modbus.links.dtu import DtuListener
from occmon.config import parse
from tests.gateway.helpers import bindings_for
from tests.gateway.shared_bus_rig import (
    REGISTRATION,
    DtuSimulator,
    rtu_tcp_server,
    site,
    unit_registers,
)
from tests.servers import free_port

NOW = 1_750_000_000.0
HERE = Path(__file__)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def poll_until_good(driver: ModbusDevice, timeout: float = 5.0) -> float:
    """Poll until the unit answers (the DTU may still be dialling); its gas value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            readings = await driver.poll(NOW)
            return float(readings[0].raw_value or 0.0)
        except DeviceOffline:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


def listener_of(driver: ModbusDevice) -> DtuListener:
    client: Any = driver.hub._client
    assert client is not None
    listener: DtuListener = client.listener
    return listener


def dtu_site(listen: int, **identity: Any) -> Any:
    endpoint = {"listen_host": "127.0.0.1", "listen_port": listen,
                **(identity or {"registration": REGISTRATION})}
    if "registration" not in identity and "peer" not in identity:
        endpoint.setdefault("registration", REGISTRATION)
    return site("dtu", endpoint, timeout=0.3, retries=0, registration_timeout=0.3)


def with_dtu(body: Callable[[list[ModbusDevice], int, tuple[str, int]], Awaitable[Any]],
             ppm: dict[int, float] | None = None, **identity: Any) -> Any:
    """Serve units 1-5 (RTU over TCP), build the DTU drivers on a free port, run body."""

    async def main() -> Any:
        server, port = await rtu_tcp_server(
            {u: unit_registers(u, (ppm or {}).get(u)) for u in (1, 2, 3, 4, 5)})
        listen = free_port()
        config = dtu_site(listen, **identity)
        drivers = build_drivers(config, bindings_for(config), HERE)
        try:
            return await body(drivers, listen, ("127.0.0.1", port))
        finally:
            for driver in drivers:
                await driver.close()
            await server.shutdown()

    return asyncio.run(main())


def test_a_dtu_registers_and_its_units_are_polled_over_its_socket() -> None:
    async def body(drivers: list[ModbusDevice], listen: int,
                   server: tuple[str, int]) -> tuple[list[float], int, int]:
        with pytest.raises(DeviceOffline) as before:
            await drivers[0].poll(NOW)  # starts the listener; the DTU has not dialled yet
        assert before.value.reason == "connect-failed"
        dtu = DtuSimulator(("127.0.0.1", listen), server)
        dtu.start()
        try:
            values = [await poll_until_good(d) for d in drivers[:5]]
            listener = listener_of(drivers[0])
            return values, listener.counters["dtu-registered"], dtu.connections
        finally:
            await dtu.stop()

    values, registered, connections = with_dtu(body)
    assert values == [1.0, 2.0, 3.0, 4.0, 5.0]  # each unit's own reading, over one socket
    assert (registered, connections) == (1, 1)


def test_a_new_connection_from_the_same_dtu_replaces_the_old_one() -> None:
    """The DTU's cellular link drops silently; it dials again (here: a second simulator
    with the same registration, relaying to a bus whose unit 1 reads 42 ppm). The gateway
    polls over the new socket and closes the old one."""

    async def body(drivers: list[ModbusDevice], listen: int,
                   server: tuple[str, int]) -> tuple[float, float, int, int]:
        old = DtuSimulator(("127.0.0.1", listen), server, reconnect=False)
        with pytest.raises(DeviceOffline):
            await drivers[0].poll(NOW)  # starts the listener
        old.start()
        first = await poll_until_good(drivers[0])
        other, other_port = await rtu_tcp_server({1: unit_registers(1, 42.0)})
        new = DtuSimulator(("127.0.0.1", listen), ("127.0.0.1", other_port), reconnect=False)
        new.start()
        try:
            listener = listener_of(drivers[0])
            await until(lambda: listener.counters["dtu-replaced"] == 1)
            second = await poll_until_good(drivers[0])
            await until(lambda: old.closed_by_gateway == 1)
            return first, second, listener.counters["dtu-registered"], old.closed_by_gateway
        finally:
            await new.stop()
            await old.stop()
            await other.shutdown()

    first, second, registered, closed = with_dtu(body)
    assert (first, second) == (1.0, 42.0)
    assert (registered, closed) == (2, 1)


def test_a_dtu_that_drops_and_redials_is_polled_again() -> None:
    async def body(drivers: list[ModbusDevice], listen: int,
                   server: tuple[str, int]) -> tuple[float, str, float, int]:
        with pytest.raises(DeviceOffline):
            await drivers[0].poll(NOW)
        dtu = DtuSimulator(("127.0.0.1", listen), server)
        dtu.start()
        try:
            first = await poll_until_good(drivers[0])
            dtu.drop()
            await until(lambda: dtu.connections == 2 and dtu.online.is_set())
            listener = listener_of(drivers[0])
            await until(lambda: listener.counters["dtu-registered"] == 2)
            reason = "answered"
            try:
                await drivers[0].poll(NOW)
            except DeviceOffline as exc:  # the hub notices the old socket is gone
                reason = exc.reason
            again = await poll_until_good(drivers[0])
            return first, reason, again, dtu.connections
        finally:
            await dtu.stop()

    first, _reason, again, connections = with_dtu(body)
    assert (first, again, connections) == (1.0, 1.0, 2)


def test_unknown_and_silent_connections_are_closed_and_do_not_disturb_the_dtu() -> None:
    async def body(drivers: list[ModbusDevice], listen: int,
                   server: tuple[str, int]) -> tuple[int, int, bytes, bytes, float]:
        with pytest.raises(DeviceOffline):
            await drivers[0].poll(NOW)
        dtu = DtuSimulator(("127.0.0.1", listen), server)
        dtu.start()
        try:
            await poll_until_good(drivers[0])
            intruder_r, intruder_w = await asyncio.open_connection("127.0.0.1", listen)
            intruder_w.write(b"DTU-999999999999999")  # a registration nobody expects
            mute_r, mute_w = await asyncio.open_connection("127.0.0.1", listen)  # says nothing
            intruder_end = await asyncio.wait_for(intruder_r.read(), 2)
            mute_end = await asyncio.wait_for(mute_r.read(), 2)  # after registration_timeout
            for writer in (intruder_w, mute_w):
                writer.close()
            value = await poll_until_good(drivers[2])
            listener = listener_of(drivers[0])
            return (listener.counters["dtu-unknown"], listener.counters["dtu-unregistered"],
                    intruder_end, mute_end, value)
        finally:
            await dtu.stop()

    unknown, unregistered, intruder_end, mute_end, value = with_dtu(body)
    assert (unknown, unregistered) == (1, 1)
    assert intruder_end == mute_end == b""  # closed by the gateway, nothing sent to them
    assert value == 3.0


def test_heartbeats_between_requests_are_dropped() -> None:
    """Many DTUs send a heartbeat packet now and then; bytes that arrive while no request
    is outstanding never pass for an answer."""

    async def body(drivers: list[ModbusDevice], listen: int,
                   server: tuple[str, int]) -> list[float]:
        with pytest.raises(DeviceOffline):
            await drivers[0].poll(NOW)
        dtu = DtuSimulator(("127.0.0.1", listen), server)
        dtu.start()
        try:
            values = [await poll_until_good(drivers[0])]
            listener = listener_of(drivers[0])
            connection = listener.session(f"id={REGISTRATION}")
            assert connection is not None
            for unit in (2, 3):
                connection.data_received(b"\x01\x03\x04\x00\x00\x00\x00HEARTBEAT")
                values.append(await poll_until_good(drivers[unit - 1]))
            return values
        finally:
            await dtu.stop()

    assert with_dtu(body) == [1.0, 2.0, 3.0]


def test_a_dtu_known_by_its_peer_address_needs_no_registration() -> None:
    async def body(drivers: list[ModbusDevice], listen: int,
                   server: tuple[str, int]) -> float:
        with pytest.raises(DeviceOffline):
            await drivers[0].poll(NOW)
        dtu = DtuSimulator(("127.0.0.1", listen), server, registration=b"")
        dtu.start()
        try:
            return await poll_until_good(drivers[3])
        finally:
            await dtu.stop()

    assert with_dtu(body, peer="127.0.0.1") == 4.0


@pytest.mark.parametrize(("change", "where", "says"), [
    ({"peer": "10.0.0.7"}, "devices[0]", "exactly one of"),
    ({"registration": None}, "devices[0]", "exactly one of"),
    ({"registration": None, "registration_hex": "4F4B0"}, "devices[0].registration_hex",
     "pattern"),
    ({"registration": None, "peer": "dtu.example"}, "devices[0].peer", "not an ip address"),
    ({"listen_port": None}, "devices[0].listen_port", "field required"),
    ({"inter_request_delay": -1}, "devices[0].inter_request_delay", "greater than"),
    ({"peer_networks": ["10.64.0.0/33"]}, "devices[0].peer_networks", "not a network"),
])
def test_dtu_config_errors_name_the_key(change: dict[str, Any], where: str,
                                        says: str) -> None:
    data: dict[str, Any] = dtu_site(15000).model_dump(mode="json", by_alias=True, exclude_none=True)
    for key, value in change.items():
        if value is None:
            data["devices"][0].pop(key)
        else:
            data["devices"][0][key] = value
    config, problems = parse(data, HERE)
    assert config is None
    assert any(p.key == where and says in p.message.lower() for p in problems), [
        str(p) for p in problems]


def test_config_check_accepts_serial_server_and_dtu_devices(tmp_path: Path) -> None:
    data: dict[str, Any] = site("rtu-tcp", {"host": "192.168.1.200", "port": 4001},
                                inter_request_delay=0.05).model_dump(
        mode="json", by_alias=True, exclude_none=True)
    dtu = dtu_site(9000).model_dump(mode="json", by_alias=True, exclude_none=True)["devices"][0]
    data["devices"][-1] = {**dtu, "id": "unit-8", "unit_id": 8}
    file = tmp_path / "plant.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "occmon.cli", "config", "check", str(file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_registration_from_outside_the_dtus_networks_is_refused() -> None:
    """Someone who learnt the DTU's ID connects from an address outside ``peer_networks``:
    refused, counted, and the real DTU (inside) keeps being polled."""

    async def body(drivers: list[ModbusDevice], listen: int,
                   server: tuple[str, int]) -> tuple[bytes, int, float]:
        with pytest.raises(DeviceOffline):
            await drivers[0].poll(NOW)
        dtu = DtuSimulator(("127.0.0.1", listen), server)
        dtu.start()
        try:
            await poll_until_good(drivers[0])
            # 127.0.0.2 is loopback too, but outside 127.0.0.1/32
            reader, writer = await asyncio.open_connection("127.0.0.1", listen,
                                                           local_addr=("127.0.0.2", 0))
            writer.write(REGISTRATION.encode())
            end = await asyncio.wait_for(reader.read(), 2)
            writer.close()
            listener = listener_of(drivers[0])
            return end, listener.counters["dtu-wrong-network"], await poll_until_good(
                drivers[1])
        finally:
            await dtu.stop()

    end, refused, value = with_dtu(body, registration=REGISTRATION,
                                   peer_networks=["127.0.0.1/32"])
    assert (end, refused, value) == (b"", 1, 2.0)
