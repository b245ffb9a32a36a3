"""``occmon config check`` imports only what checking needs, not the services it checks for.

A fresh interpreter runs the command and reports what it imported. On the demo plant: the
OPC UA stack (asyncua), the notify channels' HTTP client (httpx), /metrics
(prometheus_client) and the gateway process (``gateway.app``, the publisher) cost about half
a second of start-up and check nothing. On a plain Modbus plant with alarms (the large
site's shape, ``bench/site_gen.py``: no simulation, no jobs) nothing of the exposure
metrics (numpy), MQTT (paho), the stores (sqlite3, the analyzer in ``ingest``, the ledger's
cryptography), the simulators or the safety shell is needed either: together they were
over half of the command's 1.7 s at 5,000 points (docs/benchmarks.md); pymodbus and the
alarm engine were another 5 % of its instructions (callgrind).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.site_gen import write

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-plant.yaml"
NOT_NEEDED = ("asyncua", "httpx", "prometheus_client", "gateway.app", "gateway.publisher")
# what a plain Modbus site with alarms has no use for, on top of NOT_NEEDED
NOT_NEEDED_PLAIN = (
    *NOT_NEEDED, "numpy", "paho", "sqlite3", "cryptography", "ingest", "simulators",
    "gateway.queue", "gateway.safety.shell", "thresholds.noise", "thresholds.twa",
    "thresholds.stel",
    # the Modbus client and the alarm engine: checking register maps needs the profiles,
    # checking alarm rules needs their specs (gateway.modbus and gateway.alarms import
    # nothing of their own: before, either package brought its whole driver or engine)
    "pymodbus", "asyncio", "gateway.modbus.hub", "gateway.modbus.device",
    "gateway.alarms.engine", "gateway.alarms.actions",
)

PROGRAM = """
import json, sys
from occmon.cli import main
code = main(["config", "check", sys.argv[1]])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _check_in_fresh_process(site: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(site)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, check=False)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stdout + done.stderr
    modules: list[str] = report["modules"]
    return modules


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(name + ".") for name in names)]


def test_config_check_leaves_the_services_unimported() -> None:
    modules = _check_in_fresh_process(DEMO)
    assert _loaded(modules, NOT_NEEDED) == []
    assert "gateway.opcua.validate" in modules  # the OPC UA checks did run


def test_a_plain_modbus_site_is_checked_without_numpy_mqtt_or_the_stores(
        tmp_path: Path) -> None:
    modules = _check_in_fresh_process(write(tmp_path, 40))  # 4 devices x 10 points, alarms
    assert _loaded(modules, NOT_NEEDED_PLAIN) == []
    # the checks that need the catalogue, the profiles, the alarm set-points and the unit
    # conversions did run
    for ran in ("thresholds.catalogue", "thresholds.setpoints", "thresholds.units",
                "gateway.modbus.validate", "gateway.safety.check", "gateway.alarms.resolve",
                "gateway.normalise"):
        assert ran in modules, ran
