"""``occmon config check`` imports only what checking needs, not the services it checks for.

A fresh interpreter runs the command on the demo plant and reports what it imported: the
OPC UA stack (asyncua), the notify channels' HTTP client (httpx), /metrics
(prometheus_client) and the gateway process (``gateway.app``, the publisher) cost about half
a second of start-up and check nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-plant.yaml"
NOT_NEEDED = ("asyncua", "httpx", "prometheus_client", "gateway.app", "gateway.publisher")

PROGRAM = """
import json, sys
from occmon.cli import main
code = main(["config", "check", sys.argv[1]])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_config_check_leaves_the_services_unimported() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(DEMO)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, check=False)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stdout + done.stderr
    loaded = [m for m in report["modules"]
              if any(m == name or m.startswith(name + ".") for name in NOT_NEEDED)]
    assert loaded == []
    assert "gateway.opcua.validate" in report["modules"]  # the OPC UA checks did run
