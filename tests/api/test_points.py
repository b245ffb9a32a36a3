"""Points, latest values and stale marking, over the real store file ingest writes."""

from __future__ import annotations

import time
from typing import Any

import httpx

from ingest.records import DeviceState
from ingest.store import SqliteStore
from occmon.model import Quality, Reason, iso_utc
from tests.ingest.helpers import reading


def by_quantity(point: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["quantity"]: q for q in point["quantities"]}


def test_points_show_latest_values_names_and_device_status(
    client: httpx.Client, store: SqliteStore
) -> None:
    now = time.time()
    # The wireless H2S detector (MQTT, expire_after 120 s): 10 s old is live.
    fresh = reading("desulf-h2s-w1", 0, value=4.2, time=now - 10, device="wgas-1")
    older = reading("desulf-h2s-w1", 0, value=9.9, time=now - 50, device="wgas-1")
    # The Modbus gas panel polls every 1 s, stale after 3 polls: 60 s old is stale.
    stale = reading("desulf-h2s-1", 0, value=7.0, time=now - 60)
    store.write_readings([older, fresh, stale])
    store.write_device_status([DeviceState("gas-panel-1", False, now - 55, "timeout")])

    response = client.get("/api/v1/points")
    assert response.status_code == 200
    points = {p["id"]: p for p in response.json()}
    assert len(points) == 8

    wireless = points["desulf-h2s-w1"]
    assert wireless["name"] == {"zh": "无线硫化氢巡检", "en": "Wireless H2S patrol"}
    assert wireless["area"] == "desulf"
    assert wireless["agent"] == "h2s"
    live = by_quantity(wireless)["concentration"]
    assert live["value"] == 4.2
    assert live["stale"] is False
    assert live["time"] == iso_utc(now - 10)
    assert 9 <= live["age_s"] <= 60
    assert live["stale_after_s"] == 120.0

    panel = points["desulf-h2s-1"]
    old = by_quantity(panel)["concentration"]
    assert old["value"] == 7.0
    assert old["stale"] is True
    assert old["stale_after_s"] == 3.0
    assert panel["devices"] == [
        {
            "id": "gas-panel-1",
            "protocol": "modbus-tcp",
            "online": False,
            "since": iso_utc(now - 55),
            "reason": "timeout",
        }
    ]


def test_a_point_without_data_is_stale_not_zero(client: httpx.Client) -> None:
    body = client.get("/api/v1/points/mill-noise-1").json()
    assert set(by_quantity(body)) == {"laeq", "lcpeak"}
    for q in body["quantities"]:
        assert q["value"] is None
        assert q["stale"] is True
        assert q["reason"] == "no-data"
    assert body["devices"][0]["online"] is None


def test_a_bad_reading_keeps_its_quality_and_reason(
    client: httpx.Client, store: SqliteStore
) -> None:
    bad = reading(
        "ammonia-nh3-1",
        0,
        value=None,
        time=time.time(),
        quality=Quality.BAD,
        reason=Reason.LOOP_UNDER_RANGE,
    )
    store.write_readings([bad])
    q = by_quantity(client.get("/api/v1/points/ammonia-nh3-1").json())["concentration"]
    assert (q["value"], q["quality"], q["reason"]) == (None, "bad", "loop-under-range")


def test_unknown_point_is_404_with_its_name(client: httpx.Client) -> None:
    response = client.get("/api/v1/points/no-such-point")
    assert response.status_code == 404
    assert response.json() == {"detail": {
        "code": "unknown-point",
        "message": "point 'no-such-point' is not in the site configuration"}}


def test_devices_list_every_configured_device_and_the_gateway(
    client: httpx.Client, store: SqliteStore
) -> None:
    store.write_device_status(
        [DeviceState("dust-1", True, 1.0), DeviceState("@gateway", True, 2.0)]
    )
    devices = {d["id"]: d for d in client.get("/api/v1/devices").json()}
    assert len(devices) == 10  # 9 devices of the demo plant (with the standby fan-2) and @gateway
    assert devices["dust-1"]["online"] is True
    assert devices["wgas-1"]["protocol"] == "mqtt"
    assert devices["wgas-1"]["online"] is None
    assert devices["@gateway"]["protocol"] == "gateway"
