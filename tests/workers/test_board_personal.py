"""The public board shows no worn point: a dosimeter's dose, and a wearable gas detector as
soon as the registry says it is worn (an instrument names its device), unless the site opts
in (``api.board_personal``); reads of a worn point's readings through the API are logged."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from api.app import create_app
from ingest.store import SqliteStore
from occmon.config.schema import ApiSettings
from occmon.model import Quality, Reading
from tests.api.serve import serve
from tests.board.dom import parse
from tests.board.test_board_offline import with_dosimeter
from tests.records.support import OFFICER_KEY, STAFF_KEY, site_config

OFFICER = {"X-API-Key": OFFICER_KEY}
WORN = "tank-h2s-li"  # the wearable H2S detector worn by Li Si
WORN_NAME = "李四随身硫化氢"


def with_wearable(tmp_path: Path) -> dict[str, Any]:
    doc = with_dosimeter(tmp_path)
    doc["points"].append({"id": WORN, "name": {"zh": WORN_NAME, "en": "Li's H2S detector"},
                          "area": "ndt", "agent": "h2s"})
    doc["devices"].append({"id": "wgas-9", "protocol": "mqtt", "topic": "v/wgas-9",
                           "expire_after": 300,
                           "mapping": {"fields": {"h2s": "h2s"}, "time": "t",
                                       "time_format": "epoch_s"}})
    doc["sensors"].append({"id": "wg9-h2s", "point": WORN, "device": "wgas-9",
                           "field": "h2s", "unit": "mg/m3"})
    return doc


def points_on(html: str) -> set[str]:
    return {n.attrs["data-point"] for n in parse(html).find_all(
        lambda n: n.tag == "article" and "data-point" in n.attrs)}


def test_worn_points_leave_the_board_unless_the_site_opts_in(tmp_path: Path) -> None:
    doc = with_wearable(tmp_path)
    config = site_config(tmp_path, doc)
    now = time.time()
    store = SqliteStore(config.store.path)
    try:
        store.write_readings([
            Reading(point="ndt-worker-dose", agent="ionising-radiation", time=now - 5,
                    value=12.5, unit="uSv", quality=Quality.GOOD, sensor="rd1-hp10",
                    device="raddos-1", quantity="hp10"),
            Reading(point=WORN, agent="h2s", time=now - 5, value=3.25, unit="mg/m3",
                    quality=Quality.GOOD, sensor="wg9-h2s", device="wgas-9")])
    finally:
        store.close()
    with serve(create_app(config, config.store.path)) as url:
        before = httpx.get(url + "/board").text
        # not yet in the registry: a detector like any other, on the board
        assert WORN in points_on(before) and "ndt-worker-dose" not in points_on(before)
        made = httpx.post(url + "/api/v1/instruments", headers=OFFICER, json={
            "serial": "GD-9", "type": "gas-detector", "device": "wgas-9",
            "quantities": ["concentration"]})
        assert made.status_code == 201, made.text
        after = httpx.get(url + "/board").text
        english = httpx.get(url + "/board", params={"lang": "en"}).text
        assert WORN not in points_on(after) and "ndt-worker-dose" not in points_on(after)
        for page in (after, english):
            assert WORN not in page and WORN_NAME not in page and "Li's" not in page
            assert "3.25" not in page and "12.5" not in page
        assert "pump-h2s" in points_on(after)  # fixed points stay
        # behind a key the point is still there, and every read of it is logged
        span = {"start": "2000-01-01T00:00:00+08:00", "end": "2100-01-01T00:00:00+08:00"}
        r = httpx.get(f"{url}/api/v1/points/{WORN}/readings", params=span,
                      headers={"X-API-Key": STAFF_KEY})
        assert r.status_code == 200 and r.json()["readings"][0]["value"] == 3.25
        httpx.get(f"{url}/api/v1/points/pump-h2s/readings", params=span,
                  headers={"X-API-Key": STAFF_KEY})
    conn = sqlite3.connect(config.store.path)
    logged = {(k, p) for k, p in conn.execute("SELECT key, path FROM access_log")}
    conn.close()
    assert ("staff", f"/api/v1/points/{WORN}/readings") in logged
    assert ("staff", "/api/v1/points/pump-h2s/readings") not in logged  # not personal

    opted = dict(doc, api={"board_personal": True})
    config_in = site_config(tmp_path, opted)
    with serve(create_app(config_in, config_in.store.path)) as url:
        shown = points_on(httpx.get(url + "/board").text)
    assert {WORN, "ndt-worker-dose", "pump-h2s"} <= shown


def test_the_opt_in_is_a_validated_boolean() -> None:
    assert ApiSettings().board_personal is False
    with pytest.raises(ValidationError) as bad:
        ApiSettings.model_validate({"board_personal": "perhaps"})
    assert "board_personal" in str(bad.value)
