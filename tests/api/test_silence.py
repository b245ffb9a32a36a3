"""Silence is a fault, judged by the API alone: no gateway, no ingest, only the store file
and the clock. A stale value is never shown as live, on the API or on the board."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from api.board_text import age_text
from ingest.store import SqliteStore
from occmon.model import Quality, Reason
from tests.board.cards import card_status
from tests.ingest.helpers import reading

POINT = "desulf-h2s-w1"  # the demo's wireless H2S detector (MQTT, no interval: learnt)


def wireless(at: float, value: float | None = 4.2, **kw: Any) -> Any:
    return reading(POINT, 0, value=value, time=at, device="wgas-1", sensor="w1-h2s", **kw)


def latest(client: httpx.Client) -> dict[str, Any]:
    body = client.get(f"/api/v1/points/{POINT}").json()
    (q,) = body["quantities"]
    return q  # type: ignore[no-any-return]


def board_status(client: httpx.Client, lang: str = "zh") -> tuple[str, str]:
    page = client.get("/board", params={"lang": lang})
    assert page.status_code == 200
    return card_status(page.text, POINT)


def test_a_detector_that_stopped_30_s_ago_is_stale_on_its_learnt_rate(
        client: httpx.Client, store: SqliteStore) -> None:
    now = time.time()
    # It sent every 2 s (ten messages), then nothing for 30 s: 3 x 2 s = 6 s is its window.
    last = now - 30.0
    store.write_readings([wireless(last - 2.0 * i) for i in range(10)])
    q = latest(client)
    assert q["quality"] == "good" and q["value"] == 4.2  # what it last said, kept
    assert q["stale_after_s"] == 3 * 2.0
    assert q["stale"] is True
    assert 30.0 <= q["age_s"] <= 30.0 + 15
    css, status = board_status(client)
    assert css == "stale" and status.startswith("离线 · ") and "实时" not in status
    assert re.fullmatch(r"离线 · 3\d 秒前", status), status
    css, status = board_status(client, "en")
    assert re.fullmatch(r"offline · 3\d s ago", status) and "live" not in status


def test_a_reading_older_than_the_default_window_is_stale_without_any_history(
        client: httpx.Client, store: SqliteStore) -> None:
    now = time.time()
    store.write_readings([wireless(now - 3 * 40.0 - 5)])  # one message, 125 s ago
    q = latest(client)
    assert q["stale_after_s"] == 3 * 40.0  # nothing to learn from: the 40 s default
    assert q["stale"] is True
    assert board_status(client)[1].startswith("离线 · 2 分钟前")


def test_a_fresh_reading_of_a_steady_detector_is_live(
        client: httpx.Client, store: SqliteStore) -> None:
    now = time.time()
    store.write_readings([wireless(now - 1.0 - 2.0 * i) for i in range(10)])
    q = latest(client)
    assert q["stale"] is False and q["stale_after_s"] == 6.0
    assert board_status(client) == ("live", "实时")


def test_the_gateways_mark_of_silence_is_stale_at_once_with_the_age_of_the_last_value(
        client: httpx.Client, store: SqliteStore) -> None:
    now = time.time()
    heard = now - 20.0
    store.write_readings([wireless(heard - 2.0 * i) for i in range(5)])
    # the intake marks the sensor stale (a BAD reading, no value) 1 s ago
    store.write_readings([wireless(now - 1.0, None, quality=Quality.BAD, reason=Reason.STALE)])
    q = latest(client)
    assert q["quality"] == "bad" and q["reason"] == "stale" and q["value"] is None
    assert q["stale"] is True
    assert 20.0 <= q["age_s"] <= 20.0 + 15  # the last value, not the mark
    assert board_status(client)[0] == "stale"


def test_a_mark_with_no_value_ever_heard_has_no_age(
        client: httpx.Client, store: SqliteStore) -> None:
    store.write_readings([wireless(time.time() - 1.0, None, quality=Quality.BAD,
                                   reason=Reason.STALE)])
    q = latest(client)
    assert q["stale"] is True and q["age_s"] is None
    assert board_status(client)[1] == "离线 · 无数据"


@pytest.mark.parametrize(("age", "zh", "en"), [
    (0.4, "0 秒", "0 s"), (59.9, "59 秒", "59 s"), (60.0, "1 分钟", "1 min"),
    (3599.0, "59 分钟", "59 min"), (7300.0, "2 小时", "2 h"), (3 * 86400 + 5, "3 天", "3 d"),
])
def test_ages_read_at_a_glance(age: float, zh: str, en: str) -> None:
    assert age_text(age, "zh") == f"{zh}前" and age_text(age, "en") == f"{en} ago"
