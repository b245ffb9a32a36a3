"""What the printed records share: the rounding rule, the embedded CJK font, column widths
that fit the frame, and the provisional watermark.

An inspector files a printout, so it must fit A4 landscape, carry its own font (a PDF whose
Chinese depends on the reader's fonts prints as boxes elsewhere) and print figures at the
resolution they mean, not the analyzer's six decimals. docs/records.md, "Printed records".
"""

from __future__ import annotations

import html
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# TrueType-outline CJK fonts reportlab can subset and embed (Noto CJK is CFF: it cannot).
# ``scripts/ensure-servers`` installs fonts-wqy-zenhei when none of them is present.
FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
FONT_ENV = "OCCMON_CJK_FONT"  # PATH or PATH#INDEX: a TTF/TTC to embed instead
FONT_NAME = "OccmonCJK"
FALLBACK_FONT = "STSong-Light"  # a CID font every PDF reader maps: not embedded
HTML_FONTS = ('"WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", '
              '"Droid Sans Fallback", sans-serif')

ROUNDING_RULE = {
    "zh": "数值修约: 浓度、剂量及倍数取3位有效数字; 声级取0.1 dB; 覆盖率取0.1%; 限值按标准原值; "
          "CSV 导出保留存储值。",
    "en": "Rounding: concentrations, doses and ratios to 3 significant figures; sound levels "
          "to 0.1 dB; coverage to 0.1 %; limits as the standard prints them; the CSV export "
          "keeps the stored values.",
}


def font_file() -> tuple[Path, int] | None:
    """The CJK font to embed: ``$OCCMON_CJK_FONT`` if set, else the first installed one."""
    wanted = os.environ.get(FONT_ENV)
    if wanted:
        path, _, index = wanted.partition("#")
        return Path(path), int(index) if index.isdigit() else 0
    for candidate, subfont in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate), subfont
    return None


def pdf_font() -> tuple[str, bool]:
    """(font name registered with reportlab, embedded?). Without a CJK TrueType font the
    report is still made, with the non-embedded CID font and a warning in the log: a missing
    font never stops the report an inspector asked for."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    registered = pdfmetrics.getRegisteredFontNames()
    if FONT_NAME in registered:
        return FONT_NAME, True
    found = font_file()
    if found is not None:
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(found[0]), subfontIndex=found[1]))
            return FONT_NAME, True
        except Exception as exc:  # any unreadable font file: fall back
            log.warning("CJK font %s unusable (%s): the PDF falls back to %s, not embedded",
                        found[0], exc, FALLBACK_FONT)
    else:
        log.warning("no CJK TrueType font installed (run scripts/ensure-servers or apt-get "
                    "install fonts-wqy-zenhei): the PDF uses %s, not embedded", FALLBACK_FONT)
    if FALLBACK_FONT not in registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT, False


def sig3(x: float) -> str:
    """``x`` to 3 significant figures, trailing zeros kept (25 -> 25.0, 1.1667 -> 1.17)."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else ""
    digits = 2 - math.floor(math.log10(abs(x)))
    rounded = round(x, digits)
    if rounded != 0:
        digits = 2 - math.floor(math.log10(abs(rounded)))  # 999.7 -> 1000: one digit fewer
        rounded = round(x, digits)
    return f"{rounded:.{digits}f}" if digits > 0 else f"{rounded:.0f}"


def fmt(value: Any, unit: str = "") -> str:
    """A figure as printed (``ROUNDING_RULE``): dB to 0.1, percent to 0.1, else 3 s.f."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, float):
        return str(value)
    if unit.startswith("dB") or unit == "%":
        return f"{value:.1f}"
    return sig3(value)


def limit(value: Any) -> str:
    """A limit as the standard prints it (4, 0.05, 85): never padded or rounded."""
    return "-" if value is None else f"{float(value):g}"


def fit(weights: Sequence[float], width: float) -> list[float]:
    """Column widths in proportion to ``weights`` that sum to ``width`` (the frame)."""
    total = float(sum(weights))
    return [width * w / total for w in weights]


class LayoutError(ValueError):
    """A table wider than the page's frame: it would run off the paper."""


def check_fits(table: Any, width: float, height: float) -> float:
    """The table's width after layout; ``LayoutError`` if it exceeds the frame."""
    used, _ = table.wrap(width, height)
    if used > width + 0.01:
        raise LayoutError(f"table is {used:.1f} pt wide, the frame {width:.1f} pt")
    return float(used)


@dataclass
class Section:
    """One labelled table of a printed sheet; ``empty`` is the one line that spans it when
    it has no row (a section is printed even then: "none" is a statement on a record)."""

    id: str
    title: str
    head: list[str]
    weights: tuple[float, ...]
    rows: list[list[str]] = field(default_factory=list)
    empty: str = ""


def pdf_table(head: Sequence[str], rows: Sequence[Sequence[str]], weights: Sequence[float],
              *, empty: str, frame: tuple[float, float], font: str, cell: Any,
              size: float = 6.5, tight: bool = False) -> Any:
    """A grid table of ``rows`` under ``head`` (repeated on each page) whose columns fit
    ``frame`` (width, height); with no row, one line ``empty`` spans it. ``LayoutError`` if
    it would still run off the paper. ``tight``: 1-2 pt cell padding (a dense sheet)."""
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    width, height = frame
    body = [list(r) for r in rows] or [[empty] + [""] * (len(head) - 1)]
    data = [[Paragraph(html.escape(c), cell) for c in r] for r in [list(head), *body]]
    table = Table(data, colWidths=fit(weights, width), repeatRows=1)
    style: list[Any] = [("FONT", (0, 0), (-1, -1), font, size),
                        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)),
                        ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if tight:
        style += [("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                  ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]
    if not rows:
        style.append(("SPAN", (0, 1), (-1, 1)))
    table.setStyle(TableStyle(style))
    check_fits(table, width, height)
    return table


def page_decorations(font: str, footer: str, watermark: str | None) -> Any:
    """The ``onPage`` callback: a footer with the page number, and for a provisional record
    a diagonal watermark across every page (it cannot be cropped off one page)."""
    from reportlab.lib.colors import Color

    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        width, height = doc.pagesize
        canvas.setFont(font, 7)
        canvas.setFillColor(Color(0.3, 0.3, 0.3))
        canvas.drawString(doc.leftMargin, doc.bottomMargin / 2, footer)
        canvas.drawRightString(width - doc.rightMargin, doc.bottomMargin / 2,
                               f"{doc.page}")
        if watermark:
            canvas.setFillColor(Color(0.8, 0.0, 0.0, alpha=0.14))
            canvas.setFont(font, 64)
            canvas.translate(width / 2, height / 2)
            canvas.rotate(28)
            canvas.drawCentredString(0, -20, watermark)
        canvas.restoreState()

    return draw
