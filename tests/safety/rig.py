"""A whole plant for the safety tests: simulators, Mosquitto, gateway, ingest and the API.

The simulated plant and the gateway run on one asyncio loop in a background thread (as in
``occmon run``); ingest runs its own threads; the API is uvicorn on a free port. The test
body drives the plant (``rig.call(plant.set_value, ...)``) and reads the real store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml
from pymodbus.client import ModbusTcpClient

from api.app import create_app
from gateway.app import Gateway
from ingest.store import AlarmRecord, StoreReader, VentilationRecord
from ingest.subscriber import Ingest
from occmon import signing
from occmon.config import load
from occmon.config.schema import SiteConfig
from occmon.mqttclient import stop_loop
from simulators.plant import SimulatedPlant
from tests.api.serve import serve
from tests.servers import Mosquitto, free_port, wait_for

T = TypeVar("T")
SITE = "safety-plant"
PPM = 34.08 / 24.04  # H2S mg/m3 per ppm at 20 C, 101.3 kPa
# GBZ/T 223 H2S set-points, mg/m3 -> ppm for the simulated detector
PRE_PPM, ALARM_PPM, HIGH_PPM = 5 / PPM, 10 / PPM, 20 / PPM
PROCESS = "desulf-h2s-1:process"
FAULT = "desulf-h2s-1:fault"
FAILURE = "desulf-exhaust:primary:ventilation-failure"
KEY = "safety-officer-key"  # the API key of the tests (role officer)
STAFF_KEY = "safety-staff-key"


def command_keys(tmp_path: Path) -> dict[str, str]:
    """The ``security:`` section: the API's signing key pair in ``tmp_path`` (made once)."""
    private, public = tmp_path / "keys" / "signing.pem", tmp_path / "keys" / "verify.pub.pem"
    signing.ensure_key_pair(private, public)
    return {"signing_key": str(private), "verify_key": str(public)}


def site_doc(tmp_path: Path, broker_port: int, **ventilation: Any) -> dict[str, Any]:
    """A one-zone plant: an H2S detector and two fans, short delays for the tests."""
    unit = {"id": "desulf-exhaust", "areas": ["desulf"], "fan": {"device": "fan-1"},
            "standby": {"device": "fan-2"}, "feedback_timeout": 2, "hold_time": 3,
            "retry_initial": 0.5, "retry_max": 2, **ventilation}
    return {
        "site": {"id": SITE, "name": {"zh": "安全测试厂", "en": "Safety test plant"}},
        "broker": {"host": "127.0.0.1", "port": broker_port},
        "store": {"path": str(tmp_path / "occmon.db"), "batch_interval": 0.05},
        "gateway": {"queue_path": str(tmp_path / "queue.db"), "stale_after_polls": 3},
        "areas": [{"id": "desulf", "name": {"zh": "脱硫工段", "en": "Desulf unit"}}],
        "points": [{"id": "desulf-h2s-1", "name": {"zh": "脱硫泵房硫化氢",
                                                  "en": "Desulf pump house H2S"},
                    "area": "desulf", "agent": "h2s"}],
        "devices": [
            {"id": "gas-panel-1", "protocol": "modbus-tcp", "host": "127.0.0.1",
             "port": free_port(), "profile": "toxic-gas-detector", "poll_interval": 0.25,
             "timeout": 0.5, "retries": 0},
            {"id": "fan-1", "protocol": "modbus-tcp", "host": "127.0.0.1", "port": free_port(),
             "profile": "ventilation-fan", "poll_interval": 0.25, "timeout": 0.5},
            {"id": "fan-2", "protocol": "modbus-tcp", "host": "127.0.0.1", "port": free_port(),
             "profile": "ventilation-fan", "poll_interval": 0.25, "timeout": 0.5},
        ],
        "sensors": [{"id": "gp1-h2s", "point": "desulf-h2s-1", "device": "gas-panel-1",
                     "register": "gas_ppm", "unit": "ppm", "range": [0, 100]}],
        "auth": {"keys": [
            {"name": "officer", "role": "officer",
             "sha256": hashlib.sha256(KEY.encode()).hexdigest()},
            {"name": "staff", "role": "staff",
             "sha256": hashlib.sha256(STAFF_KEY.encode()).hexdigest()}]},
        "security": command_keys(tmp_path),
        # a point is stale after 3 s (12 polls), not the gateway's 0.75 s: a test process
        # (uvicorn, ingest and the test's own polling beside the gateway's loop) can hold
        # that loop for over a second on a busy machine, and a point judged stale then is a
        # fault whose fail-safe start changes what the test sees (CI failed on it twice);
        # a dead device is still a fault within 3 polls, from the driver's device-offline
        "alarms": {"on_delay": 0.5, "off_delay": 1.0, "fault_off_delay": 1.0,
                   "stale_after_polls": 12},
        "ventilation": {"units": [unit]},
        "notify": {"channels": [{"id": "annunciator", "type": "mqtt"}],
                   "groups": [{"id": "control-room", "channels": ["annunciator"]}],
                   "escalation": [{"group": "control-room", "after": 0}],
                   "group_window": 0},
    }


@contextmanager
def gateway_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m occmon.cli gateway CONFIG`` (the multi-process deployment), its output in
    ``log``; stopped with SIGTERM on the way out (killed if it does not stop in 10 s)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "occmon.cli", "gateway", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def write_config(tmp_path: Path, doc: dict[str, Any], name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


class LoopThread:
    """An asyncio loop in a thread: what the gateway and the simulated plant run on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="rig-loop",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the loop (the plant is loop-only) and return its result."""
        done: Future[T] = Future()

        def job() -> None:
            try:
                done.set_result(fn(*args))
            except Exception as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(job)
        return done.result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@dataclass
class Rig:
    config: SiteConfig
    loop: LoopThread
    plant: SimulatedPlant
    gateway: Gateway
    ingest: Ingest
    url: str
    broker: Mosquitto
    api: httpx.Client  # with an officer's key (the API has no anonymous access)
    staff: httpx.Client  # with a staff key: may read and acknowledge
    gateway_file: Path | None = None  # what restart_gateway starts the new gateway on

    def restart_gateway(self) -> None:
        """Stop the gateway and start a new one on the same site file and local files (its
        queue, the interlock's memory): a supervisor's restart after a crash or an update.
        The plant, the broker, ingest and the API keep running."""
        file = self.gateway_file
        assert file is not None
        self.loop.run(self.gateway.stop())
        config = load(file)
        self.gateway = self.loop.call(lambda: Gateway(
            config, file, broker_host=self.broker.host, broker_port=self.broker.port))
        self.loop.run(self.gateway.start())

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return self.loop.call(fn, *args)

    def reader(self) -> StoreReader:
        return StoreReader(self.config.store.path)

    def alarm_events(self, alarm_id: str | None = None) -> list[AlarmRecord]:
        """Stored alarm events, oldest first."""
        with self.reader() as reader:
            return list(reversed(reader.alarms().history(alarm_id=alarm_id, limit=10_000)))

    def ventilation_log(self) -> list[VentilationRecord]:
        with self.reader() as reader:
            return list(reversed(reader.alarms().ventilation(limit=10_000)))

    def logged(self, event: str) -> list[VentilationRecord]:
        """The ventilation log's lines of one event, oldest first."""
        return [r for r in self.ventilation_log() if r.event == event]

    def fan_commanded(self, device: str) -> bool:
        return self.call(lambda: self.plant.fan(device).commanded)

    def fan_running(self, device: str) -> bool:
        return self.call(lambda: self.plant.fan(device).running)

    def counters(self) -> dict[str, int]:
        return self.call(self.gateway.counters)



def switch(loop: LoopThread, plant: SimulatedPlant, device: str, on: bool) -> None:
    """Write a fan's run coil over Modbus, as a panel or an earlier gateway did, and wait
    until the fan runs (or no longer runs)."""
    host, port = loop.call(lambda: plant.endpoints()[device])
    coil = loop.call(lambda: plant.modbus[device].profile).register("run_command").address
    client = ModbusTcpClient(host, port=port)
    assert client.connect()
    try:
        assert not client.write_coil(coil, on, device_id=1).isError()
    finally:
        client.close()
    wait_for(lambda: loop.call(lambda: plant.fan(device).running) is on, 10,
             f"{device} {'running' if on else 'stopped'}")


def events_named(records: list[AlarmRecord], *names: str) -> list[AlarmRecord]:
    return [r for r in records if r.event in names]


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=15)


@contextmanager
def running(tmp_path: Path, broker: Mosquitto, *, scenario: str = "normal-day",
            speed: float = 1.0, doc: dict[str, Any] | None = None,
            gateway_doc: dict[str, Any] | None = None,
            initial: dict[str, float] | None = None,
            fans_on: tuple[str, ...] = ()) -> Iterator[Rig]:
    """Everything running; ``gateway_doc`` gives the gateway another config than the plant's
    (e.g. a register map that does not match the device); ``fans_on``: fans whose run coil
    is on, and which run, before the gateway starts (as a restart finds a latched coil)."""
    doc = doc or site_doc(tmp_path, broker.port)
    config = load(write_config(tmp_path, doc))
    gateway_file = write_config(tmp_path, gateway_doc or doc, "gateway.yaml")
    gateway_config = load(gateway_file)
    loop = LoopThread()
    plant = SimulatedPlant(config, scenario=scenario, speed=speed, seed=3,
                           broker_host=broker.host, broker_port=broker.port, spin_up=0.5)
    for sensor, value in ({"gp1-h2s": 0.3} if initial is None else initial).items():
        plant.set_value(sensor, value)
    loop.run(plant.start())
    for device in fans_on:
        switch(loop, plant, device, True)
    gateway = loop.call(lambda: Gateway(gateway_config, gateway_file, broker_host=broker.host,
                                        broker_port=broker.port))  # its queue is loop-only
    ingest = Ingest(config, broker_host=broker.host, broker_port=broker.port)
    ingest.start()
    app = create_app(config, config.store.path)
    try:
        assert ingest.wait_ready(10), "ingest did not subscribe"
        loop.run(gateway.start())
        with serve(app) as url, client(url, KEY) as api, client(url, STAFF_KEY) as staff:
            rig = Rig(config, loop, plant, gateway, ingest, url, broker, api, staff,
                      gateway_file)
            try:
                yield rig
            finally:
                gateway = rig.gateway  # the one running now (restart_gateway)
    finally:
        commands = getattr(app.state, "gateway_commands", None)
        if commands is not None:
            commands.stop()
        try:
            loop.run(gateway.stop())
            loop.run(plant.stop())
        finally:
            ingest.stop()
            loop.close()




def subscribed(broker: Mosquitto, topic: str) -> tuple[Callable[[], None],
                                                     list[dict[str, Any]]]:
    """Subscribe to ``topic`` (QoS 1, a filter may have wildcards); returns (stop, the JSON
    bodies received, in order; an empty retained clear is skipped)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got: list[dict[str, Any]] = []
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda _c, _u, m: m.payload and got.append(json.loads(m.payload))
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert ready.wait(10)

    def stop() -> None:
        client.disconnect()
        stop_loop(client)

    return stop, got


def annunciations(broker: Mosquitto, site: str = SITE) -> tuple[Callable[[], None],
                                                                list[dict[str, Any]]]:
    """Subscribe to the annunciator topic; returns (stop, received bodies)."""
    from occmon import topics

    return subscribed(broker, topics.annunciator(site))
