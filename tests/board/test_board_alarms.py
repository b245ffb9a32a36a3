"""An alarm card says what the occurrence was, whatever the alarm's latest event is.

The latest event of a latched alarm is its ``cleared``: the value at clearing (below the
set-point) with the set-point of the level it left. Printed together they read "2.33 mg/m3
>= 5", which is false. An acknowledged alarm's latest event is the acknowledgement: its time
is not when the alarm started. The card shows the value that took the occurrence to its
highest level, with that level's set-point, since the raise, and when it cleared. The store
holds the events as the gateway publishes them; the API and the board are read as a person
reads them (the board in headless Chromium).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from ingest.records import Event
from ingest.store import SqliteStore, StoreReader
from occmon.model import iso_utc
from tests.api.serve import serve
from tests.board.dom import Node, chromium, headless, parse
from tests.records.support import OFFICER_KEY, TZ, site_config

H2S = "pump-h2s:process"
DUST = "mill-dust:process"


class Events:
    """Alarm events with ids in the gateway's sortable form, in the order written."""

    def __init__(self) -> None:
        self.seq = 0
        self.out: list[Event] = []

    def add(self, alarm_id: str, event: str, state: str, at: float, occurrence: int,
            level: str | None, value: float | None, setpoint: float | None,
            **extra: Any) -> None:
        self.seq += 1
        point = alarm_id.split(":")[0]
        self.out.append(Event("alarm", at, {
            "id": f"{int(at * 1000):013d}-{self.seq:09d}", "event": event,
            "alarm_id": alarm_id, "point": point, "kind": "process", "level": level,
            "state": state, "occurrence": occurrence, "value": value, "setpoint": setpoint,
            "unit": "mg/m3", "time": at, "cause": "test", **extra}, "plant-a"))


def h2s_story(events: Events, t1: float) -> None:
    """An old occurrence that went to high alarm and back to normal, then the current one:
    pre-alarm, alarm, high alarm, back to alarm, cleared (latched, not acknowledged)."""
    t0 = t1 - 7200
    events.add(H2S, "raised", "active-unacknowledged", t0, 1, "high_alarm", 48.0, 20.0)
    events.add(H2S, "cleared", "cleared-unacknowledged", t0 + 60, 1, "high_alarm", 1.0, 20.0)
    events.add(H2S, "acknowledged", "normal", t0 + 90, 1, "high_alarm", 1.0, 20.0,
               user="王安全", comment="")
    events.add(H2S, "raised", "active-unacknowledged", t1, 2, "pre_alarm", 5.6, 5.0)
    events.add(H2S, "escalated", "active-unacknowledged", t1 + 30, 2, "alarm", 12.4, 10.0,
               previous_level="pre_alarm")
    events.add(H2S, "escalated", "active-unacknowledged", t1 + 60, 2, "high_alarm", 23.7,
               20.0, previous_level="alarm")
    events.add(H2S, "deescalated", "active-unacknowledged", t1 + 120, 2, "alarm", 11.0, 10.0,
               previous_level="high_alarm")
    events.add(H2S, "cleared", "cleared-unacknowledged", t1 + 300, 2, "alarm", 2.33, 10.0)


def dust_story(events: Events, t2: float) -> None:
    """Raised, then acknowledged while still active (value 9.5 at the acknowledgement)."""
    events.add(DUST, "raised", "active-unacknowledged", t2, 1, "alarm", 25.0, 10.0)
    events.add(DUST, "acknowledged", "active-acknowledged", t2 + 120, 1, "alarm", 9.5, 10.0,
               user="王安全", comment="going")


def stored(path: Path, events: Events) -> None:
    store = SqliteStore(path)
    try:
        store.write_events(events.out)
    finally:
        store.close()


def hms(t: float) -> str:
    return dt.datetime.fromtimestamp(t, TZ).strftime("%H:%M:%S")


def alarm_node(root: Node, alarm_id: str) -> Node:
    section = root.by_id("alarms")
    assert section is not None
    (card,) = section.find_all(lambda n: n.attrs.get("data-alarm") == alarm_id)
    return card


def alarm_card(root: Node, alarm_id: str) -> str:
    return alarm_node(root, alarm_id).text


def test_alarm_cards_and_api_tell_the_occurrence_not_the_latest_event(
        tmp_path: Path) -> None:
    assert chromium()
    config = site_config(tmp_path)
    now = time.time()
    t1, t2 = now - 900, now - 600
    events = Events()
    h2s_story(events, t1)
    dust_story(events, t2)
    stored(config.store.path, events)
    with serve(create_app(config, config.store.path)) as url:
        listed = {a["alarm_id"]: a for a in httpx.get(
            url + "/api/v1/alarms", headers={"X-API-Key": OFFICER_KEY}).json()}
        one = httpx.get(url + f"/api/v1/alarms/{H2S}",
                        headers={"X-API-Key": OFFICER_KEY}).json()["alarm"]
        zh = parse(headless(tmp_path / "chromium", "--dump-dom", url + "/board"))
        en = parse(headless(tmp_path / "chromium", "--dump-dom", url + "/board?lang=en"))

    h2s = listed[H2S]
    assert (h2s["value"], h2s["last_event"], h2s["occurrence"]) == (2.33, "cleared", 2)
    assert h2s["raised_at"] == iso_utc(t1)  # the current occurrence's raise, not the old one
    assert h2s["reached"] == {"level": "high_alarm", "value": 23.7, "setpoint": 20.0,
                              "time": iso_utc(t1 + 60)}
    assert h2s["cleared_at"] == iso_utc(t1 + 300)
    assert one == h2s
    dust = listed[DUST]
    assert dust["raised_at"] == iso_utc(t2) and dust["cleared_at"] is None
    assert dust["reached"] == {"level": "alarm", "value": 25.0, "setpoint": 10.0,
                               "time": iso_utc(t2)}

    card = alarm_card(zh, H2S)
    assert "达到 23.7 mg/m3 (高报设定值 20)" in card, card
    assert f"开始 {hms(t1)}" in card and f"恢复于 {hms(t1 + 300)}" in card, card
    assert "≥" not in card and "2.33" not in card, card
    # a latched alarm that reached high alarm is badged high (not the pre-alarm it fell
    # through), and what to do is what a cleared alarm asks, not "leave the area"
    node = alarm_node(zh, H2S)
    assert node.attrs["data-level"] == "high" and "latched" in node.classes
    assert node.with_class("badge")[0].text == "高报"
    assert node.with_class("todo")[0].text.startswith("已恢复"), card
    card = alarm_card(zh, DUST)
    node = alarm_node(zh, DUST)
    assert node.attrs["data-level"] == "alarm"  # active: its current level
    assert "latched" not in node.classes
    assert node.with_class("todo")[0].text.startswith("撤离该区域"), card
    assert "达到 25 mg/m3 (警报设定值 10)" in card, card
    assert f"开始 {hms(t2)}" in card and hms(t2 + 120) not in card, card
    assert "恢复于" not in card and "9.5" not in card, card
    card = alarm_card(en, H2S)
    assert "reached 23.7 mg/m3 (high alarm set-point 20)" in card, card
    assert f"since {hms(t1)}" in card and f"cleared {hms(t1 + 300)}" in card, card


def test_an_alarm_raised_again_after_clearing_is_not_shown_cleared(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    now = time.time()
    events = Events()
    h2s_story(events, now - 900)
    events.add(H2S, "acknowledged", "normal", now - 500, 2, "alarm", 2.0, 10.0,
               user="王安全", comment="")
    events.add(H2S, "raised", "active-unacknowledged", now - 100, 3, "pre_alarm", 6.1, 5.0)
    stored(config.store.path, events)
    reader = StoreReader(config.store.path)
    try:
        queries = reader.alarms()
        (latest,) = [r for r in queries.current() if r.alarm_id == H2S]
        episode = queries.episode(latest)
    finally:
        reader.close()
    assert episode is not None
    assert (episode.raised_at, episode.level, episode.value, episode.setpoint) == (
        now - 100, "pre_alarm", 6.1, 5.0)
    assert episode.cleared_at is None


def test_without_its_raise_in_the_store_an_alarm_has_no_episode(tmp_path: Path) -> None:
    """A store that lost the raise (e.g. it began after it) says nothing rather than
    guessing; the board then falls back to the latest value for an active alarm only."""
    config = site_config(tmp_path)
    now = time.time()
    events = Events()
    events.add(DUST, "escalated", "active-unacknowledged", now - 60, 4, "high_alarm", 33.0,
               30.0, previous_level="alarm")
    stored(config.store.path, events)
    with serve(create_app(config, config.store.path)) as url:
        (alarm,) = httpx.get(url + "/api/v1/alarms", headers={"X-API-Key": OFFICER_KEY}).json()
        page = httpx.get(url + "/board").text
    assert alarm["raised_at"] is None and alarm["reached"] is None
    card = alarm_card(parse(page), DUST)
    assert "33 mg/m3" in card and "≥" not in card, card


def test_a_shelved_or_out_of_service_alarm_says_whose_decision_it_is_and_orders_nothing(
        tmp_path: Path) -> None:
    """A shelved gas alarm was shown as "警报 ... shelved" with the order to leave the area
    upwind, though the gas was normal and an officer had silenced it for a calibration; an
    alarm taken out of service for repair read "out-of-service" in English on the Chinese
    board. Each card now says who did it, why, since when and until when, with what the
    floor should do meanwhile, and sits below every alarm that is sounding."""
    assert chromium()
    config = site_config(tmp_path)
    now = time.time()
    events = Events()
    dust_story(events, now - 600)  # a sounding alarm, to rank above the silenced ones
    until = now + 3600
    # taken up again by a restarted gateway 300 s ago (its "since": when 李伟 shelved it)
    events.add(H2S, "shelved", "shelved", now - 300, 0, None, 0.4, None,
               user="李伟", reason="标定通气测试", until=until, since=now - 2000)
    fault = "pump-h2s:fault"
    events.add(fault, "out-of-service", "out-of-service", now - 200, 0, None, None, None,
               user="王工", reason="探头返厂维修", kind="fault")
    stored(config.store.path, events)
    with serve(create_app(config, config.store.path)) as url:
        listed = {a["alarm_id"]: a for a in httpx.get(
            url + "/api/v1/alarms", headers={"X-API-Key": OFFICER_KEY}).json()}
        zh = parse(headless(tmp_path / "chromium", "--dump-dom", url + "/board"))
        en = parse(headless(tmp_path / "chromium", "--dump-dom", url + "/board?lang=en"))
    assert listed[H2S]["suppressed"] == {"by": "李伟", "reason": "标定通气测试",
                                         "since": iso_utc(now - 2000), "until": iso_utc(until)}
    assert listed[fault]["suppressed"] == {"by": "王工", "reason": "探头返厂维修",
                                           "since": iso_utc(now - 200), "until": None}
    assert listed[DUST]["suppressed"] is None

    shelved = alarm_node(zh, H2S)
    assert shelved.attrs["data-level"] == "shelved"
    assert shelved.with_class("badge")[0].text == "已搁置"
    card = shelved.text
    assert f"由 李伟 搁置至 {hms(until)} (标定通气测试)" in card, card
    assert f"自 {hms(now - 2000)}" in card and "shelved" not in card, card
    assert shelved.with_class("todo")[0].text.startswith("该报警已被人为搁置"), card
    assert "撤离" not in card, card
    out = alarm_node(zh, fault)
    assert out.attrs["data-level"] == "out-of-service"
    assert out.with_class("badge")[0].text == "已停用"
    card = out.text
    assert "由 王工 停用 (探头返厂维修)" in card and "out-of-service" not in card, card
    assert out.with_class("todo")[0].text.startswith("该报警已停用"), card
    section = zh.by_id("alarms")
    assert section is not None
    order = [n.attrs["data-alarm"] for n in section.find_all(lambda n: "data-alarm" in n.attrs)]
    assert order[0] == DUST  # the sounding alarm first

    card = alarm_card(en, H2S)
    assert f"shelved by 李伟 until {hms(until)} (标定通气测试)" in card, card
    assert "Leave the area" not in card and "neither sounds nor pushes" in card, card
    assert "taken out of service by 王工" in alarm_card(en, fault)


def test_an_ingest_system_alarm_says_it_ends_by_itself_not_unacknowledged(
        tmp_path: Path) -> None:
    """Ingest's own system alarms do not latch and no command reaches them (the API answers
    409 ingest-alarm): "未确认" on their card asked the floor for an acknowledgement nobody
    can give. The gateway's system alarms do latch, and keep "未确认"."""
    config = site_config(tmp_path)
    now = time.time()
    events = Events()
    for alarm_id, point in (("system:ingest:disk-low", "ingest"),
                            ("system:gateway:queue-write-failing", "gateway")):
        events.add(alarm_id, "raised", "active-unacknowledged", now - 60, 1, "high_alarm",
                   None, None, kind="system", unit="")
        events.out[-1].body["point"] = point
    stored(config.store.path, events)
    with serve(create_app(config, config.store.path)) as url:
        zh = parse(httpx.get(url + "/board").text)
        en = parse(httpx.get(url + "/board?lang=en").text)
    ingest = alarm_card(zh, "system:ingest:disk-low")
    assert "原因排除后自动恢复" in ingest and "未确认" not in ingest, ingest
    assert "ends by itself once its cause is fixed" in alarm_card(en, "system:ingest:disk-low")
    gateway = alarm_card(zh, "system:gateway:queue-write-failing")
    assert "未确认" in gateway and "自动恢复" not in gateway, gateway
