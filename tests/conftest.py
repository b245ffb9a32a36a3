from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Mosquitto, running_mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free port, persistent in tmp_path; stop()/start() allowed."""
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    with running_mosquitto(workdir) as broker:
        yield broker
