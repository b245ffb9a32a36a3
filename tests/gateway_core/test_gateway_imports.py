"""The running gateway carries no module it has no use for on a plain Modbus site.

Memory on the edge box is the budget (issue: RSS <= 120 MB at 500 devices). Two imports
cost ~13 MB for nothing there: the notify package's HTTP senders (httpx, which loads its
command line's rich, pygments and click), imported because the gateway builds its
system-alarm pushes with ``ingest.notify.formats``; and cryptography, imported by the
command guard's signature module although a site that never receives a command never
verifies one. A fresh interpreter starts a real gateway (its devices and broker
unreachable: it runs regardless), stops it and reports what it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.site_gen import write
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
NOT_NEEDED = ("httpx", "rich", "pygments", "click", "cryptography", "numpy", "asyncua")

PROGRAM = """
import asyncio, json, sys
from pathlib import Path
from gateway.app import Gateway
from occmon.config import load

async def main():
    path = Path(sys.argv[1])
    gateway = Gateway(load(path), path, broker_host="127.0.0.1", broker_port=int(sys.argv[2]))
    await gateway.start()
    await asyncio.sleep(1.5)  # polls (to closed ports), publisher retries, health ticks
    await gateway.stop()

asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
"""


def test_a_running_gateway_imports_no_http_client_and_no_cryptography(tmp_path: Path) -> None:
    site = write(tmp_path, 40, port_base=free_port())  # 4 devices x 10 points, alarm rules
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(site), str(free_port())],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    loaded = [m for m in modules if m.split(".")[0] in NOT_NEEDED]
    assert loaded == []
    # it did run: the polling, the alarm engine and the queue were all in use
    for used in ("gateway.polling", "gateway.alarms.engine", "gateway.queue", "paho"):
        assert used in modules, used


def test_the_notify_package_still_offers_every_public_name() -> None:
    import importlib

    import ingest.notify as notify

    assert sorted(notify.__all__) == sorted(notify._WHERE)
    for name in notify.__all__:
        home = importlib.import_module(f"ingest.notify.{notify._WHERE[name]}")
        assert getattr(notify, name) is getattr(home, name)
    assert "Notifier" in dir(notify)
