"""The quarterly summary (Table 4-3) from closed days: figures by hand, the sealed ledger
entry, the CLI and the API over real HTTP, and the PDF."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from api.app import create_app
from ingest.daily import quarter
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.ledger.site import keyed_doc, occmon
from tests.records.printed import run, tool
from tests.records.support import DAY, OFFICER_KEY, dust_day, local, site_config, write

D1, D2, D3, D4 = (DAY + dt.timedelta(days=i) for i in range(4))  # 2026-05-12 .. 15: 2026Q2


def _site(tmp_path: Path) -> tuple[SiteConfig, Path]:
    config = site_config(tmp_path, keyed_doc(tmp_path))
    made = occmon("keys", "init", str(tmp_path / "site.yaml"))
    assert made.returncode == 0, made.stderr
    write(config, dust_day(D1))  # surge 25 mg/m3 10:00-10:10: over 5 x PC-TWA, fails
    write(config, dust_day(D2, base=1.0, surge=1.0))
    write(config, dust_day(D3, base=2.0, surge=2.0))
    write(config, dust_day(D4, base=3.0, surge=3.0))  # never closed: not in the summary
    for day in (D1, D2, D3):
        close_day(config.store.path, config, day, now=local(day + dt.timedelta(days=1), 1))
    return config, tmp_path / "site.yaml"


def _rows(text: str) -> list[dict[str, str]]:
    header, *body = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    return [dict(zip(header, r, strict=True)) for r in body]


def test_parse_quarter() -> None:
    assert quarter.parse_quarter("2026Q1") == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert quarter.parse_quarter("2024q4") == (dt.date(2024, 10, 1), dt.date(2024, 12, 31))
    for bad in ("2026Q5", "2026-03", "Q1", ""):
        with pytest.raises(quarter.BadQuarter, match="YYYYQn"):
            quarter.parse_quarter(bad)


def test_quarterly_csv_figures_by_hand_and_the_sealed_entry(tmp_path: Path) -> None:
    config, path = _site(tmp_path)
    done = occmon("records", "quarter", str(path), "--quarter", "2026Q2", "--format", "csv",
                  "--prepared-by", "李编制", "--reviewed-by", "王安全")
    assert done.returncode == 0, done.stderr
    assert "recorded as ledger entry" in done.stderr
    rows = {r["危害因素"]: r for r in _rows(done.stdout)}
    assert sorted(rows) == ["水泥粉尘 (游离SiO2含量<10%) (总尘)", "硫化氢"]
    dust = rows["水泥粉尘 (游离SiO2含量<10%) (总尘)"]
    # each day's C_TWA (the 白班 08:00-16:00, the day's highest), by hand:
    d1 = (470 * 1.0 + 10 * 25.0) / 480  # 1.5
    d2, d3 = 1.0, 2.0
    # D1 fails (a 25 mg/m3 excursion over 5 x PC-TWA 4 = 20); D2, D3 pass; D4 is not closed
    passed, failed = 2, 1
    assert dust["车间"] == "粉磨车间" and dust["监测点数"] == "1" and dust["日结天数"] == "3"
    assert dust["监测点日数"] == "3" and dust["结果指标"] == "PC-TWA"
    assert dust["限值"] == "PC-TWA 4"
    assert float(dust["结果下限"]) == min(d1, d2, d3)
    assert float(dust["结果上限"]) == max(d1, d2, d3)
    assert (dust["合格"], dust["超标"], dust["数据不足"]) == (str(passed), str(failed), "0")
    assert float(dust["合格率%"]) == round(100 * passed / (passed + failed), 1) == 66.7
    assert (dust["编制人"], dust["审核人"]) == ("李编制", "王安全")
    h2s = rows["硫化氢"]  # no readings at all: insufficient every day, no rate
    assert (h2s["结果指标"], h2s["限值"], h2s["数据不足"], h2s["合格率%"]) == (
        "MAC", "MAC 10", "3", "")
    assert h2s["结果下限"] == h2s["结果上限"] == ""
    seq = int(dust["账本序号"])
    with RecordsStore(config.store.path, readonly=True) as store:
        kind, content = store.conn.execute("SELECT kind, content FROM ledger WHERE seq = ?",
                                           (seq,)).fetchone()
    assert kind == "quarter-summary" and '"seal"' in content and '"2026Q2"' in content
    verified = occmon("records", "verify", str(path), "--require-signed")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # the same figures by the same people: no second entry
    again = occmon("records", "quarter", str(path), "--quarter", "2026Q2",
                   "--prepared-by", "李编制", "--reviewed-by", "王安全")
    assert again.returncode == 0 and "already recorded" in again.stderr
    assert int(_rows(again.stdout)[0]["账本序号"]) == seq
    en = occmon("records", "quarter", str(path), "--quarter", "2026Q2", "--lang", "en")
    assert en.returncode == 0
    lines = _rows(en.stdout)
    assert lines[0]["workshop"] == "Desulf" and lines[1]["hazard factor"] == "cement dust (total)"
    assert lines[1]["ledger seq"] == str(seq)  # the recorded entry vouches for these figures


def test_cli_refuses_bad_input_and_a_running_quarter(tmp_path: Path) -> None:
    _config, path = _site(tmp_path)
    bad = occmon("records", "quarter", str(path), "--quarter", "2026Q7")
    assert bad.returncode == 2 and "YYYYQn" in bad.stderr
    half = occmon("records", "quarter", str(path), "--quarter", "2026Q2", "--prepared-by", "x")
    assert half.returncode == 2 and "--reviewed-by" in half.stderr
    stranger = occmon("records", "quarter", str(path), "--quarter", "2026Q2",
                      "--prepared-by", "x", "--reviewed-by", "路人")
    assert stranger.returncode == 2 and "signers" in stranger.stderr
    now = dt.date.today()
    running = f"{now.year}Q{(now.month + 2) // 3}"
    refused = occmon("records", "quarter", str(path), "--quarter", running,
                     "--prepared-by", "x", "--reviewed-by", "王安全")
    assert refused.returncode == 1 and "has not ended" in refused.stderr


@pytest.fixture
def http(tmp_path: Path) -> Iterator[httpx.Client]:
    config, _path = _site(tmp_path)
    with serve(create_app(config, config.store.path)) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": OFFICER_KEY}, timeout=60) as c:
        yield c


def test_api_quarter_csv_pdf_and_sign(http: httpx.Client, tmp_path: Path) -> None:
    route = "/api/v1/daily-records/quarters"
    unsigned = _rows(http.get(f"{route}/2026Q2").text)
    assert [r["监测点日数"] for r in unsigned] == ["3", "3"] and unsigned[0]["账本序号"] == ""
    assert http.get(f"{route}/2026Q9").status_code == 422
    no = http.post(f"{route}/2026Q2/sign", json={"prepared_by": "李编制",
                                                 "reviewed_by": "路人"})
    assert no.status_code == 403
    signed = http.post(f"{route}/2026Q2/sign", json={"prepared_by": "李编制",
                                                     "reviewed_by": "王安全"})
    assert signed.status_code == 200 and signed.json()["written"] is True
    again = http.post(f"{route}/2026Q2/sign", json={"prepared_by": "李编制",
                                                    "reviewed_by": "王安全"}).json()
    assert again["written"] is False and again["seq"] == signed.json()["seq"]
    rows = _rows(http.get(f"{route}/2026Q2").text)
    assert {r["账本序号"] for r in rows} == {str(signed.json()["seq"])}
    pdf = http.get(f"{route}/2026Q2", params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    file = tmp_path / "quarter.pdf"
    file.write_bytes(pdf.content)
    run(tool("pdftoppm"), "-r", "50", "-png", str(file), str(tmp_path / "q"))
    (page,) = sorted(tmp_path.glob("q*.png"))
    with Image.open(page) as img:
        assert img.size == (math.ceil(841.89 * 50 / 72), math.ceil(595.28 * 50 / 72))
    text = " ".join(run(tool("pdftotext"), "-layout", str(file), "-").split())
    assert "职业病危害因素日常监测季报汇总表 2026Q2" in text and "66.7" in text
    assert "审核人: 王安全" in text and f"seq {signed.json()['seq']}" in text
    fonts = run(tool("pdffonts"), str(file))
    assert any("WenQuanYi" in f and f.split()[-5:-3] == ["yes", "yes"]
               for f in fonts.splitlines())
    assert http.get("/api/v1/ledger/verify").json()["ok"] is True


def test_the_quarter_table_fits_the_frame(tmp_path: Path) -> None:
    config, _path = _site(tmp_path)
    with RecordsStore(config.store.path, readonly=True) as store:
        summary = quarter.summarise(store.conn, {"zh": "甲厂", "en": "Plant A"}, "plant-a",
                                    "2026Q2")
    doc, _story, table = quarter.pdf_parts(summary, None, "en")
    width, _ = table.wrap(doc.width, doc.height)
    assert width <= doc.width + 0.01
