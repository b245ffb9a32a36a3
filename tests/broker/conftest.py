from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.broker.support import SecuredBroker, secured_embedded, secured_mosquitto


@pytest.fixture(scope="module", params=["mosquitto", "embedded"])
def secured(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """Mosquitto with the generated passwd + ACL, and the embedded broker with the same
    rules: every least-privilege check runs against both."""
    workdir = tmp_path_factory.mktemp(request.param)
    run = secured_mosquitto if request.param == "mosquitto" else secured_embedded
    with run(workdir) as broker:
        yield broker
