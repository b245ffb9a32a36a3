"""An OPC UA device in the site file (``protocol: opcua``): the field checks, and the
cross-field check of the sensors bound to it.

In chemical plants the gas-detection panel or the DCS often already holds the detectors'
values behind an OPC UA server; the gateway subscribes to them (``gateway/opcua/``). Like an
MQTT device's ``mapping.fields``, the device's ``nodes`` names each value (field name ->
node id) and a sensor binds one of them to a point with ``field:``.

Everything here is checked at load, without I/O: the endpoint's form, each node id's syntax,
that security policy and mode agree, that a secured channel has its certificate and key, and
that the password comes from the environment (never from the site file).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from occmon.config.problems import ConfigProblem

if TYPE_CHECKING:
    from occmon.config.schema import Sensor

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

# opc.tcp://host[:port][/path] - the only transport the gateway speaks.
ENDPOINT = re.compile(r"^opc\.tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:(\d{1,5}))?(/\S*)?$")
# OPC UA Part 6, 5.3.1.10: [ns=<index>;]<i|s|g|b>=<identifier>
NODE_ID = re.compile(
    r"^(ns=(\d{1,5});)?("
    r"i=\d{1,10}"
    r"|s=.+"
    r"|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|b=[A-Za-z0-9+/]+={0,2}"
    r")$",
    re.DOTALL,
)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def node_id_problem(text: str) -> str | None:
    """Why ``text`` is not an OPC UA node id, or None when it is one."""
    found = NODE_ID.match(text)
    if found is None:
        return (f"{text!r} is not an OPC UA node id: write ns=<index>;s=<name> (or i=<number>,"
                " g=<guid>, b=<base64>), e.g. ns=2;s=GasPanel.H2S")
    if found.group(2) is not None and int(found.group(2)) > 65535:
        return f"{text!r}: namespace index {found.group(2)} is above 65535"
    if found.group(3).startswith("i=") and int(found.group(3)[2:]) > 0xFFFFFFFF:
        return f"{text!r}: numeric identifier is above 4294967295"
    return None


class OpcUaSecurity(BaseModel):
    """The secure channel. ``None``/``None`` is plain text: use it only inside a trusted
    network segment; ``Basic256Sha256`` signs (and with ``SignAndEncrypt`` encrypts) every
    message with the gateway's application certificate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: Path | None = Field(default=None, description="the gateway's certificate")
    private_key: Path | None = Field(default=None, description="its private key (PEM)")
    server_certificate: Path | None = Field(
        default=None, description="the server's certificate, pinned; else the endpoint's")
    trust: list[Path] = Field(
        default_factory=list,
        description="trust list: certificate files, or directories of them (*.der, *.pem, "
                    "*.crt, *.cer), of the CAs that sign the servers' certificates or of the "
                    "servers themselves; a server whose certificate does not chain to one "
                    "of them is refused (empty: no trust list)")

    @field_validator("certificate", "private_key", "server_certificate")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"{value} must be an absolute path (the gateway's working "
                             "directory is not the site file's)")
        return value

    @field_validator("trust")
    @classmethod
    def _trust_paths(cls, value: list[Path]) -> list[Path]:
        relative = [str(p) for p in value if not p.is_absolute()]
        if relative:
            raise ValueError(f"trust: {relative} must be absolute paths (the gateway's "
                             "working directory is not the site file's)")
        twice = sorted({str(p) for p in value if value.count(p) > 1})
        if twice:
            raise ValueError(f"trust: {twice} given twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSecurity:
        if (self.policy == "None") != (self.mode == "None"):
            raise ValueError(
                f"security policy {self.policy!r} with mode {self.mode!r}: policy None needs "
                "mode None, and Basic256Sha256 needs mode Sign or SignAndEncrypt")
        if self.policy != "None" and (self.certificate is None or self.private_key is None):
            raise ValueError("security policy Basic256Sha256 needs 'certificate' and "
                             "'private_key' (the gateway's application certificate, PEM/DER)")
        if self.trust and self.policy == "None":
            raise ValueError("a trust list ('trust') checks the server's certificate on a "
                             "secured channel: set policy Basic256Sha256 and mode Sign or "
                             "SignAndEncrypt, or remove 'trust' (policy None has no "
                             "certificate to check)")
        return self


class OpcUaDevice(BaseModel):
    """A server the gateway subscribes to: one session, one subscription for all nodes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    protocol: Literal["opcua"]
    endpoint: str = Field(description="opc.tcp://host:port[/path]")
    security: OpcUaSecurity = OpcUaSecurity()
    username: str | None = Field(default=None, min_length=1)
    password_env: str | None = Field(
        default=None, description="name of the environment variable holding the password")
    publishing_interval: float = Field(
        default=1.0, ge=0.05, le=3600,
        description="s: the subscription's publishing interval; each value is reported at "
                    "least this often (changes, or the unchanged value repeated)")
    timeout: float = Field(default=4.0, gt=0, le=60, description="s per request")
    nodes: dict[str, str] = Field(min_length=1, description="field name -> node id")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        found = ENDPOINT.match(value)
        if found is None:
            raise ValueError(f"endpoint {value!r} must look like opc.tcp://host:4840[/path]")
        if found.group(3) is not None and not 1 <= int(found.group(3)) <= 65535:
            raise ValueError(f"endpoint {value!r}: port must be 1-65535")
        return value

    @field_validator("nodes")
    @classmethod
    def _node_ids(cls, value: dict[str, str]) -> dict[str, str]:
        problems = [f"nodes.{name}: {problem}" for name, node in value.items()
                    if (problem := node_id_problem(node)) is not None]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(f"password_env {value!r} must be an environment variable name "
                             "(the password itself never goes into the site file)")
        return value

    @model_validator(mode="after")
    def _login(self) -> OpcUaDevice:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("give both 'username' and 'password_env', or neither (anonymous)")
        return self

    @property
    def poll_interval(self) -> float:
        """The longest gap between two readings of a sensor while the server is reachable:
        what staleness (``SiteConfig.expiry``, the alarm engine's fault) is judged on."""
        return self.publishing_interval


def sensor_problems(file: Path, index: int, sensor: Sensor, device: OpcUaDevice
                    ) -> list[ConfigProblem]:
    """A sensor bound to an OPC UA device must name one of its ``nodes`` with ``field``."""
    names = sorted(device.nodes)
    if sensor.field is None:
        return [ConfigProblem(file, f"sensors[{index}].register",
                              f"device {device.id!r} is OPC UA: it has nodes, not registers",
                              f"replace 'register' with 'field' (one of {names})")]
    if sensor.field not in device.nodes:
        return [ConfigProblem(file, f"sensors[{index}].field",
                              f"device {device.id!r} has no node named {sensor.field!r}",
                              f"use one of {names} or add it under the device's 'nodes'")]
    return []
