"""A large site file: N points on Modbus devices of 10 sensors each, with alarm rules.

Shared by ``bench/config_load.py`` (how long loading, checking and building the gateway
take) and ``tests/test_config_large.py`` (the file loads and checks). The shape is a big
plant's: gas points spread over areas of 100 points, each device a 10-channel gas panel on
its own TCP port, each point with its own alarm rule (on/off delays, a deadband; every
tenth a lower alarm set-point), each sensor with its instrument's calibration date.

    python bench/site_gen.py --points 5000 --out /tmp/site   # writes site.yaml + profile
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

PER_DEVICE = 10  # sensors (and FLOAT32 registers) per device
PER_AREA = 100  # points per area
PROFILE_NAME = "panel-10"
PROFILE_FILE = f"{PROFILE_NAME}.yaml"
# gases with a catalogue limit and a ppm conversion: every unit check has work to do
AGENTS = ("h2s", "co", "nh3", "cl2", "so2", "no2", "hcn", "hcl")

PROFILE = {
    "name": PROFILE_NAME,
    "description": "a 10-channel gas panel, one FLOAT32 reading per channel",
    "registers": [
        {"name": f"ch{i}", "kind": "holding", "address": 2 * i, "type": "FLOAT32",
         "byte_order": "ABCD", "unit": "ppm", "description": f"channel {i}"}
        for i in range(PER_DEVICE)
    ],
}


def site(points: int = 5000, *, port_base: int = 20000, ports: Sequence[int] | None = None,
         broker_port: int | None = None) -> dict[str, Any]:
    """The site as the YAML mapping; ``points`` is rounded up to whole devices. Device ``d``
    listens on ``ports[d]`` if given, else ``port_base + d``; ``broker_port``: an external
    broker on 127.0.0.1 (else the embedded broker's address)."""
    devices_n = -(-points // PER_DEVICE)
    areas, pts, devices, sensors, rules = [], [], [], [], []
    for d in range(devices_n):
        devices.append({"id": f"panel-{d}", "protocol": "modbus-tcp", "host": "127.0.0.1",
                        "port": ports[d] if ports else port_base + d, "unit_id": 1,
                        "profile": PROFILE_FILE, "poll_interval": 1.0, "timeout": 0.5,
                        "retries": 1})
        for ch in range(PER_DEVICE):
            n = d * PER_DEVICE + ch
            if n % PER_AREA == 0:
                a = n // PER_AREA
                areas.append({"id": f"area-{a}", "name": {"zh": f"区域{a}", "en": f"Area {a}"}})
            agent = AGENTS[n % len(AGENTS)]
            point = f"p-{d}-{ch}"
            pts.append({"id": point, "name": {"zh": f"监测点{n}", "en": f"Point {n}"},
                        "area": f"area-{n // PER_AREA}", "agent": agent, "job": "巡检工"})
            sensors.append({"id": f"s-{d}-{ch}", "point": point, "device": f"panel-{d}",
                            "register": f"ch{ch}", "unit": "ppm", "range": [0, 100],
                            "instrument": {"model": "GP-10", "serial": f"GP10-{d:05d}",
                                           "calibrated": f"2026-{1 + d % 12:02d}-15"}})
            rule: dict[str, Any] = {"point": point, "on_delay": 1, "off_delay": 10,
                                    "deadband_pct": 10}
            if n % 10 == 0:  # a site's own, lower alarm level on some points
                rule["alarm"] = 0.5
            rules.append(rule)
    broker = ({"broker": {"host": "127.0.0.1", "port": broker_port}} if broker_port
              else {"embedded_broker": {"host": "127.0.0.1", "port": 18830}})
    return {
        "site": {"id": "big-plant", "name": {"zh": "大型化工厂", "en": "Large chemical plant"}},
        **broker,
        "gateway": {"queue_path": "var/gateway-queue.db"},
        "areas": areas,
        "points": pts,
        "devices": devices,
        "sensors": sensors,
        "alarms": {"profile": "GBZ/T 223", "points": rules},
    }


def write(folder: Path, points: int = 5000, *, port_base: int = 20000,
          ports: Sequence[int] | None = None, broker_port: int | None = None) -> Path:
    """Write ``site.yaml`` and the panel's profile into ``folder``; return the site file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROFILE_FILE).write_text(yaml.safe_dump(PROFILE, sort_keys=False))
    path = folder / "site.yaml"
    doc = site(points, port_base=port_base, ports=ports, broker_port=broker_port)
    path.write_text(yaml.safe_dump(doc, sort_keys=False,
                                   allow_unicode=True, width=100), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--port-base", type=int, default=20000)
    parser.add_argument("--out", type=Path, required=True, help="folder for the files")
    args = parser.parse_args()
    print(write(args.out, args.points, port_base=args.port_base))


if __name__ == "__main__":
    main()
