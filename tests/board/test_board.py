"""The notice board rendered by a real headless Chromium, against what the API returns."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.routes.board import shown
from ingest.daily.close import close_day
from occmon.model import Quality, Reading
from tests.api.serve import serve
from tests.board.dom import Node, chromium, headless, parse
from tests.records.support import DAY, OFFICER_KEY, TZ, dust_day, local, site_config, write


def render(url: str, profile: Path) -> str:
    """The DOM after the page's scripts ran, as Chromium dumps it."""
    return headless(profile, "--dump-dom", url)


def card(root: Node, point: str) -> Node:
    (found,) = root.find_all(lambda n: n.tag == "article" and n.attrs.get("data-point") == point)
    return found


def rows(root: Node, section: str) -> dict[str, Node]:
    sec = root.by_id(section)
    assert sec is not None, f"no section {section}"
    return {n.attrs.get("data-id") or n.attrs["data-point"]: n
            for n in sec.find_all(lambda n: n.tag == "li" and (
                "data-point" in n.attrs or "data-id" in n.attrs))}


def test_board_in_headless_chromium_shows_the_api_values(tmp_path: Path) -> None:
    browser = chromium()
    assert browser
    config = site_config(tmp_path)
    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(DAY + dt.timedelta(days=1), 0, 30))
    now = time.time()
    write(config, [Reading(point="pump-h2s", agent="h2s", time=now - 5 + i, value=v,
                           unit="mg/m3", quality=Quality.GOOD, sensor="g1", device="gas-1")
                   for i, v in enumerate([2.5, 3.25])])
    with serve(create_app(config, config.store.path)) as url:
        points = httpx.get(url + "/api/v1/points", headers={"X-API-Key": OFFICER_KEY}).json()
        ex = httpx.get(url + "/api/v1/exceedances", params={"status": "open"},
                       headers={"X-API-Key": OFFICER_KEY}).json()["items"]
        today = httpx.get(url + "/api/v1/daily-records",
                          params={"start": dt.datetime.fromtimestamp(now, TZ).date().isoformat()},
                          headers={"X-API-Key": OFFICER_KEY})
        dom = render(url + "/board", tmp_path / "chromium")
        dom_en = render(url + "/board?lang=en", tmp_path / "chromium")

    assert "职业卫生公告栏" in dom and "Occupational health notice board" in dom_en
    root, root_en = parse(dom), parse(dom_en)
    api_h2s = next(p for p in points if p["id"] == "pump-h2s")["quantities"][0]
    assert api_h2s["value"] == 3.25 and api_h2s["stale"] is False
    h2s = card(root, "pump-h2s")
    assert h2s.with_class("value")[0].text == "3.25"
    assert h2s.with_class("status")[0].text == "实时"
    assert "lvl-normal" in h2s.classes  # 3.25 mg/m3 is under the 5 mg/m3 pre-alarm
    assert "硫化氢" in h2s.with_class("agent")[0].text  # the catalogue's name, not the id
    api_dust = next(p for p in points if p["id"] == "mill-dust")["quantities"][0]
    assert api_dust["stale"] is True  # readings from 2026-05-12: never shown as live
    dust = card(root, "mill-dust")
    assert dust.with_class("value")[0].text == shown(api_dust["value"])
    assert "lvl-offline" in dust.classes and "实时" not in dust.text
    assert dust.with_class("status")[0].text.startswith("离线")
    opened = rows(root, "open")
    (event,) = ex
    text = opened[event["id"]].text
    assert "peak" in text and "待整改" in text
    for figure in (shown(event["peak"]), shown(event["limit"]), shown(event["ratio"])):
        assert figure in text
    verdicts = rows(root, "verdicts")
    by_point = {r["point"]: r for r in today.json()["records"] if r["shift"] is None}
    for point, row in by_point.items():
        assert verdicts[point].with_class("verdict")[0].text == row["verdict"]
        assert "临时" in verdicts[point].text  # today is open: provisional
    verdict_en = rows(root_en, "verdicts")["pump-h2s"].with_class("verdict")[0].text
    assert verdict_en == by_point["pump-h2s"]["verdict_en"]
    assert 'name="viewport"' in dom and "window.location.reload" in dom


@pytest.mark.parametrize(("value", "text"), [
    (0.775267, "0.775"), (3.83866, "3.84"), (88.4, "88.4"), (85.928, "85.9"),
    (116.5, "116.5"), (1.0, "1"), (25.0, "25"), (0.0123456, "0.0123"), (1234.56, "1234.6"),
])
def test_board_figures_are_rounded_for_reading_at_a_glance(value: float, text: str) -> None:
    assert shown(value) == text
