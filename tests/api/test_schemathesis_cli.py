"""The schemathesis CLI, as a user runs it, over the whole API once per role.

A real plant answers: Mosquitto, the gateway (so alarm and ventilation commands get the
gateway's own 404/409/422 rather than a 503), ingest and the API served by uvicorn. The CLI
runs in a subprocess with each role's key and two checks: no 5xx, and every response body
(errors included) matches the OpenAPI schema the API publishes. Any failure fails the test
with the CLI's own report. Bounded: a fixed seed and a few examples per operation.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from tests.safety.rig import KEY, STAFF_KEY, Rig, running, site_doc
from tests.servers import Mosquitto, free_port, missing_server, mosquitto_binary

INSPECTOR_KEY = "safety-inspector-key"  # read-only, site safety-plant
KEYS = {"officer": KEY, "staff": STAFF_KEY, "inspector": INSPECTOR_KEY}
# no 5xx; bodies, statuses and content types as the OpenAPI documents them
CHECKS = ",".join(("not_a_server_error", "response_schema_conformance",
                   "status_code_conformance", "content_type_conformance"))
EXAMPLES = 5  # per operation and phase
SEED = 20260528
WALL = 240  # s: the subprocess is killed past this (a run takes well under a minute)
# server-sent events never end: not a request/response operation
EXCLUDE = r"/stream$"
CONFIG = Path(__file__).with_name("schemathesis-plant.toml")  # real ids, edge days and times

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def cli() -> str:
    """The ``schemathesis`` script of the environment running the tests.

    A venv that once held grafana-client 4+ keeps niquests' urllib3-future, which owns the
    ``urllib3`` import name and breaks requests (so every case of the CLI errors): the fix
    is a fresh venv, or uninstalling it and reinstalling urllib3.
    """
    try:
        metadata.distribution("urllib3-future")
    except metadata.PackageNotFoundError:
        pass
    else:
        missing_server("a plain urllib3 (urllib3-future is installed)",
                       "pip uninstall -y niquests urllib3-future && "
                       "pip install --force-reinstall 'urllib3>=2,<3'")
    beside = Path(sys.executable).parent / "schemathesis"
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    assert found, "the schemathesis CLI is not installed: pip install -e '.[test]'"
    return found


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One running plant for the three roles (its start costs more than one CLI run)."""
    tmp = tmp_path_factory.mktemp("st-plant")
    (tmp / "mosquitto").mkdir()
    broker = Mosquitto(mosquitto_binary(), free_port(), tmp / "mosquitto")
    broker.start()
    try:
        doc = site_doc(tmp, broker.port)
        doc["auth"]["keys"].append({"name": "inspector", "role": "inspector",
                                    "sites": [doc["site"]["id"]],
                                    "sha256": hashlib.sha256(INSPECTOR_KEY.encode()).hexdigest()})
        with running(tmp, broker, doc=doc) as rig:
            yield rig
    finally:
        broker.stop()


def run_cli(cli: str, url: str, key: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    args = [
        cli, "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
        "--header", f"X-API-Key: {key}", "--checks", CHECKS,
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--exclude-path-regex", EXCLUDE, "--request-timeout", "15",
        "--generation-database", "none", "--no-color",
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=WALL, check=False)


@pytest.mark.parametrize("role", list(KEYS))
def test_schemathesis_finds_no_server_error_nor_schema_mismatch(
    cli: str, plant: Rig, role: str, tmp_path: Path
) -> None:
    done = run_cli(cli, plant.url, KEYS[role], tmp_path)
    report = done.stdout + done.stderr
    tested = re.search(r"Tested:\s+(\d+)", report)
    assert tested is not None, report[-4000:]
    assert int(tested.group(1)) >= 30, report[-4000:]  # every operation but the stream
    assert done.returncode == 0, report[-12000:]
