"""``occmon config check`` for the ``alarms:``, ``ventilation:`` and ``notify:`` sections.

Cross-references only the whole file can resolve: alarm overrides name known points with
sensors; each ventilation unit binds known points or areas; its fan and standby are Modbus
devices whose profile has the named command coil and feedback/fault inputs, or, for a fan
behind a drive (``drive:``), a holding command register for every step and a polled 16-bit
status word for every test (running, fault, step confirmations); the annunciator coil is a
command coil; set-points resolve for every alarmed point.
"""

from __future__ import annotations

from pathlib import Path

import thresholds
from gateway.alarms.resolve import point_specs
from gateway.modbus.profile import Profile
from gateway.modbus.validate import load_profiles
from occmon.config import ConfigProblem, SiteConfig
from occmon.config.alarms import AlarmsConfig
from occmon.config.ventilation import Fan, bound_points

FAN_PROFILE_FIX = "use a device with the ventilation-fan profile (or one with the same roles)"
DRIVE_FIX = ("use the drive's profile (abb-acs580, inovance-md500, ...) and its register "
             "names")
WORD_TYPES = ("UINT16", "INT16")
POLLED_ROLES = ("status", "feedback", "fault")


def _register_problem(file: Path, key: str, device: str, profile: Profile, name: str,
                      kinds: tuple[str, ...], role: str) -> list[ConfigProblem]:
    try:
        register = profile.register(name)
    except KeyError:
        return [ConfigProblem(file, key, f"device {device!r}: profile {profile.name!r} has no "
                              f"register {name!r}", f"use one of {profile.names}")]
    if register.kind not in kinds or register.role != role:
        return [ConfigProblem(
            file, key, f"device {device!r}: register {name!r} is a {register.kind} with role "
            f"{register.role!r}; needs a {' or '.join(kinds)} with role {role!r}",
            FAN_PROFILE_FIX)]
    return []


def _is_word_command(profile: Profile, name: str) -> bool:
    try:
        register = profile.register(name)
    except KeyError:
        return False
    return register.kind == "holding" and register.role == "command"


def _word_problem(file: Path, key: str, device: str, profile: Profile, name: str,
                  roles: tuple[str, ...], what: str) -> list[ConfigProblem]:
    """``name`` must be a 16-bit holding/input register of one of ``roles``."""
    try:
        register = profile.register(name)
    except KeyError:
        return [ConfigProblem(file, key, f"device {device!r}: profile {profile.name!r} has no "
                              f"register {name!r}", f"use one of {profile.names}")]
    kinds = ("holding",) if roles == ("command",) else ("holding", "input")
    if register.kind not in kinds or register.role not in roles or (
            register.type not in WORD_TYPES):
        return [ConfigProblem(
            file, key, f"device {device!r}: register {name!r} is a {register.type} "
            f"{register.kind} with role {register.role!r}; {what} needs a 16-bit "
            f"{' or '.join(kinds)} register with role {' or '.join(roles)}", DRIVE_FIX)]
    return []


def _drive_problems(file: Path, key: str, fan: Fan, profile: Profile) -> list[ConfigProblem]:
    """A drive fan: every register its sequences write and its tests read."""
    drive = fan.drive
    assert drive is not None
    out = _word_problem(file, f"{key}.run_command", fan.device, profile, fan.run_command,
                        ("command",), "a drive's control word")
    for name, steps in (("run", drive.run), ("stop", drive.stop), ("reset", drive.reset)):
        for i, step in enumerate(steps):
            if step.target is not None:
                out += _word_problem(file, f"{key}.drive.{name}[{i}].target", fan.device,
                                     profile, step.target, ("command",), "a step's target")
    for where, test in drive.tests():
        out += _word_problem(file, f"{key}.drive.{where}.word", fan.device, profile, test.word,
                             POLLED_ROLES, "a status test (polled with the device)")
    return out


def _agents_known(config: SiteConfig) -> bool:
    try:
        for point in config.points:
            thresholds.lookup(point.agent)
    except thresholds.UnknownAgent:
        return False
    return True


def check(config: SiteConfig, file: Path) -> list[ConfigProblem]:
    """Every cross-reference problem of the safety sections (empty when fine)."""
    problems: list[ConfigProblem] = []
    alarms = config.alarms or AlarmsConfig()
    points = {p.id for p in config.points}
    for i, entry in enumerate(alarms.points):
        if entry.point not in points:
            problems.append(ConfigProblem(file, f"alarms.points[{i}].point",
                                          f"point {entry.point!r} is not in points",
                                          "name a point of the points section"))
    if not problems and _agents_known(config):  # unknown agents: reported by the caller
        try:
            point_specs(config, alarms)
        except (ValueError, LookupError) as exc:
            problems.append(ConfigProblem(file, "alarms", str(exc), "correct the set-points"))
    if config.ventilation is None:
        return problems
    profiles, _ = load_profiles(config, file)  # broken profiles are reported by the driver
    areas = {p.id: p.area for p in config.points}
    devices = {d.id: d for d in config.devices}
    for u, unit in enumerate(config.ventilation.units):
        base = f"ventilation.units[{u}]"
        try:
            bound_points(unit, areas)
        except ValueError as exc:
            problems.append(ConfigProblem(file, base, str(exc), "bind points or areas that "
                                          "exist in the points section"))
        fans = [("fan", unit.fan)] + ([("standby", unit.standby)] if unit.standby else [])
        for name, fan in fans:
            key = f"{base}.{name}"
            if fan.device not in devices:
                problems.append(ConfigProblem(file, f"{key}.device",
                                              f"device {fan.device!r} is not in devices",
                                              "add the fan's device to devices"))
                continue
            profile = profiles.get(fan.device)
            if profile is None:
                problems.append(ConfigProblem(file, f"{key}.device",
                                              f"device {fan.device!r} is not a Modbus device",
                                              FAN_PROFILE_FIX))
                continue
            if fan.drive is not None:
                problems += _drive_problems(file, key, fan, profile)
                continue
            if _is_word_command(profile, fan.run_command):
                problems.append(ConfigProblem(
                    file, f"{key}.run_command", f"device {fan.device!r}: {fan.run_command!r} "
                    "is a register, not a coil: a drive fan needs the values to write and the "
                    "status word that confirms running", "add drive: with run, stop and "
                    "running (docs/alarms.md, fans behind drives)"))
                continue
            problems += _register_problem(file, f"{key}.run_command", fan.device, profile,
                                          fan.run_command, ("coil",), "command")
            problems += _register_problem(file, f"{key}.running", fan.device, profile,
                                          fan.running, ("discrete", "coil"), "feedback")
            if fan.fault is not None:
                problems += _register_problem(file, f"{key}.fault", fan.device, profile,
                                              fan.fault, ("discrete", "coil"), "fault")
        horn = unit.annunciator
        if horn is not None:
            profile = profiles.get(horn.device)
            if profile is None:
                problems.append(ConfigProblem(file, f"{base}.annunciator.device",
                                              f"device {horn.device!r} is not a Modbus device",
                                              "name a Modbus device with a command coil"))
            else:
                problems += _register_problem(file, f"{base}.annunciator.coil", horn.device,
                                              profile, horn.coil, ("coil",), "command")
    return problems
