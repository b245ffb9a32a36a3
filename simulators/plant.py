"""The simulated plant: every loopback Modbus TCP device and every MQTT device of a site.

One object, run inside an existing asyncio loop (``occmon run`` runs it beside the gateway,
ingest and API). Each tick (``tick`` real seconds) it reads the sim clock, computes every
sensor's value (ordinary-day signal, then the scenario's effects, then test overrides),
steps the fans' starters, and writes the Modbus register images; outages open and close
ports. MQTT devices publish on their own interval from the latest values.

Coupling that makes scenarios honest: a running fan vents the leak (the h2s-leak excursion
decays with the 12 air-changes-per-hour time constant from the moment a fan runs). A fan is
a coil-driven starter (``ventilation-fan`` profile, ``fan.py``) or a variable-frequency drive
(``abb-acs580``, ``inovance-md500``: ``drive.py``); a point bound to ventilation units is
vented only by their fans, a point bound to none by any fan.

Maintenance states: each detector's NE 107 state (bump test, inhibit, calibration, warm-up,
fault) comes from the scenario (``InstrumentState``) or ``set_state``, and is written into
its profile's status registers by ``image.fill``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.modbus.profile import NORMAL, Profile, ProfileError, load_profile
from occmon.config.mqttauth import device_login
from occmon.config.schema import ModbusTcpDevice, MqttDevice, Sensor, SiteConfig
from simulators.baselines import (
    SensorSpec,
    base_signal,
    gas_family,
    site_reference,
    unit_factor,
)
from simulators.drive import AbbDrive, DriveServer, Md500Drive
from simulators.fan import DEFAULT_SPIN_UP_S, Fan
from simulators.image import (
    Bound,
    ImageError,
    RegisterImage,
    can_fault,
    check_bindings,
    fill,
    sayable_states,
)
from simulators.modbus import ModbusDeviceServer, Mode, WriteHandler
from simulators.mqtt import MqttDeviceSim
from simulators.scenarios import (
    FAULT,
    DeviceInfo,
    Plan,
    Scenario,
    SensorInfo,
    get_scenario,
    plan,
)
from simulators.signals import Signal, SimClock, value_at
from simulators.venting import (
    DRIVE_MODELS,
    SimDrive,
    first_running,
    running_since,
    step_drive,
    venting_fans,
)

log = logging.getLogger(__name__)


class SimulationError(RuntimeError):
    """The plant cannot be simulated as configured (port in use, unknown register, ...)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class SimSensor:
    sensor: Sensor
    info: SensorInfo
    signal: Signal
    factor: float  # signal unit -> the sensor's configured unit
    value: float = 0.0


@dataclass
class SimModbusDevice:
    config: ModbusTcpDevice
    profile: Profile
    image: RegisterImage
    server: ModbusDeviceServer
    sensors: list[SimSensor]
    fan: Fan | None = None


class SimulatedPlant:
    """Simulates the site's devices over real sockets until ``stop()``."""

    def __init__(
        self,
        config: SiteConfig,
        *,
        scenario: str | Scenario = "normal-day",
        speed: float = 1.0,
        seed: int = 1,
        broker_host: str = "127.0.0.1",
        broker_port: int = 1883,
        start: float | None = None,
        tick: float = 0.25,
        spin_up: float = DEFAULT_SPIN_UP_S,
        mqtt_interval: float | None = None,
        profile_search: Sequence[Path] = (),
        listen: str | None = None,
    ) -> None:
        """``listen``: serve every Modbus TCP device of the site on this address (e.g.
        0.0.0.0 in a container the gateway reaches by name); default: only the devices whose
        configured host is loopback, each on that host."""
        self.config = config
        self.listen = listen
        self.scenario = get_scenario(scenario) if isinstance(scenario, str) else scenario
        self.speed = speed
        self.seed = seed
        self.start_time = time.time() if start is None else start
        self.tick = tick
        self.spin_up = spin_up
        self.clock = SimClock(self.start_time, speed)
        self.ticks = 0
        self._tz = ZoneInfo(config.site.timezone)
        self._overrides: dict[str, float] = {}
        self._faults: dict[str, bool] = {}
        self._fan_failed: dict[str, bool] = {}
        self._forced_down: set[str] = set()
        self._states: dict[str, str] = {}  # device -> NE 107 state set by set_state
        self._scenario_states: dict[str, tuple[str, float | None]] = {}
        self._stated: set[str] = set()  # devices whose image holds a state the plant wrote
        self._task: asyncio.Task[None] | None = None
        self.sensors: dict[str, SimSensor] = {}
        self.modbus: dict[str, SimModbusDevice] = {}
        self.drives: dict[str, SimDrive] = {}
        self.mqtt: dict[str, MqttDeviceSim] = {}
        interval = mqtt_interval
        if interval is None:
            interval = config.simulation.mqtt_interval if config.simulation else 5.0
        self._build(broker_host, broker_port, interval, profile_search)
        self._venting = venting_fans(config, {i: s.sensor for i, s in self.sensors.items()})
        self.plan: Plan = plan(
            self.scenario,
            [s.info for s in self.sensors.values()],
            self._device_infos(),
        )

    # -- construction ---------------------------------------------------------------------

    def _sim_sensor(self, sensor: Sensor, personal: bool) -> SimSensor:
        point = self.config.point(sensor.point)
        spec = SensorSpec(
            point.agent, sensor.quantity, point.fraction, sensor.unit, sensor.device, personal
        )
        signal = base_signal(self.seed, spec, self._tz)
        family = (
            gas_family(point.agent, point.fraction)
            if sensor.quantity == "concentration"
            else sensor.quantity
        )
        info = SensorInfo(sensor.id, sensor.device, point.area, family)
        ref = self.config.reference
        try:
            factor = unit_factor(spec, signal.unit,
                                 site_reference(ref.temperature_c, ref.pressure_kpa))
        except ValueError as exc:
            raise SimulationError(f"sensor {sensor.id!r}: {exc}") from None
        return SimSensor(sensor, info, signal, factor)

    def _build(
        self, host: str, port: int, interval: float, search: Sequence[Path]
    ) -> None:
        for device in self.config.devices:
            sensors = self.config.sensors_of(device.id)
            if isinstance(device, ModbusTcpDevice) and (
                self.listen is not None or is_loopback(device.host)
            ):
                try:
                    profile = load_profile(device.profile, search).with_base(device.base_address)
                except ProfileError as exc:
                    raise SimulationError(f"device {device.id!r}: {exc}") from None
                bind = self.listen if self.listen is not None else device.host
                model_of = DRIVE_MODELS.get(profile.name)
                if model_of is not None:
                    if sensors:
                        raise SimulationError(
                            f"device {device.id!r}: a simulated drive ({profile.name}) serves "
                            f"no sensor values; remove the sensors bound to it")
                    model = model_of(start_delay=self.spin_up)
                    self.drives[device.id] = SimDrive(device, model, DriveServer(
                        device.id, model, bind, device.port, device.unit_id))
                    continue
                try:
                    check_bindings(profile, device.id, [s.register_name or "" for s in sensors])
                except ImageError as exc:
                    raise SimulationError(str(exc)) from None
                sims = [self._sim_sensor(s, personal=False) for s in sensors]
                image = RegisterImage(profile)
                roles = {r.role for r in profile.registers}
                fan = Fan(spin_up=self.spin_up) if {"command", "feedback"} <= roles else None
                server = ModbusDeviceServer(device.id, bind, device.port, device.unit_id,
                                            image, on_write=self._writer(device.id))
                self.modbus[device.id] = SimModbusDevice(
                    device, profile, image, server, sims, fan
                )
            elif isinstance(device, MqttDevice):
                sims = [self._sim_sensor(s, personal=True) for s in sensors]
                fields = {s.field: s.id for s in sensors if s.field is not None}
                try:
                    self.mqtt[device.id] = MqttDeviceSim(
                        device, fields, self._published_value, host=host, port=port,
                        interval=interval, **device_login(self.config.broker, device.id),
                    )
                except ValueError as exc:
                    raise SimulationError(str(exc)) from None
            else:
                continue
            for sim in sims:
                self.sensors[sim.sensor.id] = sim

    def _device_infos(self) -> list[DeviceInfo]:
        out = []
        for d in self.config.devices:
            if d.id in self.drives:
                out.append(DeviceInfo(d.id, d.protocol, True))
            elif d.id in self.modbus:
                device = self.modbus[d.id]
                out.append(DeviceInfo(d.id, d.protocol, device.fan is not None,
                                      self.states_of(d.id)))
            elif d.id in self.mqtt:
                out.append(DeviceInfo(d.id, d.protocol, False))
        return out

    # -- the public controls ------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Sim seconds since the plant (and its scenario) started."""
        return self.clock.elapsed()

    def current_value(self, sensor_id: str) -> float:
        """The value the simulated instrument holds now, in the sensor's configured unit."""
        return self.sensors[sensor_id].value

    def value_at(self, sensor_id: str, sim_time: float) -> float:
        """The scenario's value at a sim time, without fans or overrides (for reproducibility)."""
        sim = self.sensors[sensor_id]
        base = value_at(sim.signal, sim_time)
        elapsed = sim_time - self.start_time
        return self.plan.value(sensor_id, base, elapsed) * sim.factor

    def set_value(self, sensor_id: str, value: float | None) -> None:
        """Hold a sensor at ``value`` (in its configured unit); None returns it to the signal."""
        if sensor_id not in self.sensors:
            raise KeyError(f"sensor {sensor_id!r} is not simulated")
        if value is None:
            self._overrides.pop(sensor_id, None)
        else:
            self._overrides[sensor_id] = value
        self._update()

    def set_fault(self, device_id: str, fault: bool | None) -> None:
        """A fan: trip (True), repair (False). A drive: trip, and the cause cleared (it stays
        tripped until the gateway writes its reset). A sensor device: its fault status bit
        (or failure state) and the NE 43 fault current on its loop. None returns the device
        to the scenario."""
        device = self.modbus.get(device_id)
        if device is None and device_id not in self.drives:
            raise KeyError(f"device {device_id!r} is not a simulated Modbus device")
        fan = device is None or device.fan is not None
        table = self._fan_failed if fan else self._faults
        if fault is None:
            table.pop(device_id, None)
        else:
            table[device_id] = fault
        self._update()

    def states_of(self, device_id: str) -> frozenset[str]:
        """The maintenance states the device's profile can say (``fault`` if it can fault)."""
        device = self.modbus.get(device_id)
        if device is None:
            return frozenset()
        extra = {FAULT} if can_fault(device.profile) else set()
        return sayable_states(device.profile) | extra

    def set_state(self, device_id: str, state: str | None) -> None:
        """Put a detector in an NE 107 state its profile can say (``check-function:bump-test``,
        ``check-function:inhibit``, ..., or ``fault``), as a technician does at the
        instrument; ``normal`` is normal monitoring; None returns it to the scenario."""
        if device_id not in self.modbus:
            raise KeyError(f"device {device_id!r} is not a simulated Modbus device")
        if state is None:
            self._states.pop(device_id, None)
        else:
            says = self.states_of(device_id)
            if state != NORMAL and state not in says:
                known = ", ".join(sorted(says)) or "none (no status register)"
                raise ValueError(f"device {device_id!r} ({self.modbus[device_id].profile.name}) "
                                 f"cannot say {state!r}; its profile says: {known}")
            self._states[device_id] = state
        self._update()

    def drive(self, device_id: str) -> AbbDrive | Md500Drive:
        """The drive model of a drive-commanded fan (its status, its written history)."""
        drive = self.drives.get(device_id)
        if drive is None:
            raise KeyError(f"device {device_id!r} is not a simulated drive")
        return drive.model

    def fan_running(self, device_id: str) -> bool:
        """A coil fan's running feedback or a drive's running state."""
        if device_id in self.drives:
            return self.drives[device_id].model.running
        return self.fan(device_id).running

    async def stop_device(self, device_id: str) -> None:
        """The device stops answering (port closed / no more messages) until start_device."""
        self._known(device_id)
        self._forced_down.add(device_id)
        await self._apply_modes()

    async def start_device(self, device_id: str) -> None:
        self._known(device_id)
        self._forced_down.discard(device_id)
        await self._apply_modes()

    def fan(self, device_id: str) -> Fan:
        fan = self.modbus[device_id].fan
        if fan is None:
            raise KeyError(f"device {device_id!r} is not a fan")
        return fan

    def _known(self, device_id: str) -> None:
        if device_id not in self.modbus and device_id not in self.mqtt \
                and device_id not in self.drives:
            raise KeyError(f"device {device_id!r} is not simulated")

    # -- running ------------------------------------------------------------------------

    async def start(self) -> None:
        self.clock = SimClock(self.start_time, self.speed)
        log.info(
            "simulating %d Modbus devices, %d drives and %d MQTT devices, scenario %s, "
            "speed %g, seed %d", len(self.modbus), len(self.drives), len(self.mqtt),
            self.scenario.name, self.speed, self.seed,
        )
        self._update()
        try:
            await self._apply_modes()
            for sim in self.mqtt.values():
                await sim.start()
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._run(), name="simulated-plant")

    def endpoints(self) -> dict[str, tuple[str, int]]:
        """device id -> the (host, port) its simulated Modbus server listens on."""
        devices: list[tuple[str, ModbusTcpDevice]] = [
            *((i, d.config) for i, d in self.modbus.items()),
            *((i, d.config) for i, d in self.drives.items()),
        ]
        return {
            device_id: (self.listen if self.listen is not None else config.host, config.port)
            for device_id, config in devices
        }

    async def wait_listening(self, timeout: float = 5.0) -> None:
        """Return once every simulated Modbus device that is up accepts a TCP connection,
        so a gateway started next never polls a simulator that is not there yet (which
        would be a false sensor-fault alarm and a fail-safe fan start). Raises
        SimulationError naming the first device still refusing after ``timeout``."""
        deadline = time.monotonic() + timeout
        for device_id, (host, port) in self.endpoints().items():
            if self._mode(device_id) != "up":
                continue  # a scenario's outage from the start: refusing is the point
            target = "127.0.0.1" if host in ("0.0.0.0", "") else host
            while True:
                try:
                    _reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(target, port), 0.5)
                except (OSError, TimeoutError) as exc:
                    if time.monotonic() >= deadline:
                        raise SimulationError(
                            f"simulated device {device_id!r} does not accept connections on "
                            f"{target}:{port} after {timeout:g} s ({exc})") from None
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                break

    async def stop(self) -> None:
        """Stop every server, publisher and the tick task (well within 2 s)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(
            *(sim.stop() for sim in self.mqtt.values()),
            *(dev.server.stop() for dev in self.modbus.values()),
            *(drive.server.stop() for drive in self.drives.values()),
            return_exceptions=True,
        )

    async def _run(self) -> None:
        while True:
            try:
                self._update()
                await self._apply_modes()
            except SimulationError as exc:
                log.error("simulated plant: %s", exc)
            except Exception:  # a bug in one tick must not stop the simulated plant
                log.exception("simulated plant: tick failed")
            self.ticks += 1
            await asyncio.sleep(self.tick)

    def _running_since(self) -> dict[str, float]:
        return running_since({i: d.fan for i, d in self.modbus.items()}, self.drives)

    def _vented_since(self, sensor_id: str, running: dict[str, float]) -> float | None:
        """Elapsed sim time since which a fan venting the sensor's point has run, if one has."""
        since = first_running(self._venting.get(sensor_id), running)
        return None if since is None else (since - self.clock.t0) * self.speed

    def _instrument_state(self, device_id: str, elapsed: float) -> tuple[str, float | None]:
        """The device's state now (set_state, else the scenario, else normal) and the test
        gas fraction the scenario applies with it."""
        override = self._states.get(device_id)
        if override is not None:
            return override, None
        return self.plan.instrument_state(device_id, elapsed) or (NORMAL, None)

    def _update(self) -> None:
        """One tick's values: fans, sensor values, register images. Synchronous."""
        mono = time.monotonic()
        now = self.clock.now(mono)
        elapsed = now - self.clock.start
        for device_id, device in self.modbus.items():
            if device.fan is None:
                continue
            failed = self._fan_failed.get(device_id, self.plan.fan_failed(device_id, elapsed))
            fan = device.fan
            if failed != fan.fault:
                fan = fan.set_failed(failed, mono)
            device.fan = fan.tick(mono)
        for device_id, drive in self.drives.items():
            failed = self._fan_failed.get(device_id, self.plan.fan_failed(device_id, elapsed))
            step_drive(device_id, drive.model, failed, mono)
        running = self._running_since()
        self._scenario_states = {d: self._instrument_state(d, elapsed) for d in self.modbus}
        for sensor_id, sim in self.sensors.items():
            override = self._overrides.get(sensor_id)
            if override is not None:
                sim.value = override
                continue
            _state, test_gas = self._scenario_states.get(sim.sensor.device, (NORMAL, None))
            if test_gas is not None and sim.sensor.range is not None:
                low, high = sim.sensor.range
                sim.value = low + test_gas * (high - low)  # the technician's test gas
                continue
            base = value_at(sim.signal, now)
            vented = self._vented_since(sensor_id, running)
            sim.value = self.plan.value(sensor_id, base, elapsed, vented) * sim.factor
        for device_id in self.modbus:
            self._fill(device_id)

    def _fill(self, device_id: str) -> None:
        device = self.modbus[device_id]
        bound = [
            Bound(s.sensor.register_name or "", s.value, s.sensor.range, s.sensor.unit)
            for s in device.sensors
        ]
        state, _test_gas = self._scenario_states.get(device_id, (NORMAL, None))
        fault = self._faults.get(device_id, state == FAULT)
        if state != NORMAL or device_id in self._stated:
            # the plant writes the state it set, and normal once after it; a state written
            # into the image directly (a test's own hook) is left alone otherwise
            device.image.state = NORMAL if state == FAULT else state
            (self._stated.add if state != NORMAL else self._stated.discard)(device_id)
        try:
            fill(device.image, bound, fault=fault, fan=device.fan)
        except ValueError as exc:
            raise SimulationError(f"device {device_id!r}: {exc}") from exc

    def _mode(self, device_id: str) -> Mode:
        if device_id in self._forced_down:
            return "closed"
        outage = self.plan.outage(device_id, self.elapsed)
        return "up" if outage is None else outage.mode

    async def _apply_modes(self) -> None:
        for device_id, device in self.modbus.items():
            mode = self._mode(device_id)
            try:
                await device.server.set_mode(mode)
            except RuntimeError as exc:
                raise SimulationError(
                    f"device {device_id!r}: cannot listen on {device.config.host}:"
                    f"{device.config.port}: {exc}"
                ) from None
        for device_id, drive in self.drives.items():
            try:
                await drive.server.set_mode(self._mode(device_id))
            except (RuntimeError, OSError) as exc:
                raise SimulationError(
                    f"drive {device_id!r}: cannot listen on {drive.config.host}:"
                    f"{drive.config.port}: {exc}"
                ) from None
        for device_id, sim in self.mqtt.items():
            publishing = self._mode(device_id) == "up"
            if publishing != sim.publishing:
                log.info("simulated device %s: %s", device_id,
                         "publishing" if publishing else "silent")
                sim.publishing = publishing

    def _writer(self, device_id: str) -> WriteHandler:
        """A client wrote registers of the device: a fan's run command goes to its starter."""

        def on_write(registers: list[str]) -> None:
            device = self.modbus[device_id]
            if device.fan is None:
                return
            for reg in device.profile.registers:
                if reg.name in registers and reg.role == "command":
                    on = bool(device.image.get(reg.name))
                    if on != device.fan.commanded:
                        log.info("simulated fan %s: run command %d", device_id, on)
                    device.fan = device.fan.command(on, time.monotonic())
            self._fill(device_id)  # the contactor's feedback drops at once on a stop

        return on_write

    def _published_value(self, sensor_id: str) -> float | None:
        sim = self.sensors.get(sensor_id)
        return None if sim is None else sim.value

