"""The MQTT flood scenario, shared by tests/gateway_core/test_flood.py and bench/mqtt_flood.py.

A whole gateway (``gateway.app.Gateway``) with one Modbus gas detector served by a real
pymodbus server and polled every ``interval``, and one MQTT gas detector; a vendor client
floods the MQTT detector's topic with ``messages`` garbage QoS 0 messages as fast as paho
sends them. Each poll's start is recorded (monotonic) by wrapping the driver's ``poll``, so
the figures are actual poll start times against the fixed schedule.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading
from tests.gateway.modbus_server import ModbusTestServer, Registers
from tests.servers import free_port

VENDOR_TOPIC = "vendor/wgas/wgas-1/data"
MODBUS_POINT = "desulf-h2s-1"
# 1.0 ppm H2S as FLOAT32 ABCD = 3f 80 00 00; status word 0 (no fault): below every set-point
GAS_REGISTERS: Registers = {"holding": {0: [0x3F80, 0x0000], 2: 0, 3: 0}}


def flood_site(tmp: Path, modbus_port: int, interval: float) -> SiteConfig:
    return SiteConfig.model_validate({
        "site": {"id": "plant-a", "name": {"zh": "甲厂", "en": "Plant A"}},
        "gateway": {"queue_path": str(tmp / "q.db"), "stale_after_polls": 3},
        "areas": [{"id": "desulf", "name": {"zh": "脱硫", "en": "Desulf"}}],
        "points": [
            {"id": MODBUS_POINT, "name": {"zh": "硫化氢", "en": "H2S"}, "area": "desulf",
             "agent": "h2s"},
            {"id": "desulf-h2s-w1", "name": {"zh": "硫化氢无线", "en": "H2S wireless"},
             "area": "desulf", "agent": "h2s"},
        ],
        "devices": [
            {"id": "gas-panel-1", "protocol": "modbus-tcp", "host": "127.0.0.1",
             "port": modbus_port, "profile": "toxic-gas-detector", "poll_interval": interval,
             "timeout": 0.5, "retries": 0},
            {"id": "wgas-1", "protocol": "mqtt", "topic": VENDOR_TOPIC, "expire_after": 120,
             "mapping": {"fields": {"h2s": "gas.h2s"}, "time": "ts",
                         "time_format": "epoch_ms"}},
        ],
        "sensors": [
            {"id": "gp1-h2s", "point": MODBUS_POINT, "device": "gas-panel-1",
             "register": "gas_ppm", "unit": "ppm", "range": [0, 100]},
            {"id": "w1-h2s", "point": "desulf-h2s-w1", "device": "wgas-1", "field": "h2s",
             "unit": "ppm", "range": [0, 100]},
        ],
    })


@dataclass
class FloodResult:
    interval: float
    messages: int
    handled: int  # messages the intake read (each one rejected: malformed JSON)
    dropped: int  # QoS 0 messages dropped unread at the intake's bound, counted
    flood_seconds: float  # first publish until the intake had handled or dropped them all
    polls: int  # polls started during the flood (and one settle interval after it)
    expected_polls: float
    max_gap: float  # largest interval between two consecutive poll starts
    bad_modbus_readings: int
    fault_alarms: int
    dead_letters: int
    counters: dict[str, int]

    @property
    def max_delay(self) -> float:
        """How late the latest poll started against the schedule (gap minus interval)."""
        return max(0.0, self.max_gap - self.interval)

    @property
    def throughput(self) -> float:
        return (self.handled + self.dropped) / self.flood_seconds


# The flooder is another process, as a misbehaving device is: its paho thread does not
# compete with the gateway's event loop for this process's GIL, and at the lowest CPU
# priority, as in the field it does not share the gateway's cores (Mosquitto, which may
# well run on the gateway's box, keeps normal priority and does all the forwarding).
FLOODER = """
import os
import sys
os.nice(19)  # a device on the network, not a process on the gateway's two cores
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
host, port, messages, topic = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flooder")
client.max_queued_messages_set(0)
client.connect(host, port, keepalive=30)
client.loop_start()
print("ready", flush=True)
sys.stdin.readline()  # "go": forking this process would stall the gateway's loop
infos = [client.publish(topic, b"garbage %d {" % i, qos=0) for i in range(messages)]
for info in infos:
    info.wait_for_publish(60)
client.disconnect()
client.loop_stop()
"""


def start_flooder(host: str, port: int, messages: int) -> subprocess.Popen[bytes]:
    """Start the flooder, connected and waiting for a line on its stdin to begin."""
    proc = subprocess.Popen([sys.executable, "-c", FLOODER, host, str(port), str(messages),
                             VENDOR_TOPIC], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if proc.stdout.readline() != b"ready\n":
        proc.kill()
        raise RuntimeError("the flooder did not connect")
    return proc


async def run_flood(tmp: Path, host: str, port: int, *, messages: int = 20_000,
                    interval: float = 0.2, timeout: float = 90.0) -> FloodResult:
    modbus_port = free_port()
    server = ModbusTestServer(modbus_port, {1: GAS_REGISTERS})
    await server.start()
    config = flood_site(tmp, modbus_port, interval)
    gateway = Gateway(config, tmp / "site.yaml", broker_host=host, broker_port=port)
    starts: list[float] = []
    driver: Any = next(d for d in gateway.drivers if d.device_id == "gas-panel-1")
    poll = driver.poll

    async def timed_poll(now: float) -> list[Reading]:
        starts.append(time.monotonic())
        result: list[Reading] = await poll(now)
        return result

    driver.poll = timed_poll
    modbus: list[Reading] = []
    gateway.sink.observers.append(
        lambda batch: modbus.extend(r for r in batch if r.point == MODBUS_POINT))
    flooder = start_flooder(host, port, messages)  # before the gateway: no fork under way
    await gateway.start()
    try:
        deadline = time.monotonic() + 10
        while gateway.counters().get("mqtt.connects", 0) == 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the intake did not connect")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # SUBACK, and the Modbus point healthy before the flood
        faults_before = _faults(gateway)
        began = time.monotonic()
        assert flooder.stdin is not None
        flooder.stdin.write(b"go\n")
        flooder.stdin.flush()
        while True:
            counters = gateway.counters()
            seen = counters.get("mqtt.messages", 0) + counters.get("mqtt.dropped.overflow", 0)
            if seen >= messages:
                break
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"intake saw {seen} of {messages} in {timeout} s")
            await asyncio.sleep(0.02)
        ended = time.monotonic()
        await asyncio.sleep(interval * 2)
        await asyncio.to_thread(flooder.wait, 30)
        window = [t for t in starts if t >= began - interval]
        counters = gateway.counters()
        return FloodResult(
            interval=interval, messages=messages, handled=counters.get("mqtt.messages", 0),
            dropped=counters.get("mqtt.dropped.overflow", 0), flood_seconds=ended - began,
            polls=len(window), expected_polls=(window[-1] - window[0]) / interval + 1,
            max_gap=max(_gaps(window)),
            bad_modbus_readings=sum(1 for r in modbus if r.quality is Quality.BAD),
            fault_alarms=_faults(gateway) - faults_before,
            dead_letters=counters.get("mqtt.dead_letters", 0), counters=counters)
    finally:
        if flooder.poll() is None:
            flooder.kill()
        flooder.wait()
        for pipe in (flooder.stdin, flooder.stdout):
            if pipe is not None:
                pipe.close()
        await gateway.stop()
        await server.stop()


def _gaps(starts: Sequence[float]) -> list[float]:
    return [b - a for a, b in pairwise(starts)]


def _faults(gateway: Gateway) -> int:
    return gateway.safety.engine.alarm(f"{MODBUS_POINT}:fault").occurrence
