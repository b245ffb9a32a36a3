from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tls.support import Pki, TlsBroker, make_pki, tls_mosquitto


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[TlsBroker]:
    """A Mosquitto with only a TLS listener (client certificate required)."""
    with tls_mosquitto(tmp_path / "mosquitto", pki) as broker:
        yield broker


@pytest.fixture(autouse=True)
def _collect_failed_clients() -> Iterator[None]:
    """Collect, after each test, the paho clients whose TLS handshake failed on purpose:
    paho leaves such a client's sockets for the garbage collector, which would otherwise
    report them (ResourceWarning, an error here) at some later, unrelated moment."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
