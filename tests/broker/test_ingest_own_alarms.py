"""Ingest's own system alarms reach the record on a site with logins: its account may not
write ``events/#`` (the gateway's), so they are stored by its writer, not sent round the
broker, where the ACL dropped them without a word (Mosquitto still acknowledges)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ingest.store import StoreReader
from ingest.subscriber import Ingest
from occmon.config import load
from tests.broker.support import SecuredBroker, demo_doc
from tests.servers import wait_for

pytestmark = pytest.mark.server


def test_ingest_records_its_own_system_alarm_under_the_acl(
    secured: SecuredBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in secured.environ.items():
        monkeypatch.setenv(name, value)
    doc = demo_doc(secured.port)
    doc["store"] = {**doc["store"], "path": str(tmp_path / "occmon.db")}
    doc["health"] = {"interval": 0.5, "min_free_mb": 1e12}  # disk-low at the first check
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    ingest = Ingest(load(path), broker_host="127.0.0.1", broker_port=secured.port)
    ingest.start()

    def recorded() -> list[str]:
        with StoreReader(tmp_path / "occmon.db") as reader:
            return [f"{a.event} {a.state}" for a in reader.alarms().current()
                    if a.alarm_id == "system:ingest:disk-low"]

    try:
        assert ingest.wait_ready(20)
        assert wait_for(recorded, 10, "disk-low in the record") == [
            "raised active-unacknowledged"]
        assert ingest.counters().get("event:alarm", 0) == 0  # not taken from the broker
    finally:
        ingest.stop()
