"""The whole system under least privilege: ``occmon run`` on the embedded broker (per-run
passwords) and on a real Mosquitto with the generated passwd + ACL (passwords from the
environment). Every sensor family, including the three vendor MQTT devices publishing
with their own accounts, must arrive, and an operator command must make the round trip
API -> gateway -> API; an outsider's logins are refused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.broker.support import Client, demo_doc, secured_mosquitto
from tests.servers import wait_port
from tests.test_run_system import demo_on_free_ports, families

pytestmark = [pytest.mark.slow, pytest.mark.server]
KEY = {"X-API-Key": "demo-officer-key"}  # the demo's officer key (README)
MQTT_FAMILIES = {"desulf-h2s-w1:concentration", "mill-worker-noise:laeq",
                 "ndt-worker-dose:hp10"}  # wgas-1, noisedos-1, raddos-1
MODBUS_FAMILIES = {"desulf-h2s-1:concentration", "mill-dust-total:concentration"}


def run_and_check(config: Path, api_port: int, env: dict[str, str], log: Path) -> None:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "occmon.cli", "run", str(config)],
                                cwd=config.parent, env={**env, "PYTHONUNBUFFERED": "1"},
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(api_port, timeout=30)
        url = f"http://127.0.0.1:{api_port}"
        seen: set[str] = set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not seen >= (MQTT_FAMILIES | MODBUS_FAMILIES):
            seen = families(httpx.get(f"{url}/api/v1/points", headers=KEY, timeout=2).json())
            time.sleep(0.3)
        missing = (MQTT_FAMILIES | MODBUS_FAMILIES) - seen
        assert not missing, f"missing {sorted(missing)}\n{log.read_text(encoding='utf-8')}"
        # the command reaches the gateway and its answer comes back: unknown alarm (404),
        # not "gateway unreachable" (503) or silence (504)
        response = httpx.post(f"{url}/api/v1/alarms/no-such-point:process/acknowledge",
                              headers=KEY, json={"user": "zhang.wei", "comment": "acl test"},
                              timeout=15)
        assert response.status_code == 404, response.text
        assert response.json()["detail"]["code"] == "unknown-alarm"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_occmon_run_on_the_embedded_broker_with_per_run_accounts(tmp_path: Path) -> None:
    config, api_port = demo_on_free_ports(tmp_path)
    port = yaml.safe_load(config.read_text(encoding="utf-8"))["embedded_broker"]["port"]
    outsider: list[Client] = []

    def probe() -> None:  # while the system runs, an outsider tries its luck
        outsider.extend([Client(port, None), Client(port, ("occmon-gateway", "guess-1234")),
                         Client(port, ("wgas-1", ""))])

    env = dict(os.environ)
    for key in [k for k in env if k.startswith("OCCMON_MQTT_PASSWORD_")]:
        del env[key]  # per-run passwords: the environment plays no part
    log = tmp_path / "run.log"
    run_and_check_with_probe(config, api_port, env, log, probe)
    assert outsider and all(c.refused is not None for c in outsider), [
        c.refused for c in outsider]
    for client in outsider:
        client.close()


def run_and_check_with_probe(config: Path, api_port: int, env: dict[str, str], log: Path,
                             probe: Any) -> None:
    """``run_and_check``, with ``probe`` called once the API (so the broker) is up."""
    import threading

    def later() -> None:
        try:
            wait_port(api_port, timeout=30)
        except TimeoutError:
            return
        probe()

    thread = threading.Thread(target=later)
    thread.start()
    try:
        run_and_check(config, api_port, env, log)
    finally:
        thread.join(40)


def test_occmon_run_on_mosquitto_with_the_generated_acl(tmp_path: Path) -> None:
    with secured_mosquitto(tmp_path) as broker:
        config, api_port = demo_on_free_ports(tmp_path)
        doc: dict[str, Any] = yaml.safe_load(config.read_text(encoding="utf-8"))
        doc.pop("embedded_broker")
        doc["broker"] = demo_doc(broker.port)["broker"]
        config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        run_and_check(config, api_port, {**os.environ, **broker.environ}, tmp_path / "run.log")


@pytest.mark.parametrize("command", [["run"], ["gateway"], ["ingest"], ["api"]])
def test_a_missing_broker_password_stops_the_start_with_its_name(
        tmp_path: Path, command: list[str]) -> None:
    config, _api_port = demo_on_free_ports(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(config.read_text(encoding="utf-8"))
    doc.pop("embedded_broker")
    doc["broker"] = demo_doc(1)["broker"]
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCMON_MQTT_PASSWORD_")}
    result = subprocess.run([sys.executable, "-m", "occmon.cli", *command, str(config)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2, result.stderr
    role = "gateway" if command == ["run"] else command[0]
    assert (f"broker.accounts: {role} (user 'occmon-{role}') takes its password from "
            f"$OCCMON_MQTT_PASSWORD_{role.upper()}, which is not set") in result.stderr
    assert "Traceback" not in result.stderr
