"""Site configuration: schema, loading and checks. Validated once, at the edge."""

from occmon.config.loader import load, parse, read_yaml
from occmon.config.problems import ConfigError, ConfigProblem
from occmon.config.schema import (
    Area,
    Device,
    Instrument,
    ModbusRtuDevice,
    ModbusTcpDevice,
    MqttDevice,
    Point,
    Sensor,
    SiteConfig,
)

__all__ = [
    "Area",
    "ConfigError",
    "ConfigProblem",
    "Device",
    "Instrument",
    "ModbusRtuDevice",
    "ModbusTcpDevice",
    "MqttDevice",
    "Point",
    "Sensor",
    "SiteConfig",
    "load",
    "parse",
    "read_yaml",
]
