"""The embedded MQTT broker (amqtt, in-process) for a one-box plant with no broker configured.

Production sites point ``broker:`` at Mosquitto or a cluster; the embedded broker exists so
``make run`` needs nothing installed. It keeps sessions in memory only, so a restart of the
process loses what the broker held in flight; the gateway's on-disk queue covers that.
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

from occmon.config.schema import Embedded

_QUIET = ("amqtt", "transitions")


def broker_config(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


class EmbeddedBroker:
    """Start and stop an amqtt broker inside the running asyncio loop."""

    def __init__(self, settings: Embedded) -> None:
        self.host = settings.host
        self.port = settings.port
        self._broker: Broker | None = None

    async def start(self) -> None:
        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)
        self._broker = Broker(broker_config(self.host, self.port))
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
