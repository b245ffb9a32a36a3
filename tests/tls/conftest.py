from __future__ import annotations

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
