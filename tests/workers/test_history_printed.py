"""The printed exposure history and the yearly notice: the PDF rendered by poppler
(pdftoppm: a page with ink; pdftotext: the labels and figures), and the HTML view as headless
Chromium renders it (screenshot with ink, the DOM it built holds the rows). The PNGs stay in
the test's tmp directory (and in $OCCMON_TEST_ARTIFACTS when set) for a person to look at."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tests.board.dom import headless, parse
from tests.records.printed import run, tool
from tests.workers.noise_data import MON, THU_LEX, WEEK
from tests.workers.site import OFFICER, WORKER_A, A

WINDOW = {"start": str(MON), "end": str(WEEK[-1])}


def keep(path: Path) -> None:
    out = os.environ.get("OCCMON_TEST_ARTIFACTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)


def ink(png: Path) -> float:
    """Share of pixels that are not near-white."""
    with Image.open(png) as image:
        grey = np.asarray(image.convert("L"))
    return float((grey < 200).mean())


def render(pdf: bytes, tmp_path: Path, name: str) -> tuple[Path, str]:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    run(tool("pdftoppm"), "-png", "-r", "80", "-f", "1", "-l", "1", str(path),
        str(tmp_path / name))
    [png] = sorted(tmp_path.glob(f"{name}-*1.png"))
    keep(png)
    return png, run(tool("pdftotext"), "-layout", str(path), "-")


def test_history_and_notice_pdf_render(noise_api: httpx.Client, tmp_path: Path) -> None:
    r = noise_api.get(f"/api/v1/workers/{A}/history", headers=WORKER_A,
                params={**WINDOW, "format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    png, text = render(r.content, tmp_path, "history")
    assert 0.01 < ink(png) < 0.5, "the page is blank or solid"
    with Image.open(png) as image:
        assert image.size[0] > image.size[1]  # A4 landscape
    flat = " ".join(text.split())
    for label in ("职业史和职业病危害接触史", "Occupational and exposure history", "张三",
                  A, "巡检工", "个体 personal", "岗位 job-based", "噪声", "LEX,8h",
                  f"{THU_LEX:.1f}", "GBZ 2.2-2007"):
        assert label in flat, f"{label!r} not in the PDF's text"
    assert "national" not in flat.lower()  # no ID, no hash
    r = noise_api.get(f"/api/v1/workers/{A}/notice/2026", headers=OFFICER,
                params={"format": "pdf"})
    assert r.status_code == 200
    png, text = render(r.content, tmp_path, "notice")
    assert ink(png) > 0.01
    flat = " ".join(text.split())
    for label in ("职业病危害因素监测结果告知书", "Notice of monitoring results 2026",
                  "劳动者签收", "85"):
        assert label in flat, f"{label!r} not in the notice's text"


def test_history_html_in_chromium(noise_api: httpx.Client, tmp_path: Path) -> None:
    r = noise_api.get(f"/api/v1/workers/{A}/history", headers=OFFICER,
                params={**WINDOW, "format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = tmp_path / "history.html"
    page.write_text(r.text, encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    shot = tmp_path / "history.png"
    headless(profile, f"--screenshot={shot}", page.as_uri(), width=1123, height=794)
    assert shot.exists()
    keep(shot)
    assert 0.01 < ink(shot) < 0.5
    dom = parse(headless(profile, "--dump-dom", page.as_uri(), width=1123, height=794))
    table = dom.by_id("entries")
    assert table is not None
    rows = [n for n in table.walk() if n.tag == "tr"][1:]
    texts = [row.text for row in rows]
    assert len(texts) == 2
    noise = next(t for t in texts if "噪声" in t)
    assert "个体 personal" in noise and f"{THU_LEX:.1f}" in noise and "ASV-2207" in noise
    dust = next(t for t in texts if "job-based" in t)
    assert "mill-dust-total 4 h" in dust and "2.50" in dust
    meta = dom.by_id("meta")
    assert meta is not None and "张三" in meta.text and A in meta.text
    periods = dom.by_id("periods")
    assert periods is not None and "mill-patrol" in periods.text
    assert str(dt.date(2026, 5, 25)) in periods.text


def test_notice_html_in_chromium(noise_api: httpx.Client, tmp_path: Path) -> None:
    r = noise_api.get(f"/api/v1/workers/{A}/notice/2026", headers=WORKER_A)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = tmp_path / "notice.html"
    page.write_text(r.text, encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    shot = tmp_path / "notice.png"
    headless(profile, f"--screenshot={shot}", page.as_uri(), width=1123, height=794)
    keep(shot)
    assert 0.01 < ink(shot) < 0.5
    dom = parse(headless(profile, "--dump-dom", page.as_uri(), width=1123, height=794))
    table = dom.by_id("results")
    assert table is not None
    texts = [n.text for n in table.walk() if n.tag == "tr"][1:]
    noise = next(t for t in texts if "噪声" in t)
    assert "85" in noise and "超标 fail" in noise and f"{THU_LEX:.1f}" in noise
    dust = next(t for t in texts if "水泥粉尘" in t)
    assert " 4 " in f" {dust} " and "合格 pass" in dust  # PC-TWA 4 mg/m3, C_TWA 2.50
    sign = dom.by_id("sign")
    assert sign is not None and "劳动者签收" in sign.text
