"""The HTML day report as a browser prints it: headless Chromium screenshots at A4 landscape
(1123 x 794 CSS px), zh and en, and a provisional day. The PNGs stay in the test's tmp
directory (and in $OCCMON_TEST_ARTIFACTS when set) for a person to look at."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from api.app import create_app
from tests.api.serve import serve
from tests.board.test_board import chromium
from tests.records.printed import closed_site
from tests.records.support import DAY, OFFICER_KEY, TZ

A4_PX = (1123, 794)  # 297 x 210 mm at 96 CSS px per inch


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    config = closed_site(tmp_path)
    with serve(create_app(config, config.store.path)) as url:
        yield url


def shoot(url: str, out: Path, profile: Path) -> Image.Image:
    done = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
         f"--window-size={A4_PX[0]},{A4_PX[1]}", "--virtual-time-budget=2000",
         f"--screenshot={out}", url],
        capture_output=True, text=True, timeout=90)
    assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
    keep = os.environ.get("OCCMON_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / out.name)
    return Image.open(out).convert("RGB")


def ink(img: Image.Image) -> float:
    """Share of pixels that are not near-white."""
    grey = np.asarray(img.convert("L"))
    return float((grey < 200).mean())


def red(img: Image.Image) -> int:
    rgb = np.asarray(img).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > g + 40) & (r > b + 40)).sum())


def right_margin_blank(img: Image.Image, px: int = 8) -> bool:
    grey = np.asarray(img.convert("L"))
    return bool(grey[:, -px:].min() >= 240)


def test_report_screenshots_zh_en_and_provisional(api: str, tmp_path: Path) -> None:
    key = {"X-API-Key": OFFICER_KEY}
    # the report route needs the key: fetch the HTML over real HTTP, let Chromium open it
    pages = {}
    with httpx.Client(base_url=api, headers=key, timeout=30) as http:
        today = dt.datetime.now(TZ).date().isoformat()
        for name, params in (("zh", {"day": str(DAY)}), ("en", {"day": str(DAY), "lang": "en"}),
                             ("open-zh", {"day": today})):
            reply = http.get("/api/v1/daily-records/report", params=params)
            assert reply.status_code == 200
            pages[name] = tmp_path / f"report-{name}.html"
            pages[name].write_text(reply.text, encoding="utf-8")
    shots = {name: shoot(page.as_uri(), tmp_path / f"report-{name}.png",
                         tmp_path / f"profile-{name}") for name, page in pages.items()}
    for name, img in shots.items():
        assert img.size == A4_PX, name
        assert ink(img) > 0.02, name  # text and table rules were drawn
        assert right_margin_blank(img), f"{name}: something runs past the A4 width"
    assert red(shots["zh"]) < 50 and red(shots["en"]) < 50  # a closed day: no watermark
    assert red(shots["open-zh"]) > 2000  # the provisional banner and watermark
    assert not np.array_equal(np.asarray(shots["zh"]), np.asarray(shots["en"]))
    print(f"screenshots: {sorted(str(p) for p in tmp_path.glob('report-*.png'))}")
