"""simulators/ imports only the shared contracts, and its README lists every scenario."""

from __future__ import annotations

import ast
from pathlib import Path

from simulators.scenarios import list_scenarios

PACKAGE = Path(__file__).resolve().parents[2] / "simulators"
PROJECT = ("occmon", "gateway", "ingest", "api", "thresholds", "dashboards")
ALLOWED = ("occmon.config", "occmon.model", "occmon.quantities", "gateway.modbus.profile",
           "gateway.modbus.codec", "occmon.mqttclient", "thresholds")


def test_imports_stay_within_the_shared_contracts() -> None:
    offending = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.split(".")[0] in PROJECT and not name.startswith(ALLOWED):
                    offending.append(f"{path.name}: {name}")
    assert offending == []


def test_readme_lists_every_scenario() -> None:
    readme = (PACKAGE / "README.md").read_text()
    for scenario in list_scenarios():
        assert f"| `{scenario.name}` |" in readme, scenario.name
