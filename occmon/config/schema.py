"""The site configuration schema (pydantic): field checks only.

Cross-field checks live in ``validators.py``; checks that need a driver's knowledge (a
register name in a device profile) live with the driver and are run by ``occmon config
check``. Every model forbids unknown keys, so a typo is an error, not a silent default.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# leak alarms, accident ventilation, alarm pushes, daily records and API keys: models in
# their own modules
from occmon.config.alarms import AlarmsConfig
from occmon.config.auth import AuthConfig
from occmon.config.dead_letters import DeadLetterSettings
from occmon.config.health import HealthConfig
from occmon.config.lookup import first_by, grouped_by
from occmon.config.modbus_links import ModbusDtuDevice, ModbusRtuTcpDevice, PolledModbus
from occmon.config.mqttauth import MqttAccounts, Role
from occmon.config.notify import NotifyConfig
from occmon.config.opcua import OpcUaDevice
from occmon.config.personal_dose import PersonalDoseConfig
from occmon.config.records import RecordsConfig
from occmon.config.security import SecurityConfig
from occmon.config.tls import BrokerTls
from occmon.config.trust import TrustConfig
from occmon.config.ventilation import VentilationConfig

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Names(Strict):
    """Names in Chinese (the record's language) and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Site(Strict):
    id: Slug
    name: Names
    timezone: str = "Asia/Shanghai"
    altitude_m: float = Field(default=0.0, ge=-500, le=9000)


class Broker(Strict):
    """An external MQTT broker. Absent: ``occmon run`` starts an embedded one."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    client_id_prefix: str = "occmon"
    keepalive: int = Field(default=30, ge=5, le=3600)
    accounts: MqttAccounts | None = None  # one login per role and vendor device (mqttauth.py)
    tls: BrokerTls | None = None  # TLS to the broker for every occmon client (tls.py)

    def login(self, role: Role) -> tuple[str | None, str | None]:
        """(username, password) of ``role``: its own account, else the shared one."""
        if self.accounts is None:
            return self.username, self.password
        cred = self.accounts.role(role)
        return cred.username, self.accounts.password(cred)


class Embedded(Strict):
    """The embedded broker used when no broker is configured."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)


class Store(Strict):
    path: Path = Path("var/occmon.db")
    batch_size: int = Field(default=500, ge=1, le=100_000)
    batch_interval: float = Field(default=0.2, gt=0, le=60)
    dead_letters: DeadLetterSettings = DeadLetterSettings()


class GatewaySettings(Strict):
    queue_path: Path = Path("var/gateway-queue.db")
    publish_batch: int = Field(
        default=500, ge=1, le=10_000,
        description="readings a message holds at most: 500 takes a slot's burst of polls "
                    "(committed together: 250 readings at 500 devices of 10 values) as one "
                    "message")
    max_inflight: int = Field(default=200, ge=1, le=65535)
    stale_after_polls: int = Field(default=3, ge=1, le=100)
    payload_version: Literal[1, 2] = Field(default=2, description="reading batches as payload "
                                           "v2 (compact, docs/topics.md) or v1 (JSON, for an "
                                           "ingest older than v2)")
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto", description="the gateway's event loop: uvloop where installed (auto), "
        "uvloop or a start error (uvloop), or the standard library's (asyncio); "
        "occmon/eventloop.py")


class ApiSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    board_personal: bool = Field(default=False, description="show personal-monitoring points "
                                 "(a named worker's dose, e.g. Hp(10)) on the public /board")


class Reference(Strict):
    """Reference conditions for ppm <-> mg/m3 (DOMAIN.md section 1: 20 C, 101.3 kPa)."""

    temperature_c: float = Field(default=20.0, ge=-50, le=60)
    pressure_kpa: float = Field(default=101.3, gt=50, le=120)


class Area(Strict):
    id: Slug
    name: Names


class Point(Strict):
    """A monitoring location (监测点) for one agent (危害因素)."""

    id: Slug
    name: Names
    area: Slug
    agent: str = Field(min_length=1, description="catalogue id, CAS, or name of the agent")
    job: str | None = Field(default=None, description="岗位 the point represents")
    fraction: Literal["total", "respirable"] | None = Field(
        default=None, description="dust points: which fraction the monitor measures"
    )


class Instrument(Strict):
    model: str
    serial: str
    calibrated: dt.date | None = None
    calibration_interval_days: int = Field(default=365, ge=1, le=3650)


class Sensor(Strict):
    """Binds one value of one device to a point."""

    id: Slug
    point: Slug
    device: Slug
    register_name: str | None = Field(
        default=None, alias="register", description="Modbus: register name in the profile"
    )
    field: str | None = Field(
        default=None, description="MQTT: field name in the mapping; OPC UA: a name in nodes")
    detection_limit: float | None = Field(
        default=None, gt=0, description="the instrument's limit of detection in its own unit: "
        "a result sent as ND / <LOD enters as half of it (thresholds.lod)")
    quantity: str = Field(
        default="concentration", description="what the value measures (occmon.quantities)"
    )
    unit: str | None = Field(default=None, description="unit of the value the device gives")
    range: tuple[float, float] | None = Field(
        default=None, description="measuring range in the sensor's unit; 4-20 mA maps onto it"
    )
    instrument: Instrument | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Sensor:
        if (self.register_name is None) == (self.field is None):
            raise ValueError("give exactly one of 'register' (Modbus) or 'field' (MQTT, OPC UA)")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError("range must be [low, high] with low < high")
        return self


_Polled = PolledModbus  # unit id, interval, timeout, base, connection pacing (modbus_links.py)


class ModbusTcpDevice(_Polled):
    protocol: Literal["modbus-tcp"]
    host: str
    port: int = Field(default=502, ge=1, le=65535)


class ModbusRtuDevice(_Polled):
    protocol: Literal["modbus-rtu"]
    serial_port: str
    baudrate: int = Field(default=9600, ge=300, le=921600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class MqttMapping(Strict):
    """Where the values sit in a vendor JSON payload (dotted paths)."""

    fields: dict[str, str] = Field(min_length=1, description="field name -> dotted JSON path")
    time: str | None = Field(default=None, description="dotted path of the time; else arrival")
    time_format: Literal["iso8601", "epoch_s", "epoch_ms"] = "iso8601"


# An MQTT device's expected interval when none is configured and none learnt yet: 40 s,
# so ``gateway.stale_after_polls`` (3) intervals make the 120 s ``expire_after`` of before.
DEFAULT_MQTT_INTERVAL = 40.0


class MqttDevice(Strict):
    """A device that pushes its own JSON. Silence is judged like a missed poll: the device is
    stale after ``gateway.stale_after_polls`` expected intervals (docs/alarms.md)."""

    id: Slug
    protocol: Literal["mqtt"]
    topic: str = Field(min_length=1, description="subscription, wildcards allowed")
    mapping: MqttMapping
    interval: float | None = Field(
        default=None, gt=0, le=3600,
        description="s between the device's messages; absent: learnt from its observed rate "
                    f"(never longer than {DEFAULT_MQTT_INTERVAL:g} s)")
    expire_after: float | None = Field(
        default=None, gt=0, le=86400,
        description="s of silence before stale, given outright (overrides interval x "
                    "gateway.stale_after_polls; learning then does not shorten it)")

    @property
    def expected_interval(self) -> float:
        """The configured interval, else the default (the intake may learn a shorter one)."""
        return self.interval if self.interval is not None else DEFAULT_MQTT_INTERVAL

    def silence_window(self, polls: int) -> float:
        """Seconds of silence after which this device's values are stale."""
        if self.expire_after is not None:
            return self.expire_after
        return self.expected_interval * polls


AnyDevice = (ModbusTcpDevice | ModbusRtuDevice | MqttDevice | ModbusRtuTcpDevice
             | ModbusDtuDevice | OpcUaDevice)
Device = Annotated[AnyDevice, Field(discriminator="protocol")]


class Simulation(Strict):
    """What ``occmon run`` simulates: the scenario, its seed and its speed."""

    scenario: str = "normal-day"
    speed: float = Field(default=1.0, gt=0, le=10_000)
    seed: int = 1
    mqtt_interval: float = Field(default=5.0, gt=0, le=3600)


class SiteConfig(Strict):
    site: Site
    broker: Broker | None = None
    embedded_broker: Embedded = Embedded()
    store: Store = Store()
    gateway: GatewaySettings = GatewaySettings()
    api: ApiSettings = ApiSettings()
    reference: Reference = Reference()
    simulation: Simulation | None = None
    # leak alarms (None: defaults), accident ventilation, alarm pushes
    alarms: AlarmsConfig | None = None
    ventilation: VentilationConfig | None = None
    notify: NotifyConfig | None = None
    # daily records (None: defaults), API keys (None: every key refused)
    records: RecordsConfig | None = None
    auth: AuthConfig | None = None
    # how far samples from the network are trusted (time window)
    trust: TrustConfig = TrustConfig()
    security: SecurityConfig = SecurityConfig()
    # heartbeats, /healthz bounds, system alarms, metrics ports (occmon/config/health.py)
    health: HealthConfig = HealthConfig()
    personal_dose: PersonalDoseConfig = PersonalDoseConfig()  # docs/workers.md
    areas: list[Area] = Field(min_length=1)
    points: list[Point] = Field(min_length=1)
    devices: list[Device] = Field(min_length=1)
    sensors: list[Sensor] = Field(min_length=1)

    # look-ups by id: dicts built once per list (lookup.py), so start-up stays linear
    def point(self, point_id: str) -> Point:
        return first_by(self.points, "id", _id)[point_id]

    def device(self, device_id: str) -> AnyDevice:
        return first_by(self.devices, "id", _id)[device_id]

    def expiry(self, device_id: str) -> float:
        """Seconds a reading of this device stays current: ``gateway.stale_after_polls``
        expected intervals (Modbus: the poll interval; MQTT: ``interval``, else the default),
        or an MQTT ``expire_after`` given outright. The API's staleness and the daily
        records' hold between readings both use it."""
        device = self.device(device_id)
        if isinstance(device, MqttDevice):
            return device.silence_window(self.gateway.stale_after_polls)
        return device.poll_interval * self.gateway.stale_after_polls

    def sensors_of(self, device_id: str) -> list[Sensor]:
        return list(grouped_by(self.sensors, "device", _device).get(device_id, ()))

    def sensors_at(self, point_id: str) -> list[Sensor]:
        """The sensors bound to a point, in config order."""
        return list(grouped_by(self.sensors, "point", _point).get(point_id, ()))


def _id(item: Point | AnyDevice) -> str:
    return item.id


def _device(sensor: Sensor) -> str:
    return sensor.device


def _point(sensor: Sensor) -> str:
    return sensor.point
