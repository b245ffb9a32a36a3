"""The fans' I/O: running feedback from each poll, and coil writes with a read-back.

``FanDriver`` wraps the fan's ``ModbusDevice`` for ``run_polled``: it polls as usual and
then reports the ``running`` and ``fault`` inputs it just read (a fan that does not answer
reports not running). ``write_coil`` executes one ``WriteCoil`` of the interlock: FC5, then
an FC1 read-back of the same coil; any failure (Modbus exception, no answer, a read-back
that differs) becomes ``CoilResult(ok=False, error=...)``, counted by a stable code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from gateway.driver import DeviceOffline
from gateway.interlock import CoilResult, WriteCoil
from gateway.modbus.device import ModbusDevice
from gateway.modbus.hub import ExceptionResponse
from gateway.modbus.plan import ReadRequest
from occmon.model import Reading, Reason

log = logging.getLogger(__name__)

WRITE_TIMEOUT = 3.0  # s for the write and its read-back together


@dataclass(frozen=True, slots=True)
class FanState:
    device: str
    running: bool
    fault: bool | None  # None: the profile has no fault input, or the fan did not answer
    online: bool
    time: float


FanListener = Callable[[FanState], None]


class FanDriver:
    """A ``PolledDriver`` that is the fan's ``ModbusDevice`` plus a feedback callback."""

    def __init__(self, device: ModbusDevice, running: str, fault: str | None,
                 on_state: FanListener) -> None:
        self.device = device
        self._running, self._fault = running, fault
        self._on_state = on_state

    @property
    def device_id(self) -> str:
        return self.device.device_id

    @property
    def interval(self) -> float:
        return self.device.interval

    @property
    def counters(self) -> Counter[str]:
        return self.device.counters

    async def poll(self, now: float) -> list[Reading]:
        try:
            readings = await self.device.poll(now)
        except DeviceOffline:
            self._on_state(FanState(self.device_id, False, None, False, now))
            raise
        values = self.device.values
        running = bool(values.get(self._running, 0))
        fault = None if self._fault is None or self._fault not in values else bool(
            values[self._fault])
        self._on_state(FanState(self.device_id, running, fault, True, now))
        return readings

    def offline_readings(self, now: float, reason: str = Reason.DEVICE_OFFLINE) -> list[Reading]:
        return self.device.offline_readings(now, reason)

    async def close(self) -> None:
        await self.device.close()


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
    except ExceptionResponse as exc:
        code, error = "modbus-exception", str(exc)
    except DeviceOffline as exc:
        code, error = "device-offline", str(exc)
    except TimeoutError:
        code, error = "timeout", f"no answer within {WRITE_TIMEOUT:g} s"
    except (KeyError, ValueError) as exc:
        code, error = "bad-register", str(exc)
    except Exception as exc:  # never let a driver bug stop the interlock
        code, error = "error", f"{type(exc).__name__}: {exc}"
        log.exception("coil write %s.%s failed", command.device, command.coil)
    if code:
        counters[f"coil-write-failed.{code}"] += 1
        log.warning("coil write %s.%s=%d failed: %s", command.device, command.coil,
                    command.value, error)
    else:
        counters["coil-writes"] += 1
    return CoilResult(command.device, command.coil, command.value, not code, clock(), error)
