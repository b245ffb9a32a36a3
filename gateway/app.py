"""The gateway process: drivers -> sink -> persistent queue -> publisher -> broker.

``Gateway`` wires the parts and owns their lifetimes: one ``run_polled`` task per Modbus
device, the MQTT intake, one ``Committer`` that commits what they read and the safety
events once per loop turn, and the publisher that drains the queue.
``run_gateway`` is the ``occmon gateway CONFIG`` entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import thresholds
from gateway import calibrations, instrument
from gateway.committer import Committer
from gateway.health import GatewayHealth
from gateway.modbus.drivers import build_drivers
from gateway.mqtt.intake import MqttIntake
from gateway.normalise import Binding
from gateway.opcua.site import intake_for_site
from gateway.polling import run_polled
from gateway.publisher import Publisher
from gateway.queue import Queue
from gateway.reference import site_reference
from gateway.safety import ObservedSink, Safety
from gateway.shutdown import Deadline, close_all
from occmon import topics
from occmon.config import load
from occmon.config.schema import MqttDevice, SiteConfig
from occmon.mqttclient import options

log = logging.getLogger(__name__)

STOP_TIMEOUT = 2.0
# s a committed burst waits for the rest of it (gateway/committer.py: fewer commits and
# messages, and a shorter latency tail than committing at the end of every loop turn)
GATEWAY_LINGER = 0.004
# s at most that what is buffered waits for the polls in flight (gateway/committer.py: a
# slot's burst of polls is one commit and one message; a hanging poll costs the others this)
GATEWAY_HOLD = 0.010


def build_bindings(config: SiteConfig) -> dict[str, Binding]:
    """sensor id -> Binding, resolving each point's agent and the site's reference once."""
    reference = site_reference(config)
    bindings = {}
    for sensor in config.sensors:
        point = config.point(sensor.point)
        bindings[sensor.id] = Binding(sensor, point, thresholds.lookup(point.agent), reference)
    return bindings


class Gateway:
    """The edge gateway of one site. ``start()``, then ``stop()`` (clean, within 2 s)."""

    def __init__(
        self,
        config: SiteConfig,
        config_file: Path,
        *,
        broker_host: str,
        broker_port: int,
        modbus_client_factory: Callable[[Any], Any] | None = None,
    ) -> None:
        self.config = config
        self.config_file = Path(config_file)
        self.site = config.site.id
        broker = config.broker
        prefix = broker.client_id_prefix if broker else "occmon"
        settings = config.gateway
        self.bindings: Mapping[str, Binding] = build_bindings(config)
        self.queue = Queue(
            settings.queue_path,
            overflow_topic=topics.events(self.site, "queue-overflow"),
            checkpoint_thread=True,
        )
        self.publisher = Publisher(
            self.queue,
            site=self.site,
            host=broker_host,
            port=broker_port,
            client_id=f"{prefix}-gateway-{self.site}",
            publish_batch=settings.publish_batch,
            max_inflight=settings.max_inflight,
            keepalive=broker.keepalive if broker else 30,
            **options(broker, "gateway"),
        )
        # One committer for readings and safety events: a burst's entries in one transaction.
        self.committer = Committer(self.queue, on_commit=self.publisher.wake,
                                   linger=GATEWAY_LINGER, hold=GATEWAY_HOLD)
        self.sink = ObservedSink(self.committer, self.site)
        self.sink.payload_version = settings.payload_version  # docs/topics.md, payload v2
        self.drivers = build_drivers(config, self.bindings, self.config_file, modbus_client_factory)
        # the run number of every event id of this run: after the run before's, whatever the
        # clock says (an alarm's current state in the record is its event with the top id)
        boot = self.queue.next_boot("gateway", int(time.time() * 1000))
        self.instrument_events = instrument.attach(self.drivers, self.committer, self.site,
                                                   boot)
        self.safety = Safety(  # leak alarms and accident ventilation (docs/alarms.md)
            config, self.committer, self.drivers,
            broker_host=broker_host, broker_port=broker_port,
            client_id=f"{prefix}-gateway-commands-{self.site}",
            memory_path=Path(f"{settings.queue_path}-interlock"), boot_ms=boot,
        )
        self.sink.observers.append(self.safety.readings)
        self.calibrations = calibrations.attach(config, self.safety, self.instrument_events)
        mqtt_devices = [d for d in config.devices if isinstance(d, MqttDevice)]
        self.intake: MqttIntake | None = None
        if mqtt_devices:
            self.intake = MqttIntake(
                mqtt_devices,
                [b for b in self.bindings.values() if b.sensor.field is not None],
                host=broker_host,
                port=broker_port,
                client_id=f"{prefix}-gateway-intake-{self.site}",
                **options(broker, "gateway"),
                keepalive=broker.keepalive if broker else 30,
                trust=config.trust,
                stale_after_polls=config.gateway.stale_after_polls,
            )
        self.opcua = intake_for_site(config, self.bindings)  # OPC UA (gateway/opcua/)
        self._tasks: list[asyncio.Task[None]] = []
        # heartbeat on status/gateway, system alarms, /metrics (gateway/health.py)
        self.health = GatewayHealth(self, broker_host=broker_host, broker_port=broker_port)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.publisher.run(), name="publisher"))
        await self.safety.start()
        await self.health.start()
        polled = self.safety.polled(self.drivers)
        peers = Counter(driver.interval for driver in polled)  # sizes the wake-up grids
        for driver in polled:
            task = run_polled(
                driver, self.sink, stale_after_polls=self.config.gateway.stale_after_polls,
                peers=peers[driver.interval], in_flight=self.committer,
            )
            self._tasks.append(asyncio.create_task(task, name=f"poll-{driver.device_id}"))
        if self.intake is not None:
            await self.intake.start(self.sink)
        await self.opcua.start(self.sink)
        log.info(
            "gateway %s: %d polled devices, %d MQTT devices, queue %s (%d rows pending)",
            self.site,
            len(self.drivers),
            self.intake.device_count if self.intake else 0,
            self.queue.path,
            self.queue.rows,
        )

    async def stop(self) -> None:
        """Stop reading, commit what was read, give the publisher a moment, disconnect:
        within ``STOP_TIMEOUT`` s however many devices there are and whatever they do
        (the steps over many parts run concurrently under one bound, gateway/shutdown.py)."""
        deadline = Deadline(STOP_TIMEOUT - 0.2)  # the rest: closing the queue, exiting
        await deadline.run(self.health.stop(), "health", 0.4)
        publisher = self._tasks[0] if self._tasks else None
        readers = self._tasks[1:]
        for task in readers:
            task.cancel()
        stopping = [self.opcua.stop(), asyncio.gather(*readers, return_exceptions=True)]
        if self.intake is not None:
            stopping.append(self.intake.stop())
        await deadline.run(asyncio.gather(*stopping), "readers", 0.5)
        await deadline.run(self.safety.stop(), "safety", 0.6)
        await close_all(self.drivers, deadline, 0.4)
        if not self.committer.flush():
            log.error("%d entries not committed at stop (disk error?)", self.committer.buffered)
        await deadline.run(self.publisher.stop(grace=deadline.left(0.5)), "publisher", 0.6)
        if publisher is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(publisher, max(deadline.left(), 0.2))
        self._tasks.clear()
        self.queue.close()

    def counters(self) -> dict[str, int]:
        out = {**self.queue.counters(), **self.publisher.counters()}
        if self.intake is not None:
            out.update(self.intake.counters())
        out.update(self.safety.counter_values())
        out.update(self.opcua.counters())
        out.update(self.calibrations.counters)
        out["sink.buffered"] = self.sink.buffered
        out["sink.failed_commits"] = self.sink.failed_commits
        for driver in self.drivers:
            for key, value in driver.counters.items():
                out[f"modbus.{driver.device_id}.{key}"] = value
        return out


async def run_gateway(config_path: str | Path) -> None:
    """``occmon gateway CONFIG``: run until SIGINT/SIGTERM."""
    path = Path(config_path)
    config = load(path)
    if config.broker is not None:
        host, port = config.broker.host, config.broker.port
    else:
        host, port = config.embedded_broker.host, config.embedded_broker.port
    gateway = Gateway(config, path, broker_host=host, broker_port=port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    await gateway.start()
    try:
        await stopping.wait()
    finally:
        await gateway.stop()
