"""compose.yaml against the Compose Specification JSON schema (no Docker engine runs here).

``compose-spec.json`` is the schema text shipped by docker-compose 1.29.2
(``compose/config/compose_spec.json`` in its PyPI wheel), vendored unchanged.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).with_name("compose-spec.json")).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return doc


def _errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft201909Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_compose_file_is_valid_by_the_specification(compose: dict[str, Any]) -> None:
    jsonschema.Draft201909Validator.check_schema(SCHEMA)
    assert _errors(compose) == []


def test_the_schema_check_catches_mistakes(compose: dict[str, Any]) -> None:
    bad = copy.deepcopy(compose)
    bad["services"]["grafana"]["helthcheck"] = {"test": ["CMD", "true"]}
    bad["services"]["influxdb"]["depends_on"] = {"x": {"condition": 1}}
    assert len(_errors(bad)) >= 2


def test_stack_shape(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"mosquitto", "influxdb", "grafana", "gateway", "ingest", "api",
            "simulators"} <= set(services)
    for name, service in services.items():
        if service.get("restart") != "no":  # a one-shot job ends: no health to check
            assert "healthcheck" in service, f"{name} has no health check"
        image = service.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: pin a tag"
    occmon = [s for s in services.values() if s.get("build") == "."]
    assert len(occmon) == 5 and len({s["image"] for s in occmon}) == 1  # one Dockerfile
    grafana = services["grafana"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./dashboards/generated:/var/lib/grafana/dashboards/occmon:ro" in grafana["volumes"]
    influx = services["influxdb"]["environment"]
    for key in ("ORG", "BUCKET", "RETENTION", "ADMIN_TOKEN"):
        assert f"DOCKER_INFLUXDB_INIT_{key}" in influx
    init = ROOT / "deploy/influxdb/init-dbrp.sh"
    assert "influx v1 dbrp create" in init.read_text()
    assert any(v.endswith(":/docker-entrypoint-initdb.d/10-occmon-dbrp.sh:ro")
               for v in services["influxdb"]["volumes"])


def test_only_the_signers_mount_the_private_keys(compose: dict[str, Any]) -> None:
    """The gateway verifies commands with a public key; it must not hold the private one."""
    services = compose["services"]
    private = {name for name, service in services.items()
               if any(str(v).startswith("occmon-keys:") for v in service.get("volumes", []))}
    assert private == {"keys", "api", "ingest"}
    assert "occmon-pub:/var/lib/occmon-pub:ro" in services["gateway"]["volumes"]
    for name in ("gateway", "ingest", "api"):
        assert services[name]["depends_on"]["keys"] == {
            "condition": "service_completed_successfully"}


def test_env_example_defines_every_variable_compose_requires(compose: dict[str, Any]) -> None:
    import re

    text = (ROOT / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    env = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    assert required and required <= set(env)
    site = (ROOT / "deploy/occmon/site.yaml").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", site)) <= set(env)


# What the compose stack changes of the demo plant; everything else must stay the same.
STACK = {
    "broker": {"host": "mosquitto", "port": 1883, "accounts": {}},  # per-role accounts
    "store": {"path": "/var/lib/occmon/occmon.db"},
    "gateway": {"queue_path": "/var/lib/occmon-gateway/queue.db"},
    "api": {"host": "0.0.0.0", "port": 8000},
    "auth": {"keys": [
        {"name": "officer", "role": "officer", "env": "OCCMON_OFFICER_KEY"},
        {"name": "staff", "role": "staff", "env": "OCCMON_STAFF_KEY"},
        {"name": "inspector", "role": "inspector", "sites": ["demo-plant"],
         "env": "OCCMON_INSPECTOR_KEY"},
    ]},
    # private keys on a volume only the API and ingest mount; public halves on another,
    # which is all the gateway gets (compose.yaml's `keys` service makes both)
    "security": {
        "signing_key": "/var/lib/occmon-keys/command-signing.pem",
        "verify_key": "/var/lib/occmon-pub/command-verify.pub.pem",
        "ledger_key": "/var/lib/occmon-keys/ledger-signing.pem",
        "ledger_verify_key": "/var/lib/occmon-pub/ledger-verify.pub.pem",
    },
}
DROPPED = ("embedded_broker",)


def stack_site(demo: dict[str, Any]) -> dict[str, Any]:
    """The demo plant as compose runs it: the stack's broker, stores and keys, devices on the
    simulators container, and the records folder on the data volume."""
    site = {k: v for k, v in demo.items() if k not in DROPPED}
    site.update(STACK)
    site["devices"] = [
        {**d, "host": "simulators"} if d["protocol"] == "modbus-tcp" else d
        for d in demo["devices"]
    ]
    if "records" in demo:
        push = {**demo["records"].get("push", {}), "folder": "/var/lib/occmon/compliance"}
        site["records"] = {**demo["records"], "push": push}
    return site


def test_compose_site_is_the_demo_plant_on_the_stack() -> None:
    """deploy/occmon/site.yaml must not drift from examples/demo-plant.yaml."""
    demo = yaml.safe_load((ROOT / "examples/demo-plant.yaml").read_text(encoding="utf-8"))
    site = yaml.safe_load((ROOT / "deploy/occmon/site.yaml").read_text(encoding="utf-8"))
    assert site == stack_site(demo)
    env = (ROOT / ".env.example").read_text()
    for key in STACK["auth"]["keys"]:
        assert f"\n{key['env']}=" in env
