"""The notice board rendered by a real headless Chromium, against what the API returns."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.routes.board import shown
from ingest.daily.close import close_day
from occmon.model import Quality, Reading
from tests.api.serve import serve
from tests.records.support import DAY, OFFICER_KEY, TZ, dust_day, local, site_config, write


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium missing: apt-get install -y chromium")
        pytest.skip("chromium missing: run scripts/ensure-servers (apt-get install -y chromium)")
    return found


def render(url: str, profile: Path) -> str:
    """The DOM after the page's scripts ran, as Chromium dumps it."""
    done = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=2000",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def cells(dom: str, table: str) -> dict[str, list[str]]:
    body = dom.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-(?:point|id)="([^"]+)"[^>]*>(.*?)</tr>', body, re.S)
    return {key: [re.sub(r"<[^>]+>", "", c).strip()
                  for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for key, row in rows}


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
    latest = cells(dom, "latest")
    api_h2s = next(p for p in points if p["id"] == "pump-h2s")["quantities"][0]
    assert api_h2s["value"] == 3.25 and api_h2s["stale"] is False
    assert latest["pump-h2s"][2] == "3.25" and latest["pump-h2s"][5] == "实时"
    assert latest["pump-h2s"][1] == "硫化氢"  # the catalogue's name, not the config's id
    api_dust = next(p for p in points if p["id"] == "mill-dust")["quantities"][0]
    assert api_dust["stale"] is True  # readings from 2026-05-12: never shown as live
    assert latest["mill-dust"][2] == shown(api_dust["value"])
    assert latest["mill-dust"][5].startswith("离线 · ") and latest["mill-dust"][5].endswith("天前")
    opened = cells(dom, "open")
    (event,) = ex
    assert opened[event["id"]][:2] == ["mill-dust", "peak"]
    assert opened[event["id"]][3:6] == [shown(event["peak"]), shown(event["limit"]),
                                        shown(event["ratio"])]
    assert opened[event["id"]][6] == "待整改"
    verdicts = cells(dom, "verdicts")
    by_point = {r["point"]: r for r in today.json()["records"] if r["shift"] is None}
    for point, row in by_point.items():
        assert verdicts[point][2] == row["verdict"]
    assert cells(dom_en, "verdicts")["pump-h2s"][2] == by_point["pump-h2s"]["verdict_en"]
    assert 'name="viewport"' in dom and "window.location.reload" in dom


@pytest.mark.parametrize(("value", "text"), [
    (0.775267, "0.775"), (3.83866, "3.84"), (88.4, "88.4"), (85.928, "85.9"),
    (116.5, "116.5"), (1.0, "1"), (25.0, "25"), (0.0123456, "0.0123"), (1234.56, "1234.6"),
])
def test_board_figures_are_rounded_for_reading_at_a_glance(value: float, text: str) -> None:
    assert shown(value) == text
