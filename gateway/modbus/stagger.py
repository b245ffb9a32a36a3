"""Staggered polls: spread the devices' poll moments over their interval.

Without it every device of a gateway is polled from the moment the gateway starts, so 500
devices at 1 Hz send 500 requests in the same instant every second: a burst of sockets
waking at once, responses arriving together, and on a shared RS-485 bus a queue that the
last unit waits through every time.

With ``stagger: auto`` (the default) each device gets a *phase*, a fraction of its interval
in ``[0, 1)``; ``gateway.polling.run_polled`` polls it at ``k * interval + phase *
interval`` on the monotonic clock from its second poll on (the first goes out at start, so
the alarm engine's start-up grace is not spent waiting for it). The phases are the ``N``
even slots ``0, 1/N, ...`` of all ``N`` staggered devices, dealt out so that each
connection's devices are spread evenly over the interval: device ``j`` of the ``n`` on
connection ``c`` (of ``C``) would ideally sit at ``(j + c / C) / n``, and the devices take
the slots in the order of those ideal moments. So no two devices share a moment, a bus is
asked about once per ``interval / n`` (within one slot of it), and 500 one-device TCP
connections are spread as evenly as 500 units on one bus. (Polls then wake on
``gateway.polling``'s shared grid: 500 devices at 1 Hz are 20 groups of 25, not one of
500.)

Staggering only chooses when a poll *starts*. Devices sharing a connection are still
serialised by the hub's bus lock, with ``inter_request_delay`` kept inside it, so a poll
whose slot comes before the previous one finished waits for the bus instead of
overlapping it: the burst on one connection never exceeds one request at a time.
``bus_load`` tells at start-up whether a connection's pacing alone already fills its
interval (the gateway logs a warning: polls will then run late, back to back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from occmon.config.modbus_links import PolledModbus


def stagger_phases(sharing: Mapping[str, Sequence[PolledModbus]]) -> dict[str, float]:
    """device id -> phase in ``[0, 1)`` for every device on a staggered connection.

    ``sharing``: connection key -> its devices in config order. A connection is staggered
    unless one of its devices says ``stagger: off`` (the bus has one schedule). Devices
    with no phase are polled as soon as their task starts.
    """
    staggered = [devices for devices in sharing.values()
                 if devices and all(d.stagger == "auto" for d in devices)]
    count = len(staggered)
    ideal = sorted(
        ((j + c / count) / len(devices), c, j, device.id)
        for c, devices in enumerate(staggered)
        for j, device in enumerate(devices)
    )
    return {device: rank / len(ideal) for rank, (*_, device) in enumerate(ideal)}


def bus_load(devices: Sequence[PolledModbus], requests: Mapping[str, int]) -> float:
    """The fraction of the time a connection's pacing alone keeps it busy.

    Each request is preceded by the connection's ``inter_request_delay`` of silence;
    ``requests`` maps a device id to its reads per poll. At 1 or more the connection
    cannot serve every device's poll within its interval however the polls are placed.
    """
    if not devices:
        return 0.0
    delay = max(d.inter_request_delay for d in devices)
    return sum(delay * requests.get(d.id, 0) / d.poll_interval for d in devices)
