"""The OPC UA intake of a site, importing asyncua only when the site has an OPC UA device.

asyncua and what it pulls in are ~38 MB of the gateway's resident memory (its generated
node-id and type tables), a third of the whole process on a plant that polls Modbus only.
A site without OPC UA devices gets ``NoOpcUa``: it starts nothing, as an empty
``OpcUaIntake`` would, and the module is never imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from gateway.driver import Sink
from occmon.config.opcua import OpcUaDevice
from occmon.config.schema import SiteConfig

if TYPE_CHECKING:
    from gateway.normalise import Binding


class Intake(Protocol):
    """What the gateway uses of its OPC UA intake."""

    async def start(self, sink: Sink) -> None: ...

    async def stop(self) -> None: ...

    @property
    def device_count(self) -> int: ...

    def counters(self) -> dict[str, int]: ...


class NoOpcUa:
    """The intake of a site with no OPC UA device: nothing to start, stop or count."""

    async def start(self, sink: Sink) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def device_count(self) -> int:
        return 0

    def counters(self) -> dict[str, int]:
        return {}


def intake_for_site(config: SiteConfig, bindings: Mapping[str, Binding]) -> Intake:
    """``OpcUaIntake.for_site`` when the site has an OPC UA device, else ``NoOpcUa``."""
    if not any(isinstance(d, OpcUaDevice) for d in config.devices):
        return NoOpcUa()
    from gateway.opcua.intake import OpcUaIntake

    return OpcUaIntake.for_site(config, bindings)
