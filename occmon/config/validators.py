"""Cross-field checks of a parsed site configuration, with exact messages.

Field checks are in ``schema.py``; these need the whole file: ids that must be unique and
references between sections that must resolve.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from occmon.config.opcua import OpcUaDevice, sensor_problems
from occmon.config.problems import ConfigProblem
from occmon.config.schema import MqttDevice, SiteConfig


def _duplicates(file: Path, section: str, ids: Iterable[str]) -> list[ConfigProblem]:
    seen: dict[str, int] = {}
    problems = []
    for index, ident in enumerate(ids):
        if ident in seen:
            problems.append(
                ConfigProblem(
                    file,
                    f"{section}[{index}].id",
                    f"id {ident!r} is already used by {section}[{seen[ident]}]",
                    "give every entry of the section its own id",
                )
            )
        else:
            seen[ident] = index
    return problems


def check_references(config: SiteConfig, file: Path) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for section, items in (
        ("areas", config.areas),
        ("points", config.points),
        ("devices", config.devices),
        ("sensors", config.sensors),
    ):
        problems += _duplicates(file, section, (item.id for item in items))

    areas = {a.id for a in config.areas}
    points = {p.id for p in config.points}
    devices = {d.id: d for d in config.devices}
    for i, point in enumerate(config.points):
        if point.area not in areas:
            problems.append(
                ConfigProblem(
                    file,
                    f"points[{i}].area",
                    f"area {point.area!r} is not defined",
                    f"use one of {sorted(areas)} or add it under 'areas'",
                )
            )
    bound = set()
    for i, sensor in enumerate(config.sensors):
        if sensor.point not in points:
            problems.append(
                ConfigProblem(
                    file,
                    f"sensors[{i}].point",
                    f"point {sensor.point!r} is not defined",
                    "use a point id from 'points' or add the point",
                )
            )
        bound.add(sensor.point)
        device = devices.get(sensor.device)
        if device is None:
            problems.append(
                ConfigProblem(
                    file,
                    f"sensors[{i}].device",
                    f"device {sensor.device!r} is not defined",
                    "use a device id from 'devices' or add the device",
                )
            )
        elif isinstance(device, OpcUaDevice):
            problems += sensor_problems(file, i, sensor, device)
        elif isinstance(device, MqttDevice):
            if sensor.field is None:
                problems.append(
                    ConfigProblem(
                        file,
                        f"sensors[{i}].register",
                        f"device {device.id!r} is MQTT: it has fields, not registers",
                        f"replace 'register' with 'field' (one of {sorted(device.mapping.fields)})",
                    )
                )
            elif sensor.field not in device.mapping.fields:
                problems.append(
                    ConfigProblem(
                        file,
                        f"sensors[{i}].field",
                        f"device {device.id!r} maps no field {sensor.field!r}",
                        f"use one of {sorted(device.mapping.fields)} or add it to the mapping",
                    )
                )
        elif sensor.register_name is None:
            problems.append(
                ConfigProblem(
                    file,
                    f"sensors[{i}].field",
                    f"device {device.id!r} is Modbus: it has registers, not fields",
                    "replace 'field' with 'register' (a register name of the device profile)",
                )
            )
    for i, point in enumerate(config.points):
        if point.id not in bound:
            problems.append(
                ConfigProblem(
                    file,
                    f"points[{i}]",
                    f"point {point.id!r} has no sensor",
                    "bind a sensor to it under 'sensors' or remove the point",
                )
            )
    return problems
