"""The quarterly summary of daily monitoring (职业病危害因素日常监测季报汇总表; 职业卫生档案
管理规范 2013, Table 4-3), made from the closed days of a quarter, as CSV and PDF, and
recorded in the ledger like a day (a sealed ``quarter-summary`` entry).

One row per workshop (area) and hazard factor (agent, and dust fraction): the monitoring
interval, the number of points, the range of the day results and the compliance rate.
Choices (occmon's, docs/records.md "Quarterly summary"):

- only **closed** days count (a provisional day may still change); the rows say how many
  days of the quarter were closed;
- a day result is the point's day record (not its shifts): C_TWA where the agent has a
  PC-TWA, else the day's maximum (MAC), LEX,8h for noise, Hp(10) for radiation;
- compliance rate = 合格 / (合格 + 超标) over point-days; 数据不足 point-days are counted in
  their own column and left out of the rate (missing data is neither a pass nor a fail).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.daily import query
from ingest.daily.printing import (
    ROUNDING_RULE,
    fmt,
    limit,
    page_decorations,
    pdf_font,
    pdf_table,
)
from occmon import ledger
from occmon.ledger import canonical, sha256_text

KIND = "quarter-summary"
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$")


class BadQuarter(ValueError):
    """A quarter that is not YYYYQn."""


def parse_quarter(text: str) -> tuple[dt.date, dt.date]:
    """'2026Q1' -> (2026-01-01, 2026-03-31); ``BadQuarter`` names the expected form."""
    m = _QUARTER.match(text.strip().upper())
    if m is None:
        raise BadQuarter(f"quarter {text!r} is not YYYYQn (e.g. 2026Q1)")
    year, q = int(m[1]), int(m[2])
    if not 1970 <= year <= 9998:
        raise BadQuarter(f"quarter {text!r}: year out of range 1970..9998")
    first = dt.date(year, 3 * q - 2, 1)
    last = (dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - dt.timedelta(days=1))
    return first, last


def quarter_name(text: str) -> str:
    first, _ = parse_quarter(text)
    return f"{first.year}Q{(first.month + 2) // 3}"


@dataclass
class Row:
    """One line of Table 4-3: a workshop and a hazard factor."""

    area: str
    area_zh: str
    area_en: str
    agent: str
    agent_zh: str
    agent_en: str
    fraction: str | None
    metric: str  # c_twa | max | lex_8h | dose_usv
    unit: str
    limit_name: str
    limit: float | None
    points: list[str] = field(default_factory=list)
    point_days: int = 0
    passed: int = 0
    failed: int = 0
    insufficient: int = 0
    low: float | None = None
    high: float | None = None

    @property
    def rate(self) -> float | None:
        """合格率 %: pass / (pass + fail); None when no point-day was judged."""
        judged = self.passed + self.failed
        return None if judged == 0 else round(100.0 * self.passed / judged, 1)


@dataclass
class Summary:
    site: str
    site_zh: str
    site_en: str
    quarter: str
    first: str
    last: str
    days: int
    closed_days: list[str]
    rows: list[Row]

    def figures(self) -> dict[str, Any]:
        """What the ledger entry vouches for: every figure of the form."""
        return {"quarter": self.quarter, "site": self.site, "first": self.first,
                "last": self.last, "days": self.days, "closed_days": len(self.closed_days),
                "rows": [{**asdict(r), "rate": r.rate} for r in self.rows]}

    def figures_sha256(self) -> str:
        return sha256_text(canonical(self.figures()))


def _metric(rec: dict[str, Any]) -> tuple[str, str, float | None]:
    """(result field, limit name, limit) that judges the agent's day."""
    kind = (rec.get("agent") or {}).get("kind")
    lim = rec.get("limits") or {}
    if kind == "noise":
        return "lex_8h", "LEX,8h", lim.get("lex_8h")
    if kind == "radiation":
        return "dose_usv", "Hp(10)", lim.get("investigation_msv_per_year")
    if lim.get("pc_twa") is not None:
        return "c_twa", "PC-TWA", lim.get("pc_twa")
    return "max", "MAC", lim.get("mac")


def summarise(conn: sqlite3.Connection, site: dict[str, Any], site_id: str,
              quarter: str) -> Summary:
    """The quarter's form from the closed days' day records in the store (reads only)."""
    first, last = parse_quarter(quarter)
    closed = sorted(query.closed_days(conn, first.isoformat(), last.isoformat()))
    records = query.daily_records(conn, query.Filters(day_from=first.isoformat(),
                                                      day_to=last.isoformat()),
                                  kind="daily-record", shift="")
    keep = set(closed)
    groups: dict[tuple[str, str, str | None, str], Row] = {}
    for rec in records:
        if rec["day"] not in keep:
            continue
        agent = rec.get("agent") or {}
        metric, limit_name, limit_value = _metric(rec)
        key = (str(rec.get("area")), str(agent.get("id")), agent.get("fraction"), metric)
        row = groups.get(key)
        if row is None:
            area = rec.get("area_name") or {}
            row = groups[key] = Row(
                area=key[0], area_zh=str(area.get("zh") or key[0]),
                area_en=str(area.get("en") or key[0]), agent=key[1],
                agent_zh=str(agent.get("zh", "")), agent_en=str(agent.get("en", "")),
                fraction=key[2], metric=metric, unit=str(rec.get("unit") or ""),
                limit_name=limit_name, limit=limit_value)
        if rec["point"] not in row.points:
            row.points.append(rec["point"])
        row.point_days += 1
        verdict = rec.get("verdict_en")
        row.passed += verdict == "pass"
        row.failed += verdict == "fail"
        row.insufficient += verdict not in ("pass", "fail")
        value = rec.get(metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            row.low = value if row.low is None else min(row.low, value)
            row.high = value if row.high is None else max(row.high, value)
    rows = sorted(groups.values(), key=lambda r: (r.area, r.agent, r.fraction or "", r.metric))
    return Summary(site_id, str(site.get("zh", "")), str(site.get("en", "")),
                   quarter_name(quarter), first.isoformat(), last.isoformat(),
                   (last - first).days + 1, closed, rows)


# ----- the ledger entry: recorded (signed) like a day -----

def recorded(conn: sqlite3.Connection, quarter: str) -> dict[str, Any] | None:
    """The latest ``quarter-summary`` entry of ``quarter`` (seq, sha256, content), if any."""
    row = conn.execute(
        "SELECT seq, entry_sha256, content FROM ledger WHERE kind = ? AND "
        "json_extract(content, '$.quarter') = ? ORDER BY seq DESC LIMIT 1",
        (KIND, quarter_name(quarter))).fetchone()
    if row is None:
        return None
    body: dict[str, Any] = json.loads(row[2])
    return {"seq": int(row[0]), "sha256": str(row[1]), **body}


def signature_of(conn: sqlite3.Connection, summary: Summary) -> dict[str, Any] | None:
    """The entry that vouches for these very figures; None if none does (never recorded, or
    a day was re-closed with corrections since)."""
    entry = recorded(conn, summary.quarter)
    if entry is None or entry.get("figures_sha256") != summary.figures_sha256():
        return None
    return entry


def record(conn: sqlite3.Connection, summary: Summary, prepared_by: str, reviewed_by: str,
           now: float, seal: Ed25519PrivateKey | None) -> tuple[dict[str, Any], bool]:
    """Append the sealed ``quarter-summary`` entry (the caller holds the transaction);
    idempotent: the same figures by the same people give back the entry already there.
    Returns (entry, written now?)."""
    entry = recorded(conn, summary.quarter)
    if (entry is not None and entry.get("figures_sha256") == summary.figures_sha256()
            and entry.get("prepared_by") == prepared_by
            and entry.get("reviewed_by") == reviewed_by):
        return entry, False
    content = {"quarter": summary.quarter, "site": summary.site,
               "figures_sha256": summary.figures_sha256(), "figures": summary.figures(),
               "prepared_by": prepared_by, "reviewed_by": reviewed_by, "signed_at": now,
               "reissues": entry["seq"] if entry else None}
    e = ledger.append(conn, kind=KIND, site=summary.site, content=content, time=now,
                      ref=entry["seq"] if entry else None, seal=seal)
    return {"seq": e.seq, "sha256": e.entry_sha256, **e.body()}, True


# ----- CSV and PDF -----

COLUMNS: tuple[tuple[str, str], ...] = (
    ("季度", "quarter"), ("车间", "workshop"), ("危害因素", "hazard factor"),
    ("监测周期", "monitoring interval"), ("监测点数", "points"), ("日结天数", "closed days"),
    ("监测点日数", "point-days"), ("结果指标", "result"), ("单位", "unit"),
    ("限值", "limit"), ("结果下限", "lowest result"), ("结果上限", "highest result"),
    ("合格", "pass"), ("超标", "fail"), ("数据不足", "insufficient"),
    ("合格率%", "compliance rate %"), ("编制人", "prepared by"), ("审核人", "reviewed by"),
    ("账本序号", "ledger seq"),
)


def _agent(r: Row, lang: str) -> str:
    name = r.agent_zh if lang == "zh" else r.agent_en
    if r.fraction:
        frac = {"total": ("总尘", "total"), "respirable": ("呼尘", "respirable")}.get(
            r.fraction, (r.fraction, r.fraction))
        name += f" ({frac[0] if lang == 'zh' else frac[1]})"
    return name


def _interval(summary: Summary, lang: str) -> str:
    return ("每日 (连续在线监测, 日结)" if lang == "zh"
            else "daily (continuous online monitoring, closed days)")


def _cells(summary: Summary, r: Row, lang: str, sign: dict[str, Any] | None,
           printed: bool) -> list[str]:
    def num(v: float | None) -> str:
        if v is None:
            return ""
        return fmt(float(v), r.unit) if printed else repr(float(v))
    rate = r.rate
    return [summary.quarter, r.area_zh if lang == "zh" else r.area_en, _agent(r, lang),
            _interval(summary, lang), str(len(r.points)), str(len(summary.closed_days)),
            str(r.point_days), f"{r.limit_name} ({r.unit})" if printed and r.unit else r.limit_name,
            r.unit,
            f"{r.limit_name} {limit(r.limit)}", num(r.low), num(r.high), str(r.passed),
            str(r.failed), str(r.insufficient), "" if rate is None else f"{rate:.1f}",
            str(sign.get("prepared_by", "")) if sign else "",
            str(sign.get("reviewed_by", "")) if sign else "",
            str(sign["seq"]) if sign else ""]


def to_csv(summary: Summary, sign: dict[str, Any] | None, lang: str = "zh") -> str:
    """Table 4-3 as CSV (UTF-8 with BOM, as the day CSV): the stored figures, unrounded."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([zh if lang == "zh" else en for zh, en in COLUMNS])
    for r in summary.rows:
        writer.writerow(_cells(summary, r, lang, sign, printed=False))
    return "\ufeff" + buf.getvalue()


def _title(summary: Summary, lang: str) -> str:
    if lang == "zh":
        return f"{summary.site_zh} 职业病危害因素日常监测季报汇总表 {summary.quarter}"
    return f"{summary.site_en}: quarterly summary of daily monitoring {summary.quarter}"


PRINT_WEIGHTS = (60, 120, 70, 40, 50, 70, 50, 55, 55, 40, 40, 50, 50)


def pdf_parts(summary: Summary, sign: dict[str, Any] | None, lang: str = "zh",
              provisional: bool = False) -> tuple[Any, list[Any], Any]:
    """(doc template, story, the table) of the quarterly form, laid out and checked to fit."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    zh = lang == "zh"
    font, _embedded = pdf_font()
    title = ParagraphStyle("title", fontName=font, fontSize=14, leading=18)
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK")
    cell = ParagraphStyle("cell", fontName=font, fontSize=7, leading=8.5, wordWrap="CJK")
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm,
                            rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=14 * mm,
                            title=_title(summary, lang), author="occmon",
                            initialFontName=font, initialFontSize=8)
    esc = html.escape
    head = [c[0] if zh else c[1] for c in COLUMNS]
    keep = (1, 2, 3, 4, 6, 7, 9, 10, 11, 12, 13, 14, 15)  # the printed columns
    rows = []
    for r in summary.rows:
        cells = _cells(summary, r, lang, sign, printed=True)
        rows.append([cells[i] for i in keep])
    table = pdf_table([head[i] for i in keep], rows, PRINT_WEIGHTS,
                      empty="本季度无已日结的记录" if zh else "no closed day in this quarter",
                      frame=(doc.width, doc.height), font=font, cell=cell, size=7)
    closed = len(summary.closed_days)
    meta = (f"单位 {summary.site_zh}; 季度 {summary.first} 至 {summary.last}; 已日结 {closed}/"
            f"{summary.days} 天; 合格率 = 合格 / (合格 + 超标), 数据不足不计入" if zh else
            f"Site {summary.site_en}; quarter {summary.first} to {summary.last}; {closed} of "
            f"{summary.days} days closed; compliance rate = pass / (pass + fail), "
            "insufficient not counted")
    story: list[Any] = [Paragraph(esc(_title(summary, lang)), title), Paragraph(esc(meta), body),
                        Spacer(1, 6), table, Spacer(1, 10)]
    if sign is not None:
        lines = [f"{'编制人' if zh else 'Prepared by'}: {sign.get('prepared_by', '')}",
                 f"{'审核人' if zh else 'Reviewed by'}: {sign.get('reviewed_by', '')}",
                 f"{'账本记录' if zh else 'Ledger entry'}: seq {sign['seq']} {sign['sha256']}"]
    else:
        lines = [f"{'编制人' if zh else 'Prepared by'}: {'_' * 20}",
                 f"{'审核人' if zh else 'Reviewed by'}: {'_' * 20}",
                 "未记入账本 (occmon records quarter ... --prepared-by --reviewed-by)" if zh
                 else "not recorded in the ledger (occmon records quarter ... --prepared-by "
                      "--reviewed-by)"]
    story += [Paragraph(esc(line), body) for line in lines]
    story += [Spacer(1, 6), Paragraph(esc(ROUNDING_RULE[lang]), cell)]
    return doc, story, table


def to_pdf(summary: Summary, sign: dict[str, Any] | None, lang: str = "zh",
           provisional: bool = False) -> bytes:
    """The form as an A4 landscape PDF, font embedded; a running quarter is watermarked."""
    doc, story, _table = pdf_parts(summary, sign, lang, provisional)
    font = story[0].style.fontName
    mark = ("临时 季度未结束" if lang == "zh" else "PROVISIONAL") if provisional else None
    deco = page_decorations(font, f"occmon {summary.site_en} {summary.quarter}", mark)
    doc.build(story, onFirstPage=deco, onLaterPages=deco)
    out: bytes = doc.filename.getvalue()
    return out
