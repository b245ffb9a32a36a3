"""A site without OPC UA devices runs without asyncua in memory; one with them gets the intake.

asyncua is ~38 MB of resident memory (``gateway/opcua/site.py``); the gateway imports it only
for a site that has an OPC UA device. Checked in a fresh interpreter, since this test process
may have imported asyncua for other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.opcua.intake import OpcUaIntake
from gateway.opcua.site import NoOpcUa, intake_for_site
from tests.opcua.helpers import panel_site

ROOT = Path(__file__).resolve().parents[2]

MODBUS_ONLY = """
import asyncio, sys
from pathlib import Path
from gateway.app import Gateway
from occmon.config import load
config = load(Path("examples/demo-plant.yaml"))
assert all(d.protocol != "opcua" for d in config.devices), "the demo plant grew an OPC UA device"
gateway = Gateway(config, Path("examples/demo-plant.yaml"), broker_host="127.0.0.1",
                  broker_port=1)
print(type(gateway.opcua).__name__, "asyncua" in sys.modules, gateway.opcua.counters(),
      gateway.opcua.device_count)
asyncio.run(gateway.opcua.start(None))
asyncio.run(gateway.opcua.stop())
gateway.queue.close()
"""


def test_a_modbus_only_gateway_never_imports_asyncua(tmp_path: Path) -> None:
    script = MODBUS_ONLY.replace('Path("examples/', f'Path("{ROOT}/examples/')
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "NoOpcUa False {} 0", done.stdout


def test_a_site_with_an_opcua_device_gets_the_intake() -> None:
    config = panel_site("opc.tcp://127.0.0.1:4840/")
    intake = intake_for_site(config, {})
    assert isinstance(intake, OpcUaIntake)
    assert intake.device_count == 1
    assert isinstance(intake_for_site(config.model_copy(update={"devices": []}), {}), NoOpcUa)
