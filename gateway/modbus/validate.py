"""Checks that need the device profiles: run by ``occmon config check`` and before start-up.

The site schema cannot know register names; these checks load each Modbus device's
profile once and check every sensor bound to it, so a wrong register map fails at load with
a message that names the file, the key and the fix, and never at the first poll.
"""

from __future__ import annotations

from pathlib import Path

from gateway.modbus.profile import Profile, ProfileError, builtin_names, load_profile
from occmon.config.modbus_links import PolledModbus
from occmon.config.problems import ConfigProblem
from occmon.config.schema import Sensor, SiteConfig
from occmon.quantities import QUANTITIES


def load_profiles(
    config: SiteConfig, config_file: Path
) -> tuple[dict[str, Profile], list[ConfigProblem]]:
    """Each Modbus device's profile by device id, and a problem per profile that won't load."""
    profiles: dict[str, Profile] = {}
    problems: list[ConfigProblem] = []
    cache: dict[str, Profile | ProfileError] = {}
    for index, device in enumerate(config.devices):
        if not isinstance(device, PolledModbus):  # every Modbus link kind
            continue
        if device.profile not in cache:
            try:
                cache[device.profile] = load_profile(device.profile, [config_file.parent])
            except ProfileError as exc:
                cache[device.profile] = exc
        found = cache[device.profile]
        if isinstance(found, Profile):
            if device.base_address is not None and not any(
                    isinstance(r.ref, str) for r in found.registers):
                problems.append(ConfigProblem(
                    config_file, f"devices[{index}].base_address",
                    f"device {device.id!r}: profile {found.name!r} has no 'ref: base+N' "
                    "registers, so base_address would move nothing",
                    "remove base_address, or use a profile written against a base"))
            try:
                profiles[device.id] = found.with_base(device.base_address)
            except ProfileError as exc:
                problems += [ConfigProblem(config_file, f"devices[{index}].base_address",
                                           f"device {device.id!r}: {message}",
                                           "give the vendor reference the map starts from, "
                                           "as the manual prints it (e.g. 40000)")
                             for message in exc.problems]
            continue
        fix = (
            f"use a built-in profile ({', '.join(builtin_names())}) or a path to a profile "
            "YAML, relative to this file"
            if "not found" in str(found) or "no built-in" in str(found)
            else f"correct {device.profile} as the message says"
        )
        for message in found.problems:
            problems.append(
                ConfigProblem(config_file, f"devices[{index}].profile",
                              f"device {device.id!r}: {message}", fix)
            )
    return profiles, problems


def check(config: SiteConfig, config_file: Path) -> list[ConfigProblem]:
    """Every problem of the Modbus part of ``config`` (empty when it is fine)."""
    profiles, problems = load_profiles(config, config_file)
    for index, sensor in enumerate(config.sensors):
        profile = profiles.get(sensor.device)
        if profile is None or sensor.register_name is None:
            continue  # not Modbus, an unknown device, or a broken profile: reported elsewhere
        problems += _check_sensor(config_file, f"sensors[{index}]", sensor, profile)
    return problems


def _check_sensor(
    file: Path, key: str, sensor: Sensor, profile: Profile
) -> list[ConfigProblem]:
    name = sensor.register_name
    assert name is not None
    where = f"sensor {sensor.id!r}"
    try:
        register = profile.register(name)
    except KeyError:
        values = [r.name for r in profile.registers if r.role == "value"]
        return [
            ConfigProblem(
                file, f"{key}.register",
                f"{where}: device {sensor.device!r} (profile {profile.name!r}) has no register "
                f"{name!r}",
                f"use one of: {', '.join(values)}",
            )
        ]
    out: list[ConfigProblem] = []
    if register.role != "value" or register.type == "BOOL":
        values = [r.name for r in profile.registers if r.role == "value" and r.type != "BOOL"]
        out.append(
            ConfigProblem(
                file, f"{key}.register",
                f"{where}: register {name!r} of profile {profile.name!r} is a {register.type} "
                f"{register.role} register, not a measured value",
                f"bind a value register: {', '.join(values)}",
            )
        )
        return out
    unit = sensor.unit or register.unit
    if register.signal == "4-20mA":
        if sensor.range is None:
            out.append(
                ConfigProblem(
                    file, f"{key}.range",
                    f"{where}: register {name!r} carries a 4-20 mA signal, which needs the "
                    "sensor's measuring range to scale",
                    "add range: [value at 4 mA, value at 20 mA], e.g. range: [0, 100]",
                )
            )
        if sensor.unit is None:
            out.append(
                ConfigProblem(
                    file, f"{key}.unit",
                    f"{where}: register {name!r} carries a 4-20 mA signal; the unit of the "
                    "scaled value is not known",
                    "add the unit of the range, e.g. unit: ppm",
                )
            )
        return out
    if unit is None and register.unit_from is None:
        out.append(
            ConfigProblem(
                file, f"{key}.unit",
                f"{where}: neither the sensor nor register {name!r} gives a unit",
                "add unit: (e.g. ppm, mg/m3, dB(A))",
            )
        )
    elif sensor.quantity != "concentration" and sensor.quantity in QUANTITIES:
        accepted = QUANTITIES[sensor.quantity].factors
        if unit not in accepted:
            out.append(
                ConfigProblem(
                    file, f"{key}.unit",
                    f"{where}: unit {unit!r} is not a unit of {sensor.quantity}",
                    f"use one of: {', '.join(sorted(accepted))}",
                )
            )
    return out


def address_lines(config: SiteConfig, config_file: Path) -> list[str]:
    """For ``occmon config check``: each register a profile gives by vendor reference, with
    the 0-based address that goes on the wire (a map copied off by one is visible here)."""
    profiles, _ = load_profiles(config, config_file)
    out = []
    for device in config.devices:
        profile = profiles.get(device.id)
        if profile is None:
            continue
        refs = [r for r in profile.registers if r.ref is not None]
        if not refs:
            continue
        base = f", base {profile.base}" if profile.base is not None else ""
        parts = [f"{r.name} {r.vendor} = {r.kind} {r.address}"
                 + (f" ({r.ref})" if isinstance(r.ref, str) else "") for r in refs]
        out.append(f"device {device.id!r} (profile {profile.name!r}{base}): " + "; ".join(parts))
    return out
