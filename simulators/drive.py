"""Variable-frequency drives for accident fans: pure models and a pymodbus server.

Two drives whose register maps are shipped as profiles (``abb-acs580``, ``inovance-md500``):

* ``AbbDrive``: the ABB Drives profile state machine, reduced to what a fan needs. The
  control word (40001) moves it: 0x0476 (OFF1 with OFF2/OFF3 inactive, remote) -> READY TO
  SWITCH ON; bit 0 set (0x0477) -> READY TO OPERATE; bit 3 set too (0x047F) -> OPERATION
  ENABLED, and after the start-up delay the status word (40004) shows RDY_REF and
  AT_SETPOINT. 0x047E (OFF1) or 0x0477 (inhibit) stops it. A trip sets TRIPPED and clears
  the ready bits; a 0->1 edge of control-word bit 7 (RESET) clears it once the cause is
  gone, into SWITCH-ON INHIBITED, from which 0x0476 is needed again.
* ``Md500Drive``: the Inovance command register 2000H (1 forward run, 5 coast stop, 6
  decelerate to stop, 7 fault reset; write-only: a read is refused), state 3000H (1 forward
  run after the start-up delay, 3 stop) and fault code 8000H (0 = none).

The start-up delay is in **real seconds** (``at`` = ``time.monotonic()``) as in
``simulators.fan``: the interlock's feedback deadline must not shrink in a fast simulation.
``DriveServer`` serves one model on a real socket; ``trip()`` / ``clear()`` inject a fault.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.modbus import Mode

log = logging.getLogger(__name__)

DEFAULT_START_DELAY_S = 1.0
FC_READ_HOLDING, FC_WRITE_SINGLE, FC_WRITE_MULTIPLE = 3, 6, 16


class Phase(StrEnum):
    SWITCH_ON_INHIBITED = "switch-on-inhibited"
    READY_TO_SWITCH_ON = "ready-to-switch-on"
    READY_TO_OPERATE = "ready-to-operate"
    STARTING = "starting"  # operation enabled, not yet up to speed
    RUNNING = "running"
    TRIPPED = "tripped"


# -- ABB Drives profile ------------------------------------------------------------------------
# control word bits
CW_OFF1, CW_OFF2, CW_OFF3, CW_INHIBIT, CW_RESET, CW_REMOTE = 0, 1, 2, 3, 7, 10
# status word bits
SW_RDY_ON, SW_RDY_RUN, SW_RDY_REF, SW_TRIPPED = 0, 1, 2, 3
SW_OFF2_STA, SW_OFF3_STA, SW_SWC_ON_INHIB, SW_AT_SETPOINT, SW_REMOTE = 4, 5, 6, 8, 9
ABB_CONTROL, ABB_REF1, ABB_REF2, ABB_STATUS, ABB_ACT1, ABB_ACT2 = 0, 1, 2, 3, 4, 5


def _bit(word: int, bit: int) -> bool:
    return bool(word >> bit & 1)


@dataclass
class AbbDrive:
    start_delay: float = DEFAULT_START_DELAY_S
    phase: Phase = Phase.SWITCH_ON_INHIBITED
    since: float = 0.0
    control: int = 0
    reference: int = 20000  # REF1, 20000 = 100 % speed
    cause: bool = False  # the trip's cause is present (cannot be reset)
    history: list[int] = field(default_factory=list)  # control words written, in order

    @property
    def running(self) -> bool:
        return self.phase is Phase.RUNNING

    def _advance(self, at: float) -> None:
        if self.phase is Phase.STARTING and at - self.since >= self.start_delay:
            self.phase, self.since = Phase.RUNNING, at

    def status(self, at: float) -> int:
        self._advance(at)
        bits = {SW_REMOTE}
        if self.phase is not Phase.TRIPPED:
            bits |= {SW_OFF2_STA, SW_OFF3_STA}
        bits |= {
            Phase.SWITCH_ON_INHIBITED: {SW_SWC_ON_INHIB},
            Phase.READY_TO_SWITCH_ON: {SW_RDY_ON},
            Phase.READY_TO_OPERATE: {SW_RDY_ON, SW_RDY_RUN},
            Phase.STARTING: {SW_RDY_ON, SW_RDY_RUN},
            Phase.RUNNING: {SW_RDY_ON, SW_RDY_RUN, SW_RDY_REF, SW_AT_SETPOINT},
            Phase.TRIPPED: {SW_TRIPPED},
        }[self.phase]
        return sum(1 << b for b in bits)

    def words(self, at: float) -> dict[int, int]:
        status = self.status(at)
        speed = self.reference if self.running else 0
        return {ABB_CONTROL: self.control, ABB_REF1: self.reference, ABB_REF2: 0,
                ABB_STATUS: status, ABB_ACT1: speed, ABB_ACT2: 0}

    def readable(self, address: int) -> bool:
        return 0 <= address <= ABB_ACT2

    def write(self, address: int, value: int, at: float) -> None:
        if address == ABB_REF1:
            self.reference = value
        elif address == ABB_CONTROL:
            before, self.control = self.control, value
            self.history.append(value)
            self._control(before, value, at)

    def _control(self, before: int, cw: int, at: float) -> None:
        self._advance(at)
        if self.phase is Phase.TRIPPED:
            if _bit(cw, CW_RESET) and not _bit(before, CW_RESET) and not self.cause:
                self.phase, self.since = Phase.SWITCH_ON_INHIBITED, at
            return
        if not (_bit(cw, CW_OFF2) and _bit(cw, CW_OFF3)):
            self.phase, self.since = Phase.SWITCH_ON_INHIBITED, at  # OFF2 / OFF3
            return
        if not _bit(cw, CW_REMOTE):
            return  # fieldbus control not enabled: only OFF bits act
        on, enabled = _bit(cw, CW_OFF1), _bit(cw, CW_INHIBIT)
        if not on:  # OFF1: ramp stop, or from switch-on inhibited to ready
            self.phase = Phase.READY_TO_SWITCH_ON
        elif self.phase is Phase.SWITCH_ON_INHIBITED:
            return  # needs OFF1 (0x0476) first
        elif not enabled:
            self.phase = Phase.READY_TO_OPERATE
        elif self.phase not in (Phase.STARTING, Phase.RUNNING):
            self.phase = Phase.STARTING
        else:
            return
        self.since = at

    def trip(self, at: float) -> None:
        self.cause = True
        self.phase, self.since = Phase.TRIPPED, at

    def clear(self) -> None:
        """The trip's cause is gone; the drive stays tripped until a reset edge."""
        self.cause = False


# -- Inovance MD500 ---------------------------------------------------------------------------
MD_SETTING, MD_COMMAND, MD_STATE, MD_FAULT, MD_FREQUENCY = 0x1000, 0x2000, 0x3000, 0x8000, 0x7000
MD_FORWARD, MD_REVERSE, MD_COAST, MD_DECEL, MD_RESET = 1, 2, 5, 6, 7
MD_STATE_FORWARD, MD_STATE_STOP = 1, 3
MD_TRIP_CODE = 10  # Err10: AC drive overload
MD_MAX_HZ = 50.0


@dataclass
class Md500Drive:
    start_delay: float = DEFAULT_START_DELAY_S
    phase: Phase = Phase.READY_TO_OPERATE
    since: float = 0.0
    setting: int = 10000  # 1000H: 10000 = 100.00 % of the maximum frequency
    cause: bool = False
    history: list[int] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.phase is Phase.RUNNING

    def _advance(self, at: float) -> None:
        if self.phase is Phase.STARTING and at - self.since >= self.start_delay:
            self.phase, self.since = Phase.RUNNING, at

    def words(self, at: float) -> dict[int, int]:
        self._advance(at)
        state = MD_STATE_FORWARD if self.running else MD_STATE_STOP
        hz = MD_MAX_HZ * self.setting / 10000 if self.running else 0.0
        return {MD_SETTING: self.setting, MD_STATE: state, MD_FREQUENCY: round(hz * 100),
                MD_FAULT: MD_TRIP_CODE if self.phase is Phase.TRIPPED else 0}

    def readable(self, address: int) -> bool:
        return address in (MD_SETTING, MD_STATE, MD_FAULT, MD_FREQUENCY)  # 2000H: write-only

    def write(self, address: int, value: int, at: float) -> None:
        self._advance(at)
        if address == MD_SETTING:
            self.setting = value
            return
        if address != MD_COMMAND:
            return
        self.history.append(value)
        if self.phase is Phase.TRIPPED:
            if value == MD_RESET and not self.cause:
                self.phase, self.since = Phase.READY_TO_OPERATE, at
            return
        if value in (MD_FORWARD, MD_REVERSE) and self.phase not in (Phase.STARTING,
                                                                    Phase.RUNNING):
            self.phase, self.since = Phase.STARTING, at
        elif value in (MD_COAST, MD_DECEL):
            self.phase, self.since = Phase.READY_TO_OPERATE, at

    def trip(self, at: float) -> None:
        self.cause = True
        self.phase, self.since = Phase.TRIPPED, at

    def clear(self) -> None:
        self.cause = False


# -- the server -------------------------------------------------------------------------------
class DriveServer:
    """One simulated drive on ``host:port`` (unit ``unit_id``) inside the running loop.

    Every read first refreshes the holding block from the model (so the status word is that
    of the instant of the request); a write goes to the model; an address the drive does
    not have, or a write-only register read, is refused with exception 0x02."""

    def __init__(self, name: str, model: AbbDrive | Md500Drive, host: str, port: int,
                 unit_id: int = 1) -> None:
        self.name, self.model = name, model
        self.host, self.port, self.unit_id = host, port, unit_id
        self.requests = 0
        self.mode: Mode = "closed"
        self._server: ModbusTcpServer | None = None
        self._addresses = sorted(set(model.words(time.monotonic())) | _writable(model))

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def set_mode(self, mode: Mode) -> None:
        """Up, port closed, or answering 0x0B (the plant's outages, as for sensor devices)."""
        if mode == self.mode:
            return
        log.info("simulated drive %s: %s -> %s", self.name, self.mode, mode)
        if mode == "closed":
            await self.stop()
        elif self._server is None:
            await self._listen()
        self.mode = mode

    async def start(self) -> None:
        await self._listen()
        self.mode = "up"

    async def _listen(self) -> None:
        blocks = [SimData(a, values=[0], datatype=DataType.REGISTERS) for a in self._addresses]
        # pymodbus wants every table; the drive has only holding registers, so the others
        # are placeholders the action refuses (exception 0x01), as an MD500 does for FC1.
        bits = [SimData(0, values=[False], datatype=DataType.BITS)]
        inputs = [SimData(0, values=[0], datatype=DataType.REGISTERS)]
        device = SimDevice(id=self.unit_id, simdata=(bits, bits, blocks, inputs),
                           action=self._action)
        server = ModbusTcpServer(device, address=(self.host, self.port))
        await server.serve_forever(background=True)
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        self.mode = "closed"
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    def trip(self) -> None:
        log.info("simulated drive %s: trip", self.name)
        self.model.trip(time.monotonic())

    def clear(self) -> None:
        self.model.clear()

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int],
                      set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        self.requests += 1
        if self.mode == "no-response":
            return ExcCodes.GATEWAY_NO_RESPONSE
        now = time.monotonic()
        if set_values is not None:
            if function_code not in (FC_WRITE_SINGLE, FC_WRITE_MULTIPLE):
                return ExcCodes.ILLEGAL_FUNCTION
            for i, value in enumerate(set_values):
                self.model.write(address + i, int(value) & 0xFFFF, now)
        elif function_code in (FC_WRITE_SINGLE, FC_WRITE_MULTIPLE):
            pass  # pymodbus calls again, without values, to build the write's answer
        elif function_code != FC_READ_HOLDING:
            return ExcCodes.ILLEGAL_FUNCTION
        elif not all(self.model.readable(a) for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_ADDRESS
        for a, value in self.model.words(now).items():
            if 0 <= a - start_address < len(registers):
                registers[a - start_address] = value
        return None


def _writable(model: AbbDrive | Md500Drive) -> set[int]:
    return {ABB_CONTROL, ABB_REF1} if isinstance(model, AbbDrive) else {MD_SETTING, MD_COMMAND}
