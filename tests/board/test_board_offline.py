"""An offline or stale sensor says 离线/offline with its age, never 实时; a named worker's dose
stays off the public board unless the site opts in; the page names no external URL."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from ingest.records import DeviceState
from ingest.store import SqliteStore
from occmon.model import Quality, Reading
from tests.api.serve import serve
from tests.board.dom import Node, parse
from tests.records.support import OFFICER_KEY, site_config, site_doc

AGE_S = 10 * 60 + 20  # the H2S detector's last value: 10 min 20 s old (its expiry is 120 s)


def with_dosimeter(tmp_path: Path) -> dict[str, Any]:
    doc = site_doc(tmp_path)
    doc["areas"].append({"id": "ndt", "name": {"zh": "探伤室", "en": "NDT room"}})
    doc["points"].append({"id": "ndt-worker-dose", "name": {"zh": "探伤工张三个人剂量",
                                                           "en": "NDT worker Zhang's dose"},
                          "area": "ndt", "agent": "ionising-radiation"})
    doc["devices"].append({"id": "raddos-1", "protocol": "mqtt", "topic": "v/raddos-1",
                           "expire_after": 300,
                           "mapping": {"fields": {"hp10": "hp10"}, "time": "t",
                                       "time_format": "epoch_s"}})
    doc["sensors"].append({"id": "rd1-hp10", "point": "ndt-worker-dose", "device": "raddos-1",
                           "field": "hp10", "quantity": "hp10", "unit": "uSv"})
    return doc


def board(tmp_path: Path, doc: dict[str, Any], lang: str = "zh") -> tuple[str, list[Any]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = site_config(tmp_path, doc)
    now = time.time()
    store = SqliteStore(config.store.path)
    try:
        store.write_readings([
            Reading(point="pump-h2s", agent="h2s", time=now - AGE_S, value=0.4, unit="mg/m3",
                    quality=Quality.GOOD, sensor="g1", device="gas-1"),
            Reading(point="ndt-worker-dose", agent="ionising-radiation", time=now - 5,
                    value=12.5, unit="uSv", quality=Quality.GOOD, sensor="rd1-hp10",
                    device="raddos-1", quantity="hp10")])
    finally:
        store.close()
    with serve(create_app(config, config.store.path)) as url:
        page = httpx.get(url + "/board", params={"lang": lang})
        api = httpx.get(url + "/api/v1/points", headers={"X-API-Key": OFFICER_KEY}).json()
    assert page.status_code == 200
    return page.text, api


def card(root: Node, point: str) -> Node:
    (found,) = root.find_all(lambda n: n.tag == "article" and n.attrs.get("data-point") == point)
    return found


def test_offline_sensor_shows_offline_with_its_age_never_live(tmp_path: Path) -> None:
    html, api = board(tmp_path, with_dosimeter(tmp_path))
    root = parse(html)
    h2s = card(root, "pump-h2s")
    assert "lvl-offline" in h2s.classes and h2s.attrs["data-level"] == "offline"
    status = h2s.with_class("status")[0].text
    assert status == f"离线 · {AGE_S // 60} 分钟前", status  # 620 s: 10 whole minutes
    assert "实时" not in h2s.text
    dust = card(root, "mill-dust")  # never reported: offline, no data
    assert dust.with_class("status")[0].text == "离线 · 无数据"
    assert dust.with_class("value")[0].text == "-"
    q = next(p for p in api if p["id"] == "pump-h2s")["quantities"][0]
    assert q["stale"] is True and q["level"] == "offline" and q["age_s"] >= AGE_S
    english = parse(board(tmp_path / "en", with_dosimeter(tmp_path / "en"), "en")[0])
    assert card(english, "pump-h2s").with_class("status")[0].text == \
        f"offline · {AGE_S // 60} min ago"


def test_personal_dose_hidden_unless_the_site_opts_in(tmp_path: Path) -> None:
    html, api = board(tmp_path, with_dosimeter(tmp_path))
    assert "ndt-worker-dose" not in html and "张三" not in html
    dose = next(p for p in api if p["id"] == "ndt-worker-dose")
    assert dose["personal"] is True  # the API (behind a key) still has it
    doc = with_dosimeter(tmp_path / "optin")
    doc["api"] = {"board_personal": True}
    shown_html, _ = board(tmp_path / "optin", doc)
    assert card(parse(shown_html), "ndt-worker-dose").with_class("value")[0].text == "12.5"


def test_board_names_no_external_url(tmp_path: Path) -> None:
    html, _ = board(tmp_path, with_dosimeter(tmp_path))
    assert not re.search(r"(?:https?:)?//[a-z0-9]", html, re.I), \
        re.findall(r".{20}//.{20}", html)
    assert "<svg" in html  # the day curves are inline


def test_device_reported_offline_is_offline_before_its_value_ages(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    now = time.time()
    store = SqliteStore(config.store.path)
    try:
        store.write_readings([Reading(point="pump-h2s", agent="h2s", time=now - 3, value=0.4,
                                      unit="mg/m3", quality=Quality.GOOD, sensor="g1",
                                      device="gas-1")])
        store.write_device_status([DeviceState("gas-1", False, now - 1, "lwt", "plant-a")])
    finally:
        store.close()
    with serve(create_app(config, config.store.path)) as url:
        page = httpx.get(url + "/board").text
        api = httpx.get(url + "/api/v1/points", headers={"X-API-Key": OFFICER_KEY}).json()
    q = next(p for p in api if p["id"] == "pump-h2s")["quantities"][0]
    assert q["age_s"] < q["stale_after_s"]  # young, but its only device is offline
    assert q["level"] == "offline" and q["stale"] is True
    status = card(parse(page), "pump-h2s").with_class("status")[0].text
    assert status.startswith("离线 · ") and status.endswith("秒前") and "实时" not in status
