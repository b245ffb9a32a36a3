"""The fans' I/O: running feedback from each poll, and fan commands with a confirmation.

``FanDriver`` wraps the fan's ``ModbusDevice`` for ``run_polled``: it polls as usual and
then reports the ``running`` and ``fault`` inputs it just read, or for a drive fan the
configured status-word tests (a fan that does not answer reports not running).

``write_coil`` executes one ``WriteCoil`` of the interlock on a contactor: FC5, then an FC1
read-back of the same coil. ``write_drive`` executes it on a variable-frequency drive: the
configured control-word values by FC6 in order, each read back (unless the register is
write-only) and confirmed by its status-word test before the next; a drive showing fault
gets its reset steps first, and a drive already running (its running test holds, no fault)
gets only the run steps aimed at another register (set-points): a repeated run command (a
retry landing after the fan restarted) must not pass a running drive through its control
word's sequence, whose first word on the ABB profile is OFF1 (ramp stop). Any failure
(Modbus exception, no answer, a read-back that differs, a step the status word never
confirms) becomes ``CoilResult(ok=False, error=...)``, counted by a stable code; the
interlock retries with back-off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from gateway.driver import DeviceOffline
from gateway.interlock import CoilResult, WriteCoil
from gateway.modbus.codec import decode
from gateway.modbus.device import ModbusDevice
from gateway.modbus.hub import ExceptionResponse, HubOffline
from gateway.modbus.plan import ReadRequest
from occmon.config.ventilation import Drive, DriveStep, WordTest
from occmon.model import Reading, Reason

log = logging.getLogger(__name__)

WRITE_TIMEOUT = 3.0  # s for the write and its read-back together
CONFIRM_POLL_S = 0.1  # s between status-word reads while a drive step awaits confirmation
# One sequence at a time per drive: a retry or a stop must not interleave its words with a
# sequence still awaiting its status confirmation (the drive's state machine would see both).
_SEQUENCES: WeakKeyDictionary[ModbusDevice, asyncio.Lock] = WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class FanState:
    device: str
    running: bool
    fault: bool | None  # None: the profile has no fault input, or the fan did not answer
    online: bool
    time: float


FanListener = Callable[[FanState], None]


class FanDriver:
    """A ``PolledDriver`` that is the fan's ``ModbusDevice`` plus a feedback callback.

    ``drive``: the fan is a VFD; running and fault are its status-word tests, not inputs."""

    def __init__(self, device: ModbusDevice, running: str, fault: str | None,
                 on_state: FanListener, drive: Drive | None = None) -> None:
        self.device = device
        self._running, self._fault = running, fault
        self._on_state = on_state
        self._drive = drive

    @property
    def device_id(self) -> str:
        return self.device.device_id

    @property
    def interval(self) -> float:
        return self.device.interval

    @property
    def counters(self) -> Counter[str]:
        return self.device.counters

    @property
    def poll_phase(self) -> float | None:
        """The fan's device's moment of the interval (``gateway/modbus/stagger.py``)."""
        return self.device.poll_phase

    async def poll(self, now: float) -> Sequence[Reading]:
        try:
            readings = await self.device.poll(now)
        except DeviceOffline:
            self._on_state(FanState(self.device_id, False, None, False, now))
            raise
        values = self.device.values
        if self._drive is not None:
            running = _holds(self._drive.running, values) is True
            fault = None if self._drive.fault is None else _holds(self._drive.fault, values)
        else:
            running = bool(values.get(self._running, 0))
            fault = None if self._fault is None or self._fault not in values else bool(
                values[self._fault])
        self._on_state(FanState(self.device_id, running, fault, True, now))
        return readings

    def offline_readings(self, now: float, reason: str = Reason.DEVICE_OFFLINE) -> list[Reading]:
        return self.device.offline_readings(now, reason)

    async def close(self) -> None:
        await self.device.close()


def write_failure(exc: Exception, budget: float, what: str) -> tuple[str, str]:
    """The counted code and the message of a failed fan command (coil or drive): the
    interlock retries it; an unexpected exception is logged with its traceback."""
    if isinstance(exc, ExceptionResponse):
        return "modbus-exception", str(exc)
    if isinstance(exc, DeviceOffline | HubOffline):
        return "device-offline", str(exc)
    if isinstance(exc, TimeoutError):
        return "timeout", f"no answer within {budget:g} s"
    if isinstance(exc, KeyError | ValueError):
        return "bad-register", str(exc)
    log.exception("%s failed", what)
    return "error", f"{type(exc).__name__}: {exc}"


async def write_coil(device: ModbusDevice, command: WriteCoil, clock: Callable[[], float],
                     counters: Counter[str], marks: list[float] | None = None) -> CoilResult:
    """FC5 then read back; never raises (the interlock must keep running).

    ``marks`` gets the monotonic time of the FC5 response (for the latency benchmark).
    """
    error, code = "", ""
    try:
        async with asyncio.timeout(WRITE_TIMEOUT):
            await device.write(command.coil, 1.0 if command.value else 0.0)
            if marks is not None:
                marks.append(time.monotonic())
            register = device.profile.register(command.coil)
            request = ReadRequest(register.kind, register.address, 1, (register,))
            words = await device.hub.read(request, device.config.unit_id)
            if bool(words[0]) != command.value:
                code = "read-back-mismatch"
                error = f"read back {int(bool(words[0]))} after writing {int(command.value)}"
    except Exception as exc:  # never let a driver bug stop the interlock
        code, error = write_failure(exc, WRITE_TIMEOUT, f"coil write {command.device}."
                                                        f"{command.coil}")
    if code:
        counters[f"coil-write-failed.{code}"] += 1
        log.warning("coil write %s.%s=%d failed: %s", command.device, command.coil,
                    command.value, error)
    else:
        counters["coil-writes"] += 1
    return CoilResult(command.device, command.coil, command.value, not code, clock(), error)


def _holds(test: WordTest, values: dict[str, float | int]) -> bool | None:
    """The test on the word just polled; None when the word was not read (refused)."""
    if test.word not in values:
        return None
    return test.holds(int(values[test.word]) & 0xFFFF)


class StepFailed(Exception):
    """A drive step whose read-back differs or whose status test never held."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


async def read_word(device: ModbusDevice, name: str) -> int:
    """One 16-bit word of the device's profile, read now (FC3/FC4)."""
    register = device.profile.register(name)
    request = ReadRequest(register.kind, register.address, register.width, (register,))
    words = await device.hub.read(request, device.config.unit_id)
    return int(decode(words, register.type, register.byte_order)) & 0xFFFF


async def write_word(device: ModbusDevice, name: str, value: int) -> None:
    """FC6 of a raw 16-bit word to a holding command register (no scaling: the sequence
    values are the words of the vendor's manual)."""
    register = device.profile.register(name)
    if register.role != "command" or register.kind != "holding":
        raise ValueError(f"register {name!r} of profile {device.profile.name!r} is not a "
                         "holding command register")
    try:
        await device.hub.write("holding", register.address, value, device.config.unit_id)
    except HubOffline as exc:
        raise DeviceOffline(device.device_id, exc.reason, exc.detail) from exc


async def _confirm(device: ModbusDevice, test: WordTest, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        word = await read_word(device, test.word)
        if test.holds(word):
            return
        if time.monotonic() >= deadline:
            raise StepFailed("not-confirmed", f"{test.describe()} not seen within {timeout:g} s "
                                              f"({test.word} = 0x{word:04X})")
        await asyncio.sleep(CONFIRM_POLL_S)


async def _steps(device: ModbusDevice, register: str, steps: list[DriveStep], drive: Drive,
                 what: str, marks: list[float] | None) -> None:
    for i, step in enumerate(steps, 1):
        where = f"{what} step {i} of {len(steps)} (0x{step.value:04X})"
        try:
            target = step.target or register
            await write_word(device, target, step.value)
            if marks is not None and i == 1:
                marks.append(time.monotonic())
            if drive.read_back:
                back = await read_word(device, target)
                if back != step.value:
                    raise StepFailed("read-back-mismatch",
                                     f"read back 0x{back:04X} after writing 0x{step.value:04X}")
            if step.confirm is not None:
                await _confirm(device, step.confirm, drive.step_timeout)
        except StepFailed as exc:
            raise StepFailed(exc.code, f"{where}: {exc}") from exc


async def write_drive(device: ModbusDevice, drive: Drive, command: WriteCoil,
                      clock: Callable[[], float], counters: Counter[str],
                      marks: list[float] | None = None) -> CoilResult:
    """Run or stop a drive by its control-word sequence; never raises.

    ``marks`` gets the monotonic time of the first FC6 response (for the latency bench)."""
    error, code = "", ""
    steps = drive.run if command.value else drive.stop
    budget = WRITE_TIMEOUT + drive.step_timeout * (len(steps) + len(drive.reset))
    lock = _SEQUENCES.setdefault(device, asyncio.Lock())
    try:
        async with lock, asyncio.timeout(budget):
            faulted = False
            if command.value:
                words = {test.word: await read_word(device, test.word)
                         for test in (drive.running, drive.fault) if test is not None}
                faulted = drive.fault is not None and drive.fault.holds(words[drive.fault.word])
                if drive.running.holds(words[drive.running.word]) and not faulted:
                    # Already running: the control-word sequence would pass through its
                    # first word (ABB 0x0476, OFF1) and ramp the fan down before starting it
                    # again. Its set-points (MD500 1000H = 100 %) are written all the same:
                    # a fan left running slow must still come up to full air.
                    counters["drive-already-running"] += 1
                    steps = [s for s in steps if s.target not in (None, command.coil)]
            if faulted and drive.reset:
                counters["drive-resets"] += 1
                await _steps(device, command.coil, drive.reset, drive, "reset", None)
            await _steps(device, command.coil, steps, drive, "run" if command.value else "stop",
                         marks)
    except StepFailed as exc:
        code, error = exc.code, str(exc)
    except Exception as exc:  # never let a driver bug stop the interlock
        code, error = write_failure(exc, budget, f"drive command {command.device}."
                                                 f"{command.coil}")
    if code:
        counters[f"drive-write-failed.{code}"] += 1
        log.warning("drive command %s %s failed: %s", command.device,
                    "run" if command.value else "stop", error)
    else:
        counters["drive-writes"] += 1
    return CoilResult(command.device, command.coil, command.value, not code, clock(), error)
