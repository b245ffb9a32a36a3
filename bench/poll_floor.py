"""The floor under a Modbus poll in this interpreter: the gateway's drivers beside bare lanes.

How much of what a poll costs is the gateway's own machinery (a task per device, the hub,
the lean client's futures and timeouts, the status state machine), and how much would any
asyncio program pay for the same request and answer? This runs three lanes in one process,
one after the other and again (``--rounds``), against one set of device servers in another
process (``modbus_poll.serve``: 500 pymodbus servers, 20 holding registers each), all at
1 Hz on the same wake-up grid (``gateway.polling.wake_quantum``: 20 slots a second at 500
devices):

- ``drivers``: the gateway's own: ``build_drivers`` + ``run_polled``, one task a device,
  readings to a sink that counts them (no queue, no broker, no alarms);
- ``bare``: one ``asyncio.Protocol`` a device, each slot's requests written by one timer,
  each answer decoded in the protocol's callback by the device's own ``RequestDecoder``
  and plain path into a ``GoodBatch`` for the same sink. No task, future, hub, timeout,
  retry or status: nothing a plant could rely on when a device stops answering;
- ``io``: the bare lane without decoding: a request out, its answer in.

For each lane: CPU (user + system) as % of one core over the window, polls answered a
second, and CPU per poll in us. A lane's polls that got no answer are counted; all three
must answer every poll for the figures to compare.

    .venv/bin/python bench/poll_floor.py [--devices 500] [--window 20] [--warmup 5]
        [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import resource
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import modbus_poll  # noqa: E402  (this folder's device servers and site)

from occmon import eventloop  # noqa: E402

_MBAP = struct.Struct(">HHHB")
_REQUEST = struct.Struct(">HHHBBHH")  # MBAP + function code, address, count


class CountingSink:
    """Counts readings and polls; reads no reading (a ``GoodBatch`` stays columns)."""

    def __init__(self) -> None:
        self.readings_count = 0
        self.polls = 0
        self.offline = 0

    def readings(self, batch: Sequence[Any]) -> None:
        self.readings_count += len(batch)
        self.polls += 1

    def status(self, status: Any) -> None:
        self.offline += not status.online


class BareDevice(asyncio.Protocol):
    """One device on its own connection: write a read request, take the answer."""

    def __init__(self, driver: Any, sink: CountingSink, decode: bool) -> None:
        self.driver = driver
        self.sink = sink
        self.decode = decode
        self.request = driver.requests[0]
        self.transport: asyncio.Transport | None = None
        self.tid = 0
        self.sent_at = 0.0
        self.answered = 0
        self.missed = 0  # requests whose answer had not come when the next was due
        self.waiting = False
        self.words = struct.Struct(f">{self.request.count}H")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's subclasses neither

    def ask(self, now: float) -> None:
        assert self.transport is not None
        self.tid = self.tid % 65000 + 1
        self.sent_at = now
        self.missed += self.waiting
        self.waiting = True
        self.transport.write(_REQUEST.pack(self.tid, 0, 6, self.driver.config.unit_id, 3,
                                           self.request.address, self.request.count))

    def data_received(self, data: bytes) -> None:
        tid = _MBAP.unpack_from(data)[0]
        if tid != self.tid or len(data) < 9 + 2 * self.request.count:
            return  # not the answer asked for: the poll counts as unanswered
        self.answered += 1
        self.waiting = False
        if not self.decode:
            return
        from occmon.batch import GoodBatch

        driver = self.driver
        values: dict[str, float | int] = {}
        driver._decoders[0].decode(list(self.words.unpack_from(data, 9)), values)
        goods, raws = [], []
        for name, scale, offset, good in driver._plain:
            raw = float(values[name]) * scale + offset
            canonical = good(raw)
            if canonical is None:
                return
            goods.append(canonical)
            raws.append(raw)
        self.sink.readings(GoodBatch(driver._table, self.sent_at, goods, raws))


def _same(device: BareDevice) -> BareDevice:
    return device


def build(ports: Sequence[int]) -> dict[str, Any]:
    """The site's drivers, as the gateway builds them (device id -> ModbusDevice)."""
    return modbus_poll.drivers_for(ports, Path(tempfile.mkdtemp(prefix="occmon-floor-")))


def cpu_wall() -> tuple[float, float]:
    """(CPU s, wall s) so far, to difference over a window."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, time.monotonic()


async def drivers_lane(ports: Sequence[int], warmup: float, window: float) -> dict[str, Any]:
    from gateway.polling import run_polled

    drivers = build(ports)
    sink = CountingSink()
    tasks = [asyncio.create_task(run_polled(d, sink, peers=len(drivers)))
             for d in drivers.values()]
    await asyncio.sleep(warmup)
    polls0, readings0 = sink.polls, sink.readings_count
    cpu0, wall0 = cpu_wall()
    await asyncio.sleep(window)
    cpu1, wall1 = cpu_wall()
    polls, readings = sink.polls - polls0, sink.readings_count - readings0
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=10)
    for driver in drivers.values():
        await driver.close()
    return figures("drivers", cpu1 - cpu0, wall1 - wall0, polls, len(drivers),
                   readings=readings, unanswered=sink.offline)


async def bare_lane(ports: Sequence[int], warmup: float, window: float,
                    decode: bool) -> dict[str, Any]:
    from gateway.polling import wake_quantum

    drivers = build(ports)
    sink = CountingSink()
    loop = asyncio.get_running_loop()
    devices: list[BareDevice] = []
    for driver, port in zip(drivers.values(), ports, strict=True):
        device = BareDevice(driver, sink, decode)
        await loop.create_connection(functools.partial(_same, device), "127.0.0.1", port)
        devices.append(device)
    quantum = wake_quantum(1.0, len(devices))
    slots = round(1.0 / quantum)
    groups = [devices[k::slots] for k in range(slots)]
    stopped = False

    def wake(slot: int, at: float) -> None:
        if stopped:
            return
        now = time.time()
        for device in groups[slot % slots]:
            device.ask(now)
        loop.call_at(at + quantum, wake, slot + 1, at + quantum)

    start = loop.time()
    loop.call_at(start + quantum, wake, 0, start + quantum)
    await asyncio.sleep(warmup)
    answered0 = sum(d.answered for d in devices)
    missed0 = sum(d.missed for d in devices)
    readings0 = sink.readings_count
    cpu0, wall0 = cpu_wall()
    await asyncio.sleep(window)
    cpu1, wall1 = cpu_wall()
    answered = sum(d.answered for d in devices) - answered0
    missed = sum(d.missed for d in devices) - missed0
    readings = sink.readings_count - readings0
    stopped = True
    await asyncio.sleep(2 * quantum)
    for device in devices:
        if device.transport is not None:
            device.transport.close()
    for driver in drivers.values():
        await driver.close()
    return figures("bare" if decode else "io", cpu1 - cpu0, wall1 - wall0, answered,
                   len(devices), readings=readings, unanswered=missed)


def figures(lane: str, cpu: float, wall: float, polls: int, devices: int, *,
            readings: int, unanswered: int) -> dict[str, Any]:
    """``polls``: answered in the window; ``readings``: handed to the sink (none in io)."""
    return {"lane": lane, "devices": devices, "window_s": round(wall, 1),
            "cpu_pct": round(100 * cpu / wall, 2),
            "polls_per_s": round(polls / wall, 1),
            "readings_per_s": round(readings / wall, 1),
            "us_per_poll": round(1e6 * cpu / polls, 1) if polls else None,
            "unanswered": unanswered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--event-loop", choices=["auto", "uvloop", "asyncio"], default="asyncio",
                        help="the lanes' event loop (occmon.eventloop; the gateway's default "
                             "is auto: uvloop where installed)")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        ports = modbus_poll.device_servers(stack, args.devices)
        for _ in range(args.rounds):
            for lane in (lambda: drivers_lane(ports, args.warmup, args.window),
                         lambda: bare_lane(ports, args.warmup, args.window, True),
                         lambda: bare_lane(ports, args.warmup, args.window, False)):
                results.append(eventloop.run(lane(), args.event_loop))
            for result in results[-3:]:
                print("RESULT " + json.dumps(result), flush=True)
    print(f"\n{args.devices} devices x 20 registers at 1 Hz, {args.window:.0f} s windows\n")
    print("| lane | CPU % of one core | polls/s | readings/s | CPU us a poll | unanswered |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['lane']} | {r['cpu_pct']} | {r['polls_per_s']} | {r['readings_per_s']} | "
              f"{r['us_per_poll']} | {r['unanswered']} |")


if __name__ == "__main__":
    main()
