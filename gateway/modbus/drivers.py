"""``build_drivers``: one polled ``ModbusDevice`` a Modbus device of the site, its hub shared
by the devices on one connection (TCP host:port, serial port, serial server or DTU)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from gateway.modbus.device import BoundRegister, ModbusDevice
from gateway.modbus.hub import (
    BACKOFF_CAP,
    ClientFactory,
    ModbusClient,
    ModbusConfig,
    ModbusHub,
    connection_key,
    default_client,
)
from gateway.modbus.links.dtu import DtuClient, DtuListener
from gateway.modbus.profile import ProfileError
from gateway.modbus.stagger import bus_load, stagger_phases
from gateway.modbus.validate import load_profiles
from gateway.normalise import Binding
from occmon.config.modbus_links import ModbusDtuDevice, PolledModbus
from occmon.config.schema import Sensor, SiteConfig

log = logging.getLogger(__name__)


def build_drivers(
    config: SiteConfig,
    bindings: Mapping[str, Binding],
    config_file: Path,
    client_factory: ClientFactory | None = None,
    *,
    max_gap: int = 0,
) -> list[ModbusDevice]:
    """One ModbusDevice per Modbus device of ``config``, in config order.

    ``bindings`` maps sensor id -> Binding (the gateway app resolves agents and reference
    conditions once); sensors without a binding are not polled. Devices on the same TCP
    host:port, serial port, serial server or DTU share one hub (one client, one lock, one
    connection back-off; each unit its own back-off) and one pace: the largest
    ``inter_request_delay`` and ``delay_after_connect`` any of them asks for.
    ``client_factory(device_config)`` makes a pymodbus-like async client for a hub; by default
    a real AsyncModbusTcpClient (socket or RTU framing) / AsyncModbusSerialClient, and for a
    DTU a ``links.dtu.DtuClient`` on a listener shared by the DTUs sent to the same port.
    The config must have passed ``validate.check``: a profile that does not load raises
    ProfileError here. Nothing connects or listens until the first poll.

    Each device of a connection whose ``stagger`` is ``auto`` gets a ``poll_phase``
    (``stagger.stagger_phases``): the moment of its interval at which it is polled.
    """
    profiles, problems = load_profiles(config, config_file)
    if problems:
        raise ProfileError([str(p) for p in problems])
    modbus: list[ModbusConfig] = [d for d in config.devices if isinstance(d, PolledModbus)]
    sharing: dict[str, list[ModbusConfig]] = {}
    for device in modbus:
        sharing.setdefault(connection_key(device), []).append(device)
    listeners: dict[tuple[str, int], DtuListener] = {}
    hubs: dict[str, ModbusHub] = {}
    for key, devices in sharing.items():
        first = devices[0]
        call_timeout = max(d.timeout * (d.retries + 1) for d in devices) + 0.5
        listener: DtuListener | None = None
        if isinstance(first, ModbusDtuDevice) and client_factory is None:
            listener = listeners.get((first.listen_host, first.listen_port))
            if listener is None:
                listener = listeners[(first.listen_host, first.listen_port)] = DtuListener(
                    first.listen_host, first.listen_port)
            make = _dtu_factory(listener, first, call_timeout - 0.5)
        else:
            make = _bind_factory(client_factory or default_client, first)
        hub = hubs[key] = ModbusHub(
            key,
            make,
            call_timeout=call_timeout,
            # a DTU "connect" is a look-up of the socket it dialled in on: retry it often
            backoff_cap=1.0 if isinstance(first, ModbusDtuDevice) else BACKOFF_CAP,
            inter_request_delay=max(d.inter_request_delay for d in devices),
            delay_after_connect=max(d.delay_after_connect for d in devices),
        )
        if listener is not None:
            hub.on_close(listener.detach)
    phases = stagger_phases(sharing)
    sensors_of: dict[str, list[Sensor]] = {}
    for sensor in config.sensors:
        sensors_of.setdefault(sensor.device, []).append(sensor)
    drivers: list[ModbusDevice] = []
    for device in modbus:
        profile = profiles[device.id]
        bound = []
        for sensor in sensors_of.get(device.id, []):
            if sensor.id in bindings and sensor.register_name is not None:
                try:
                    register = profile.register(sensor.register_name)
                except KeyError:
                    raise ProfileError(
                        [f"sensor {sensor.id!r}: profile {profile.name!r} has no register "
                         f"{sensor.register_name!r}"]
                    ) from None
                bound.append(BoundRegister(bindings[sensor.id], register))
        driver = ModbusDevice(device, profile, bound, hubs[connection_key(device)],
                              max_gap=max_gap)
        driver.poll_phase = phases.get(device.id)
        drivers.append(driver)
    requests = {d.device_id: len(d.requests) for d in drivers}
    for key, devices in sharing.items():
        load = bus_load(devices, requests)
        if load >= 1.0:
            log.warning("connection %s: inter_request_delay alone takes %.0f %% of the poll "
                        "interval; its polls will run late, back to back", key, 100 * load)
    return drivers


def _bind_factory(factory: ClientFactory, device: ModbusConfig) -> Callable[[], ModbusClient]:
    return lambda: factory(device)


def _dtu_factory(listener: DtuListener, device: ModbusDtuDevice,
                 timeout: float) -> Callable[[], ModbusClient]:
    """A DTU's client: its identity on the shared listener, one try per ``timeout`` share."""
    identity = listener.expect(device)
    per_try = timeout / (device.retries + 1)
    return lambda: DtuClient(listener, identity, timeout=per_try, retries=device.retries)
