"""The Modbus driver: device profiles, decoding, hubs and polled devices.

Entry points (see README.md in this folder):

- ``validate.check(config, config_file)`` -> ConfigProblems (run by ``occmon config check``)
- ``build_drivers(config, bindings, config_file, client_factory=None)`` -> ModbusDevices, each
  a ``gateway.driver.PolledDriver`` for ``gateway.polling.run_polled``
- ``profile.load_profile`` and ``codec.encode``/``decode`` (also used by ``simulators/``)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from gateway.modbus.device import BoundRegister, ModbusDevice
from gateway.modbus.hub import (
    ClientFactory,
    ModbusClient,
    ModbusConfig,
    ModbusHub,
    connection_key,
    default_client,
)
from gateway.modbus.profile import ProfileError
from gateway.modbus.validate import load_profiles
from gateway.normalise import Binding
from occmon.config.schema import ModbusRtuDevice, ModbusTcpDevice, Sensor, SiteConfig

__all__ = ["ModbusDevice", "build_drivers"]


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
    host:port or serial port share one hub (one client, one lock, one back-off).
    ``client_factory(device_config)`` makes a pymodbus-like async client for a hub; by default
    a real AsyncModbusTcpClient / AsyncModbusSerialClient. The config must have passed
    ``validate.check``: a profile that does not load raises ProfileError here.
    Nothing connects until the first poll.
    """
    profiles, problems = load_profiles(config, config_file)
    if problems:
        raise ProfileError([str(p) for p in problems])
    factory = client_factory or default_client
    modbus = [d for d in config.devices if isinstance(d, ModbusTcpDevice | ModbusRtuDevice)]
    sharing: dict[str, list[ModbusConfig]] = {}
    for device in modbus:
        sharing.setdefault(connection_key(device), []).append(device)
    hubs = {
        key: ModbusHub(
            key,
            _bind_factory(factory, devices[0]),
            call_timeout=max(d.timeout * (d.retries + 1) for d in devices) + 0.5,
        )
        for key, devices in sharing.items()
    }
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
        drivers.append(
            ModbusDevice(device, profile, bound, hubs[connection_key(device)], max_gap=max_gap)
        )
    return drivers


def _bind_factory(factory: ClientFactory, device: ModbusConfig) -> Callable[[], ModbusClient]:
    return lambda: factory(device)
