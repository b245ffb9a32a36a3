"""The pure cores import no I/O: the interlock must run with broker, store and API down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"asyncio", "socket", "paho", "pymodbus", "sqlite3", "httpx", "time", "threading",
             "selectors", "subprocess", "requests", "aiosmtpd", "smtplib"}
PACKAGES = ["gateway/alarms", "gateway/interlock"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_pure_core_imports_no_io(package: str) -> None:
    files = sorted((ROOT / package).glob("*.py"))
    assert files, f"no modules under {package}"
    bad = {str(f.relative_to(ROOT)): sorted(_imports(f) & FORBIDDEN) for f in files}
    assert {k: v for k, v in bad.items() if v} == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_pure_core_reads_no_clock(package: str) -> None:
    """No datetime.now()/utcnow()/today(): time is always an argument."""
    for path in sorted((ROOT / package).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n.func.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr in {"now", "utcnow", "today", "monotonic", "perf_counter"}]
        assert calls == [], f"{path.name} reads a clock: {calls}"


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import asyncio\nfrom pymodbus.client import X\nimport time as t\n")
    assert _imports(sample) & FORBIDDEN == {"asyncio", "pymodbus", "time"}
