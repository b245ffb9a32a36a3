"""The DTU listener's counters reach the gateway's Prometheus /metrics.

The whole system of the health tests (tests/health/rig.py) with one more detector behind a
4G DTU: a real socket client (``DtuSimulator``) dials the gateway's listener, registers and
relays RTU frames to a pymodbus server; an intruder dials in with a registration nobody
expects, a second one sends nothing. The gateway's /metrics, scraped over HTTP, counts each:
``occmon_modbus_dtu_total{listener="127.0.0.1:<port>", counter=...}``.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.shared_bus_rig import REGISTRATION, DtuSimulator, rtu_tcp_server, unit_registers
from tests.health.rig import doc, system
from tests.health.test_metrics import sample
from tests.servers import Mosquitto, free_port, wait_for

pytestmark = [pytest.mark.server, pytest.mark.slow]


def with_dtu_detector(site: dict[str, Any], listen: int) -> dict[str, Any]:
    site["points"].append({"id": "tank-h2s-1", "name": {"zh": "罐区硫化氢", "en": "Tank H2S"},
                           "area": "desulf", "agent": "h2s"})
    site["devices"].append({"id": "dtu-unit-1", "protocol": "modbus-dtu", "unit_id": 1,
                            "listen_host": "127.0.0.1", "listen_port": listen,
                            "registration": REGISTRATION, "registration_timeout": 0.5,
                            "profile": "toxic-gas-detector", "poll_interval": 0.5,
                            "timeout": 0.5, "retries": 0})
    site["sensors"].append({"id": "tank-h2s", "point": "tank-h2s-1", "device": "dtu-unit-1",
                            "register": "gas_ppm", "unit": "ppm", "range": [0, 100]})
    return site


def test_dtu_listener_counters_are_exported(tmp_path: Path, mosquitto: Mosquitto) -> None:
    listen, metrics_port = free_port(), free_port()
    site = with_dtu_detector(doc(tmp_path, mosquitto), listen)
    site["health"] = {**site["health"], "gateway_metrics_port": metrics_port}
    with system(tmp_path, mosquitto, site) as rig:
        server, server_port = rig.loop.run(rtu_tcp_server({1: unit_registers(1, 2.5)}))
        dtu = rig.loop.call(lambda: DtuSimulator(("127.0.0.1", listen),
                                                 ("127.0.0.1", server_port)))
        rig.loop.call(dtu.start)
        try:
            def scrape() -> str:
                return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text

            def counter(text: str, name: str) -> float | None:
                return sample(text, "occmon_modbus_dtu_total",
                              listener=f"127.0.0.1:{listen}", counter=name)

            wait_for(lambda: counter(scrape(), "dtu-registered") == 1.0, 20,
                     "the DTU's registration counted on /metrics")
            # an intruder with an unknown registration, and a socket that never registers
            with socket.create_connection(("127.0.0.1", listen)) as intruder, \
                    socket.create_connection(("127.0.0.1", listen)) as mute:
                intruder.sendall(b"DTU-999999999999999")
                intruder.settimeout(3)
                mute.settimeout(3)
                assert intruder.recv(16) == b""  # closed by the gateway
                assert mute.recv(16) == b""  # after registration_timeout (0.5 s)
            text = wait_for(lambda: (t := scrape()) and
                            counter(t, "dtu-unregistered") == 1.0 and t, 10,
                            "the refusals counted on /metrics")
            assert counter(text, "dtu-unknown") == 1.0
            assert counter(text, "dtu-registered") == 1.0
            # accepted: the DTU, the intruder and the mute socket (DTU redials would add)
            accepted = counter(text, "dtu-accepted")
            assert accepted is not None and accepted >= 3.0
            # the DTU drops its cellular link and redials: one lost, registered again
            rig.loop.call(dtu.drop)
            text = wait_for(lambda: (t := scrape()) and
                            counter(t, "dtu-registered") == 2.0 and t, 15,
                            "the redial counted")
            assert (counter(text, "dtu-lost") or 0) >= 1.0
        finally:
            rig.loop.run(dtu.stop())
            rig.loop.run(asyncio.wait_for(server.shutdown(), 5))
