"""The printed day report an inspector files: A4 landscape that fits, the CJK font embedded,
limits and sources beside each result, figures at a sensible resolution, every section, an
English report that is English, and the provisional watermark."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from PIL import Image

from ingest.daily import day_report, export, printing
from tests.records.printed import closed_site, day_parts, run, tool
from tests.records.support import DAY

SITE = {"zh": "甲厂", "en": "Plant A"}
CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    file = tmp_path / f"{name}.pdf"
    file.write_bytes(pdf)
    return run(tool("pdftotext"), "-layout", str(file), "-")


def test_sig3_and_the_unit_resolution() -> None:
    assert [printing.sig3(x) for x in (1.166667, 25.0, 1.5, 0.0123456, 12345.0, 999.7)] == [
        "1.17", "25.0", "1.50", "0.0123", "12300", "1000"]
    assert printing.fmt(86.2349, "dB(A)") == "86.2" and printing.fmt(100.0, "%") == "100.0"
    assert printing.fmt(7) == "7" and printing.fmt(None) == "-"
    assert printing.limit(0.05) == "0.05" and printing.limit(4.0) == "4"


def test_pdf_is_a4_landscape_with_the_cjk_font_embedded(tmp_path: Path) -> None:
    config = closed_site(tmp_path)
    rows, events, closure, head = day_parts(config)
    pdf = export.report_pdf(SITE, str(DAY), rows, events, closure, "zh", ledger_head=head)
    file = tmp_path / "day.pdf"
    file.write_bytes(pdf)
    run(tool("pdftoppm"), "-r", "50", "-png", str(file), str(tmp_path / "page"))
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    # A4 landscape is 297 x 210 mm = 841.89 x 595.28 pt; at 50 dpi: pt * 50 / 72, rounded up
    want = (math.ceil(841.89 * 50 / 72), math.ceil(595.28 * 50 / 72))
    assert want == (585, 414)
    for page in pages:
        with Image.open(page) as img:
            assert img.size == want
    fonts = run(tool("pdffonts"), str(file)).splitlines()[2:]
    cjk = [f for f in fonts if "WenQuanYi" in f or "Droid" in f or "UMing" in f]
    assert cjk, fonts
    for line in fonts:  # name type encoding emb sub uni: every font embedded, as a subset
        assert line.split()[-5:-3] == ["yes", "yes"], line


def test_every_table_is_laid_out_inside_the_frame(tmp_path: Path) -> None:
    config = closed_site(tmp_path)
    rows, events, closure, head = day_parts(config)
    long = [{**r, "limits": {**r["limits"], "sources": ["GBZ 2.1-2019 " + "很长的行名" * 60]}}
            for r in rows]
    sheet = day_report.build(SITE, str(DAY), long, events, closure, "zh", provisional=False,
                             ledger_head=head, head_text="")
    doc, _story, tables, embedded = day_report.pdf_story(sheet)
    assert embedded and len(tables) == 4
    assert doc.width == pytest.approx(841.89 - 2 * 12 * 72 / 25.4, abs=0.1)
    for table in tables:
        width, _ = table.wrap(doc.width, doc.height)
        assert width <= doc.width + 0.01
        assert sum(table._colWidths) == pytest.approx(doc.width)
    from reportlab.platypus import Table

    wide = Table([["x", "y"]], colWidths=[doc.width, 10.0])
    with pytest.raises(printing.LayoutError, match="wide"):
        printing.check_fits(wide, doc.width, doc.height)


def test_zh_report_has_limits_sources_sections_and_rounded_figures(tmp_path: Path) -> None:
    config = closed_site(tmp_path)
    rows, events, closure, head = day_parts(config)
    text = pdf_text(export.report_pdf(SITE, str(DAY), rows, events, closure, "zh",
                                      ledger_head=head), tmp_path, "zh")
    flat = " ".join(text.split())
    for label in ("一、监测结果与限值", "二、超标事件及整改状态", "三、报警与联动动作",
                  "四、岗位记录", "五、签署与账本"):
        assert label in flat
    assert "白班" in flat and "全天" in flat  # the shift column
    assert "PC-TWA 4" in flat and "MAC 10" in flat and "GBZ 2.1-2019 表2" in flat
    # the 白班 C_TWA by hand: (470 min x 1 + 10 min x 25) / 480 min = 1.5 -> 3 s.f. "1.50"
    assert (470 * 1 + 10 * 25) / 480 == 1.5 and "1.50" in flat and "25.0" in flat
    assert not re.search(r"\d\.\d{4,}", flat)  # no analyzer decimals on paper
    assert "峰接触超限" in flat and "待整改" in flat  # the exceedance and its state
    assert "10:01:00" in flat and "10:12:00" in flat and "raise" in flat  # the alarms
    assert "磨工" in flat and "C_TWA" in flat  # the job record
    assert "王安全" in flat and f"seq {head[0]} {head[1][:12]}" in flat
    assert "临时" not in flat


def test_en_report_is_english_throughout(tmp_path: Path) -> None:
    config = closed_site(tmp_path)
    rows, events, closure, head = day_parts(config)
    pdf = export.report_pdf(SITE, str(DAY), rows, events, closure, "en", ledger_head=head)
    page = export.report_html(SITE, str(DAY), rows, events, closure, "en", ledger_head=head)
    text = " ".join(pdf_text(pdf, tmp_path, "en").split())
    for words in ("Plant A: daily monitoring record", "Mill total dust", "cement dust",
                  "hydrogen sulfide", "day shift", "whole day", "fail", "insufficient",
                  "GBZ 2.1-2019 Table 2, row: cement dust", "peak excursion", "open",
                  "Ledger head", "alarm"):
        assert words in text, words
    signer = "王安全"  # a name is printed as written
    assert not CJK.search(text.replace(signer, "")), CJK.findall(text)
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    assert not CJK.search(re.sub(r"<[^>]+>", "", body).replace(signer, ""))
    assert f'<p id="ledger-head">Ledger head: seq {head[0]} {head[1][:12]}</p>' in page


def test_an_open_day_is_watermarked_on_every_page(tmp_path: Path) -> None:
    config = closed_site(tmp_path)
    rows, events, _closure, head = day_parts(config)
    many = rows * 12  # several pages
    pdf = export.report_pdf(SITE, str(DAY), many, events, None, "en", provisional=True,
                            ledger_head=head)
    file = tmp_path / "open.pdf"
    file.write_bytes(pdf)
    pages = int(re.search(r"Pages:\s+(\d+)", run(tool("pdfinfo"), str(file)))[1])  # type: ignore[index]
    assert pages >= 2
    for n in range(1, pages + 1):
        text = run(tool("pdftotext"), "-f", str(n), "-l", str(n), str(file), "-")
        assert "PROVISIONAL" in text
    closed = export.report_pdf(SITE, str(DAY), rows, events, None, "en", ledger_head=head)
    assert "PROVISIONAL" not in pdf_text(closed, tmp_path, "closed")
    zh = export.report_html(SITE, str(DAY), rows, events, None, "zh", provisional=True)
    assert 'class="watermark"' in zh and "临时 未日结" in zh
