from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.opcua.server import OpcUaServer, running_opcua


@pytest.fixture(scope="module")
def panel() -> Iterator[OpcUaServer]:
    """A real OPC UA server (asyncua) on a free port: a gas panel with H2S and CO. Shared
    by a module's tests (start-up costs ~1 s): each test writes the values it checks."""
    with running_opcua() as server:
        yield server


@pytest.fixture
def own_panel() -> Iterator[OpcUaServer]:
    """A panel of the test's own, for tests that stop and restart it."""
    with running_opcua() as server:
        yield server
