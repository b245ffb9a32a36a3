"""Health, dead letters and the OpenAPI docs over real HTTP; the whole path end to end."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from ingest.records import DeadLetter
from ingest.schema import VERSION
from ingest.store import SqliteStore
from ingest.subscriber import Ingest
from occmon import topics
from occmon.config.schema import SiteConfig
from occmon.payload import encode_batch
from tests.api.conftest import DEMO_KEY
from tests.api.serve import serve
from tests.ingest.helpers import SITE, Publisher, reading, site_config
from tests.servers import Mosquitto, wait_for


def test_healthz_reports_the_store_and_its_counters(
    client: httpx.Client, store: SqliteStore
) -> None:
    store.add_counters({"readings": 12, "dead-letter:malformed-json": 1})
    store.write_dead_letters([DeadLetter(1.0, "t", "malformed-json", "not JSON", b"{")])
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["schema_version"] == VERSION  # the latest migration
    assert body["counters"] == {"readings": 12, "dead-letter:malformed-json": 1}
    assert body["dead_letters"] == 1


def test_healthz_is_503_when_the_store_is_gone(config: SiteConfig, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "occmon.db"
    app = create_app(config, path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with serve(app) as url:
        response = httpx.get(f"{url}/healthz")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail["code"] == "store-unavailable"
    assert detail["message"].startswith("store unavailable:")
    assert "does not exist" in detail["message"]


def test_dead_letters_newest_first_with_counts_and_raw_payload(
    client: httpx.Client, store: SqliteStore
) -> None:
    raw = b"\xff\x00 binary junk"
    store.write_dead_letters(
        [
            DeadLetter(1.0, "occmon/v1/demo-plant/readings/x", "malformed-json", "a", b"{"),
            DeadLetter(2.0, "occmon/v1/demo-plant/bogus", "unknown-topic", "b", raw),
            DeadLetter(3.0, "occmon/v1/demo-plant/readings/x", "malformed-json", "c", b"["),
        ]
    )
    body = client.get("/api/v1/dead-letters").json()
    assert body["counts"] == {"malformed-json": 2, "unknown-topic": 1}
    assert [d["message"] for d in body["letters"]] == ["c", "b", "a"]
    assert base64.b64decode(body["letters"][1]["payload_b64"]) == raw

    only = client.get("/api/v1/dead-letters", params={"code": "unknown-topic"}).json()
    assert [d["message"] for d in only["letters"]] == ["b"]
    bad = client.get("/api/v1/dead-letters", params={"limit": 0})
    assert bad.status_code == 422
    assert bad.json() == {"detail": {"code": "invalid-parameter", "parameter": "limit",
                                     "message": "limit must be between 1 and 10000, got 0"}}


def test_openapi_docs_are_served(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/points/{point_id}/readings" in spec["paths"]


@pytest.mark.server
def test_broker_to_api_end_to_end(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = site_config(tmp_path, mosquitto.port)
    worker = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port)
    worker.start()
    publisher = Publisher(mosquitto.port)
    try:
        assert worker.wait_ready(20)
        batch = [reading("desulf-h2s-1", i, value=float(i)) for i in range(5)]
        publisher.publish(topics.readings(SITE, "desulf-h2s-1"), encode_batch(SITE, batch))
        publisher.publish(topics.readings(SITE, "desulf-h2s-1"), b"not json")
        app = create_app(config, config.store.path)
        with serve(app) as url, httpx.Client(base_url=url, headers=DEMO_KEY) as http:

            def latest() -> float | None:
                point = http.get("/api/v1/points/desulf-h2s-1").json()
                value: float | None = point["quantities"][0]["value"]
                return value

            assert wait_for(latest, what="the latest value over HTTP") == 4.0
            letters = wait_for(
                lambda: http.get("/api/v1/dead-letters").json()["letters"], what="dead letter"
            )
            assert letters[0]["code"] == "malformed-json"
            assert letters[0]["payload"] == "not json"
            page = http.get(
                "/api/v1/points/desulf-h2s-1/readings",
                params={"start": "2026-05-28T00:00:00Z", "end": "2026-06-01T00:00:00Z"},
            ).json()
            assert [r["value"] for r in page["readings"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
            assert page["readings"][0]["time"] == "2026-05-28T20:26:40.000Z"
    finally:
        publisher.close()
        worker.stop()
