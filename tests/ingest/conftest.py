from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.subscriber import Ingest
from occmon.config.schema import SiteConfig
from tests.ingest.helpers import Publisher, site_config
from tests.servers import Mosquitto


@pytest.fixture
def config(tmp_path: Path, mosquitto: Mosquitto) -> SiteConfig:
    return site_config(tmp_path, mosquitto.port)


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.port)
    yield pub
    pub.close()


@pytest.fixture
def ingest(config: SiteConfig, mosquitto: Mosquitto) -> Iterator[Ingest]:
    """A running Ingest on the test broker; waits until it has subscribed."""
    worker = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port)
    worker.start()
    assert worker.wait_ready(20), "ingest did not subscribe within 20 s"
    yield worker
    worker.stop()
