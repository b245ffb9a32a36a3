"""The safety shell: runs the alarm engine and the ventilation interlock inside the gateway.

Everything happens on the gateway's event loop, independent of broker, store and API:

* every reading the gateway accepts is fed to the ``AlarmEngine`` as it arrives (the
  ``ObservedSink`` calls ``readings``); a ``Tick`` every ``tick_interval`` judges staleness,
  delays, hold times and retries;
* the engine's point conditions go to the ``Interlock``; its ``WriteCoil`` commands are
  executed on the fan's Modbus device (FC5 + read-back) and answered with ``CoilResult``;
  the fan's running input, read at every poll of the fan, is fed back as ``Feedback``;
* a ventilation failure becomes a high-priority ``ExternalAlarm`` in the engine;
* every alarm and interlock event is committed to the gateway's queue (kind ``event``:
  never dropped) for ``events/alarm`` / ``events/ventilation``, and the point's snapshot to
  the retained ``state/{point}``, by the gateway's ``Committer`` at the end of the loop turn; an
  event the queue cannot take now is kept and retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway import interlock as il
from gateway.alarms.actions import (
    AlarmEvent,
    RemovedFromService,
    ReturnedToService,
    Shelved,
    Unshelved,
)
from gateway.alarms.engine import AlarmEngine, GoodPlan
from gateway.alarms.errors import AlarmError
from gateway.alarms.events import ExternalAlarm, SetOutOfService, Shelve, Tick
from gateway.alarms.resolve import point_specs
from gateway.committer import Committer
from gateway.driver import PolledDriver
from gateway.modbus.device import ModbusDevice
from gateway.queue import Entry
from gateway.safety import states, wire
from gateway.safety.commands import BadCommand, CommandListener, parse, result_payload
from gateway.safety.fans import FanDriver, FanState, write_coil, write_drive
from gateway.safety.guard import AUDIT, CommandGuard, Refused
from gateway.safety.memory import Suppression, UnitMemoryFile
from occmon.batch import GoodBatch, SeriesTable
from occmon.config.alarms import AlarmsConfig
from occmon.config.schema import SiteConfig
from occmon.config.ventilation import Drive, VentilationConfig
from occmon.model import Reading
from occmon.mqttclient import options

log = logging.getLogger(__name__)

TICK_INTERVAL = 0.5
# A tick this late is logged and counted: the event loop was held that long (a stalled disk
# under the queue, a starved CPU, a blocking bug), and every alarm, interlock decision and
# poll of the gateway waited as long. The largest lateness of each heartbeat interval is the
# gateway's figure ``loop_late_max_s`` (gateway/health.py), however small.
LOOP_STALL_S = 1.0
# The point of the gateway's own system alarms (system:gateway:<code>, gateway/health.py). A
# restarted gateway has none open: its start-up snapshot lists this source too, so ingest
# closes one left open by the run before (gateway-restarted), and a problem still there is
# raised again by the first health check, not shown from the last run as if it were now.
SYSTEM_SOURCE = "gateway"

# ``Safety._plan``: a device's judged series (index, point, quantity), the engine's plan of
# them, and whether one is a ventilation unit's point
_Plan = tuple[list[tuple[int, str, str]], GoodPlan, bool]


class Safety:
    """Alarm engine + interlock + their I/O for one gateway. ``start()`` / ``stop()``."""

    def __init__(self, config: SiteConfig, committer: Committer,
                 drivers: Sequence[ModbusDevice], *,
                 broker_host: str | None = None, broker_port: int = 1883,
                 client_id: str | None = None, clock: Callable[[], float] = time.time,
                 tick_interval: float = TICK_INTERVAL, memory_path: Path | None = None,
                 boot_ms: int | None = None) -> None:
        """``boot_ms``: the run number of this run's event ids (``Queue.next_boot``; the
        wall clock's ms when not given)."""
        self.site = config.site.id
        self._committer, self._clock = committer, clock
        self._tick_interval = tick_interval
        alarms = config.alarms or AlarmsConfig()
        self.engine = AlarmEngine(point_specs(config, alarms), max_shelve=alarms.max_shelve)
        self._alarm_points = set(self.engine.conditions())
        areas = {p.id: p.area for p in config.points}
        self.interlock = il.Interlock.from_config(config.ventilation or VentilationConfig(),
                                                  areas)
        self._bound = {p for u in self.interlock.units.values() for p in u.points}
        # per device's series table (readings): a plain dict, as the tables are made once a
        # device (a weak one made a weak reference at each poll's look-up)
        self._plans: dict[SeriesTable, _Plan] = {}
        # the interlock's points that have alarms, in the engine's order (what _zone reports)
        self._zone_points = [p for p in self.engine.conditions() if p in self._bound]
        self._devices = {d.device_id: d for d in drivers}
        self._fans: dict[str, tuple[str, str | None]] = {}  # device -> (running, fault) names
        self._drives: dict[str, Drive] = {}  # device -> its control-word sequences (VFD fans)
        for unit in (config.ventilation.units if config.ventilation else []):
            for fan in (unit.fan, unit.standby):
                if fan is not None:
                    self._fans[fan.device] = (fan.running, fan.fault)
                    if fan.drive is not None:
                        self._drives[fan.device] = fan.drive
        self._ids = wire.EventIds() if boot_ms is None else wire.EventIds(boot_ms)
        self.counters: Counter[str] = Counter()
        # each unit's demand state across a restart (memory.py); None: not kept (tests)
        self._memory = (UnitMemoryFile(memory_path, self.counters)
                        if memory_path is not None else None)
        self.guard = CommandGuard.from_config(config)  # signed operator commands only
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._late_max = 0.0  # s: the latest tick's worst lateness since take_loop_late()
        self._fan_state: dict[str, FanState] = {}
        # (device, coil, value, started, FC5 answered or None, ok): monotonic, for the bench
        self.writes: deque[tuple[str, str, bool, float, float | None, bool]] = deque(
            maxlen=1000)
        self.listener: CommandListener | None = None
        if broker_host is not None:
            broker = config.broker
            self.listener = CommandListener(
                self.site, self.command, host=broker_host, port=broker_port,
                client_id=client_id or f"occmon-gateway-commands-{self.site}",
                **options(broker, "gateway"),
                keepalive=broker.keepalive if broker else 30)

    # -- lifecycle ------------------------------------------------------------------------
    def polled(self, drivers: Sequence[PolledDriver]) -> list[PolledDriver]:
        """The drivers to poll: fans wrapped so that each poll reports their feedback."""
        out: list[PolledDriver] = []
        for driver in drivers:
            names = self._fans.get(driver.device_id)
            device = self._devices.get(driver.device_id)
            if names is not None and device is not None:
                out.append(FanDriver(device, names[0], names[1], self.fan_state,
                                     self._drives.get(driver.device_id)))
            else:
                out.append(driver)
        return out

    async def start(self) -> None:
        now = self._clock()
        if self._memory is not None:  # shelves and out-of-service from before a restart
            self._restore_suppressions(now)
        self._enqueue(states.state_entries(  # the fresh engine's truth: ingest reconciles
            self.site, self.engine, [*self._alarm_points, *self.interlock.units,
                                     SYSTEM_SOURCE], now, startup=True))
        if self._memory is not None:  # a hold, a latch, an override from before a restart
            self._apply(self.interlock.restore(self._memory.load(), now))
        # each unit's state as the interlock starts, so the board shows "idle" on a quiet
        # day rather than "no state reported" until something happens to the unit
        self._apply(self.interlock.report(now, "gateway started"))
        self._ticker = asyncio.create_task(self._tick_loop(), name="safety-tick")
        if self.listener is not None:
            self.listener.start()

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=0.3)
        if self.listener is not None:
            try:
                await asyncio.wait_for(self.listener.stop(), 0.5)
            except Exception:
                log.warning("command listener did not stop in time")
        if not self._committer.flush():
            log.error("safety events not committed at stop (disk error?)")
        if self._memory is not None:
            self._memory.close()

    def _late(self, late: float) -> None:
        self._late_max = max(self._late_max, late)
        if late >= LOOP_STALL_S:
            self.counters["loop-stalls"] += 1
            log.warning("the event loop ran %.1f s late: alarms, the interlock and polls "
                        "waited as long (a stalled disk, a starved CPU or a blocking call)", late)

    def take_loop_late(self) -> float:
        """The worst lateness of the alarm tick (s) since the last call, which starts anew."""
        late, self._late_max = self._late_max, 0.0
        return late

    def memory_problem(self) -> str | None:
        """Why the units' states and the alarms' shelves cannot be kept across a restart now
        (memory.py); None: they are."""
        return None if self._memory is None else self._memory.problem

    def counter_values(self) -> dict[str, int]:
        return {f"safety.{k}": v for k, v in self.counters.items()}

    # -- inputs ---------------------------------------------------------------------------
    def readings(self, batch: Sequence[Reading]) -> None:
        """Every accepted reading, synchronously: the engine sees it before any I/O.

        A sample's time is capped at the gateway's clock before the engine sees it (the
        stored reading keeps its own): a sender's clock running fast must never leave a
        point's last time ahead of the real samples that follow (docs/alarms.md). A sample
        older than the point's last one is ignored by the engine and counted here.
        """
        events: list[AlarmEvent] = []
        touched = False
        latest = 0.0
        now = self._clock()
        late = self.engine.counters["late-sample"]
        alarm_points, bound, observe = self._alarm_points, self._bound, self.engine.observe
        if isinstance(batch, GoodBatch):  # a poll's good readings, as columns (occmon.batch)
            when = batch.time
            capped = when > now
            if capped:
                when = now
            plan = self._plans.get(batch.table)
            if plan is None:
                plan = self._plans[batch.table] = self._plan(batch.table)
            judged, good, touches = plan
            events += self.engine.observe_good(good, when, batch.values)
            if judged:
                touched, latest = touches, when
                if capped:
                    self.counters["alarm.time-capped"] += len(judged)
            batch = ()  # nothing left for the per-reading way
        for reading in batch:
            point = reading.point
            if point not in alarm_points:
                continue  # no alarm on this point (alarms.points: enabled false): no work
            when = reading.time
            if when > now:
                when = now
                self.counters["alarm.time-capped"] += 1
            # engine.handle(Sample.from_reading(reading)) without the Sample
            found = observe(point, when, reading.value, reading.quality, reading.reason,
                            reading.quantity)
            if found:
                events += found
            if not touched and point in bound:
                touched = True
            if when > latest:
                latest = when
        if self.engine.counters["late-sample"] > late:
            self.counters["alarm.late-sample"] += self.engine.counters["late-sample"] - late
        self._alarm_events(events)
        if touched:
            self._zone(latest)

    def _plan(self, table: SeriesTable) -> _Plan:
        """What ``readings`` does with a device's batches: (index, point, quantity) of each
        series whose point has alarms, the engine's plan of them (``good_plan``), and
        whether one of them is a ventilation unit's."""
        judged = [(i, point, quantity)
                  for i, (point, quantity) in enumerate(zip(table.points, table.quantities,
                                                            strict=True))
                  if point in self._alarm_points]
        return (judged, self.engine.good_plan(judged),
                any(point in self._bound for _, point, _ in judged))

    def tick(self, now: float) -> None:
        try:
            self._alarm_events(self.engine.handle(Tick(now)))
        except AlarmError as exc:
            self.counters[f"alarm.{exc.code}"] += 1
        self._zone(now)
        self._apply(self.interlock.handle(il.Tick(now)))

    def fan_state(self, state: FanState) -> None:
        """A poll of a fan: its running input is the interlock's feedback."""
        before = self._fan_state.get(state.device)
        self._fan_state[state.device] = state
        self._apply(self.interlock.handle(il.Feedback(state.device, state.running, state.time,
                                                      fault=bool(state.fault),
                                                      answered=state.online)))
        was_faulted = bool(before.fault) if before is not None else False
        if state.fault is not None and state.fault != was_faulted:
            drive = state.device in self._drives
            what, trip = ("drive fault", "tripped") if drive else ("starter fault", "overload trip")
            word = f"{what} ({trip})" if state.fault else f"{what} cleared"
            self._enqueue([wire.event_entry(self.site, wire.VENTILATION, {
                "event": "fan-fault", "unit": "", "device": state.device,
                "fault": state.fault, "time": state.time, "state": "",
                "priority": "high" if state.fault else "log",
                "cause": f"{state.device}: {word}"}, self._ids.next())])

    def command(self, payload: bytes) -> bytes | None:
        """One operator command (MQTT request body) -> the result body; never raises.

        Only the API's signed, fresh, first-seen commands within the signer's role reach the
        engine or the interlock (``gateway.safety.guard``); a refusal changes nothing, is
        counted (``commands.refused.<code>``), answered and audited on ``events/audit``."""
        now = self._clock()
        try:
            doc = self.guard.admit(payload, now)
        except Refused as refused:
            self.counters[f"commands.refused.{refused.code}"] += 1
            audit = self.guard.audit_body(refused, now)
            if audit is None:
                self.counters["commands.audit-suppressed"] += 1
            else:
                self._enqueue([wire.event_entry(self.site, AUDIT, audit, self._ids.next())])
            return refused.answer()
        request_id = doc["request_id"]
        try:
            event = parse(doc, now)
            if isinstance(event, il.ManualOverride | il.OperatorReset):
                bodies = self._apply(self.interlock.handle(event))
            else:
                bodies = self._alarm_events(self.engine.handle(event))
        except (BadCommand, AlarmError, il.InterlockError) as exc:
            self.counters[f"commands.error.{exc.code}"] += 1
            return result_payload(request_id, code=exc.code, message=str(exc))
        self.counters["commands.ok"] += 1
        return result_payload(request_id, bodies)

    def system_alarm(self, alarm_id: str, source: str, active: bool, now: float,
                     cause: str) -> list[dict[str, Any]]:
        """A system alarm (gateway/health.py) raised or cleared in the engine: the event
        bodies, also queued for events/alarm like any other alarm."""
        return self._alarm_events(self.engine.handle(
            ExternalAlarm(alarm_id, source, active, now, cause, system=True)))

    def calibration_due(self, point: str, due: float | None, now: float
                        ) -> list[dict[str, Any]]:
        """A calibration moved a point's due date (``gateway.calibrations``): the warning
        events it caused, queued like any other alarm event. No alarm point: nothing."""
        if point not in self._alarm_points:
            return []
        return self._alarm_events(self.engine.move_calibration_due(point, due, now))

    # -- outputs --------------------------------------------------------------------------
    def _zone(self, now: float) -> None:
        if not self._bound:
            return
        condition = self.engine.condition
        reported = tuple(c for c in map(condition, self._zone_points) if c.time)
        if reported:
            self._apply(self.interlock.handle(il.ZoneAlarm(now, reported)))

    def _restore_suppressions(self, now: float) -> None:
        """Take up each shelve still running and each out-of-service as the operator left
        them, before the start-up snapshot (which then shows them, so ingest closes none)."""
        assert self._memory is not None
        events: list[AlarmEvent] = []
        since: dict[str, float] = {}
        for kept in self._memory.load_suppressions():
            if kept.until is not None and kept.until <= now:
                self._memory.forget_suppression(kept.alarm_id)  # it ended while stopped
                continue
            command: Shelve | SetOutOfService = (
                Shelve(kept.alarm_id, kept.user, kept.until, kept.reason, now)
                if kept.until is not None else
                SetOutOfService(kept.alarm_id, kept.user, kept.reason, now))
            try:
                taken = self.engine.handle(command)
            except AlarmError as exc:  # an alarm the site no longer has, a longer max_shelve
                self.counters["alarm.suppression-not-restored"] += 1
                log.warning("%s of alarm %s by %s not taken up after the restart: %s",
                            kept.kind, kept.alarm_id, kept.user, exc)
                self._memory.forget_suppression(kept.alarm_id)
                continue
            events += [replace(e, cause=f"{e.cause} (kept across a gateway restart)")
                       for e in taken]
            since[kept.alarm_id] = kept.since
            log.info("alarm %s %s again after the restart (%s: %s)", kept.alarm_id,
                     kept.kind, kept.user, kept.reason)
        self._alarm_events(events, since)

    def _remember(self, events: list[AlarmEvent], since: dict[str, float]) -> None:
        """Keep what an operator's shelve or out-of-service must survive a restart with."""
        assert self._memory is not None
        now = self._clock()
        for event in events:
            when = since.get(event.alarm_id, event.time)
            if isinstance(event, Shelved):
                self._memory.keep_suppression(Suppression(
                    event.alarm_id, "shelved", event.user, event.reason, event.until, when),
                    now)
            elif isinstance(event, RemovedFromService):
                self._memory.keep_suppression(Suppression(
                    event.alarm_id, "out-of-service", event.user, event.reason, None, when),
                    now)
            elif isinstance(event, Unshelved | ReturnedToService):
                self._memory.forget_suppression(event.alarm_id)

    def _alarm_events(self, events: list[AlarmEvent],
                      since: dict[str, float] | None = None) -> list[dict[str, Any]]:
        """``since``: alarm id -> when its operator shelved it or took it out, for a shelve or
        out-of-service taken up after a restart (its event's ``since``; else its time)."""
        if not events:
            return []
        if self._memory is not None:
            self._remember(events, since or {})
        bodies, entries = [], []
        for event in events:
            body = event.to_dict()
            if since and event.alarm_id in since:
                body["since"] = since[event.alarm_id]
            entries.append(wire.event_entry(self.site, wire.ALARM, body, self._ids.next()))
            bodies.append(body)
        self.counters["alarm.events"] += len(events)
        entries += states.state_entries(self.site, self.engine, {e.point for e in events},
                                        events[-1].time)
        self._enqueue(entries)
        return bodies

    def _apply(self, outputs: list[il.WriteCoil | il.UnitEvent]) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        entries: list[Entry] = []
        external: list[AlarmEvent] = []
        for out in outputs:
            if isinstance(out, il.WriteCoil):
                task = asyncio.get_running_loop().create_task(self._write(out))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                continue
            body = out.to_dict()
            unit = self.interlock.units.get(out.unit)
            if unit is not None:
                body["snapshot"] = unit.snapshot().to_dict()
            entries.append(wire.event_entry(self.site, wire.VENTILATION, body, self._ids.next()))
            bodies.append(body)
            if isinstance(out, il.CoilWriteFailed):
                self.counters["interlock.coil-write-failed"] += 1
            if isinstance(out, il.VentilationFailureAlarm):
                external += self.engine.handle(ExternalAlarm(
                    out.alarm_id, out.unit, out.active, out.time, out.cause))
        self._enqueue(entries)
        if self._memory is not None and self.interlock.units:
            self._memory.save(self.interlock.memory(), self._clock())
        return bodies + self._alarm_events(external)

    async def _write(self, command: il.WriteCoil) -> None:
        device = self._devices.get(command.device)
        started = time.monotonic()
        marks: list[float] = []
        if device is None:
            result = il.CoilResult(command.device, command.coil, command.value, False,
                                   self._clock(), f"no Modbus device {command.device!r}")
            self.counters["coil-write-failed.unknown-device"] += 1
        elif command.device in self._drives and command.purpose != "annunciator":
            result = await write_drive(device, self._drives[command.device], command,
                                       self._clock, self.counters, marks)
        else:
            result = await write_coil(device, command, self._clock, self.counters, marks)
        self.writes.append((command.device, command.coil, command.value, started,
                            marks[0] if marks else None, result.ok))
        try:
            self._apply(self.interlock.handle(result))
        except Exception:
            self.counters["interlock.error"] += 1
            log.exception("interlock refused a coil result")

    def _enqueue(self, entries: list[Entry]) -> None:
        """Hand events to the queue; committed at the end of this loop turn, never held
        for a burst of polls still in flight (``Committer.add(prompt=True)``)."""
        self._committer.add(entries, prompt=True)

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._tick_interval
            await asyncio.sleep(self._tick_interval)
            self._late(loop.time() - due)
            try:
                self.tick(self._clock())
            except Exception:  # the tick must survive any bug, or alarms stop ageing
                self.counters["tick-error"] += 1
                log.exception("safety tick failed")
