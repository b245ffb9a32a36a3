"""Modbus links beyond a plain TCP socket or a local serial port, and per-connection timing.

``PolledModbus`` carries what every polled Modbus device has (unit id, interval, timeout)
plus the pacing of the connection it shares with other units: some RS-485 devices and
serial servers lose a request that follows the previous answer too closely, and some
gateways drop the first request after a connect. ``inter_request_delay`` keeps the line
quiet between two requests; ``delay_after_connect`` waits before the first one. Devices
sharing a connection share one pace: the hub takes the largest value any of them asks for.

Two link kinds are defined here:

- ``modbus-rtu-tcp``: a serial server (串口服务器) that passes RTU frames unchanged over a
  TCP socket the gateway dials (no MBAP header, CRC kept);
- ``modbus-dtu``: a 4G/GPRS DTU that dials *in*: the gateway listens on ``listen_port``;
  the DTU sends its registration packet (注册包) first, which says which DTU it is, or is
  known by its peer address; its units are then polled over that socket with RTU framing.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DeviceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class PolledModbus(BaseModel):
    """Fields of every polled Modbus device (the base of each Modbus device kind)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: _DeviceId
    profile: str = Field(min_length=1, description="device profile name or path")
    unit_id: int = Field(default=1, ge=0, le=247)
    poll_interval: float = Field(default=1.0, ge=0.05, le=3600)
    timeout: float = Field(default=1.0, gt=0, le=60)
    retries: int = Field(default=1, ge=0, le=10)
    base_address: int | None = Field(default=None, ge=0, le=465536, description="moves a "
                                     "relocatable profile: the vendor reference of 'base'")
    inter_request_delay: float = Field(
        default=0.0, ge=0, le=5,
        description="seconds of silence on the connection between two requests")
    delay_after_connect: float = Field(
        default=0.0, ge=0, le=30,
        description="seconds to wait after the connection opens before the first request")
    # gateway/modbus/README.md "Staggered polls": one "off" turns it off for the connection
    stagger: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: the devices of this connection poll at evenly spread moments of "
                    "their interval (and connections are offset from each other); off: every "
                    "device polls from the moment the gateway starts")

    @field_validator("stagger", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        """YAML reads a bare ``off`` (and ``on``) as a boolean: take it as the word meant."""
        if value is False:
            return "off"
        if value is True:
            return "auto"
        return value


class ModbusRtuTcpDevice(PolledModbus):
    """A unit behind a serial server: RTU frames over a TCP connection the gateway opens."""

    protocol: Literal["modbus-rtu-tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)


class ModbusDtuDevice(PolledModbus):
    """A unit behind a DTU that connects in to ``listen_host:listen_port``.

    Exactly one of ``registration`` (the packet as text, e.g. the DTU's configured ID or
    IMEI), ``registration_hex`` (a binary packet, hex digits) or ``peer`` (the DTU's fixed
    IP address) says which DTU it is. The registration is an identifier, not a secret:
    anyone who knows it could take the DTU's place, so put the listener on the private APN
    or behind a firewall, and give ``peer_networks`` to refuse it from anywhere else.
    """

    protocol: Literal["modbus-dtu"]
    listen_host: str = Field(default="0.0.0.0", min_length=1)
    listen_port: int = Field(ge=1, le=65535)
    registration: str | None = Field(default=None, min_length=1, max_length=128)
    registration_hex: str | None = Field(default=None, pattern=r"^([0-9A-Fa-f]{2}){1,128}$")
    peer: str | None = Field(default=None, description="the DTU's IP address")
    peer_networks: list[str] | None = Field(
        default=None, min_length=1,
        description="networks (CIDR) a DTU with this registration may connect from; "
                    "a registration from elsewhere is refused")
    registration_timeout: float = Field(
        default=10.0, gt=0, le=300,
        description="seconds a new connection has to send its registration packet")

    @field_validator("peer")
    @classmethod
    def _an_address(cls, peer: str | None) -> str | None:
        if peer is not None:
            try:
                ipaddress.ip_address(peer)
            except ValueError:
                raise ValueError(f"{peer!r} is not an IP address (a DTU known by its address "
                                 "needs a fixed IP, e.g. on a private APN)") from None
        return peer

    @field_validator("peer_networks")
    @classmethod
    def _networks(cls, networks: list[str] | None) -> list[str] | None:
        for network in networks or []:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network (e.g. 10.64.0.0/16)") from None
        return networks

    def admits(self, address: str) -> bool:
        """Whether a DTU registering from ``address`` is within ``peer_networks``."""
        if self.peer_networks is None:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(n, strict=False) for n in self.peer_networks)

    @model_validator(mode="after")
    def _one_identity(self) -> ModbusDtuDevice:
        given = [k for k in ("registration", "registration_hex", "peer")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'registration', 'registration_hex' or "
                             f"'peer' to identify the DTU (got {given or 'none'})")
        return self

    @property
    def registration_packet(self) -> bytes | None:
        """The bytes the DTU sends first, or None when it is known by its peer address."""
        if self.registration is not None:
            return self.registration.encode("utf-8")
        if self.registration_hex is not None:
            return bytes.fromhex(self.registration_hex)
        return None

    @property
    def identity(self) -> str:
        """How the DTU is named in connection keys and logs."""
        if self.peer is not None:
            return f"peer={self.peer}"
        if self.registration is not None:
            return f"id={self.registration}"
        return f"hex={self.registration_hex}"
