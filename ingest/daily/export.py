"""Records for the compliance file: CSV (zh or en headers), a printable HTML day report and
its PDF (reportlab, with the CID font STSong-Light, so Chinese needs no font file).

Pure rendering: dicts in, text or bytes out. Used by the API and ``occmon records export``.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Sequence
from typing import Any

Row = dict[str, Any]


def _g(*path: str) -> Callable[[Row], Any]:
    def get(row: Row) -> Any:
        value: Any = row
        for p in path:
            value = value.get(p) if isinstance(value, dict) else None
        return value
    return get


def _instrument(row: Row) -> str:
    return "; ".join(
        f"{i.get('model')} {i.get('serial')} ({i.get('calibrated')}"
        f"{', current' if i.get('calibration_current') else ', OVERDUE'})"
        for i in row.get("instruments") or []
    )


def _sources(row: Row) -> str:
    return "; ".join(row.get("limits", {}).get("sources") or row.get("sources") or [])


def _status(row: Row) -> dict[str, str]:
    """临时 (provisional) for an open day computed on demand, 已日结 for a closed one."""
    if row.get("provisional"):
        return {"zh": "临时", "en": "provisional"}
    return {"zh": "已日结", "en": "closed"}


def _text(value: Any, lang: str) -> Any:
    """A cell: a {zh, en} value in the export's language, None as empty."""
    if isinstance(value, dict) and "zh" in value and "en" in value:
        return value["zh"] if lang == "zh" else value["en"]
    return "" if value is None else value


# (key, zh header, en header, getter); a getter may give {zh, en}: the cell follows ``lang``
RECORD_COLUMNS: tuple[tuple[str, str, str, Callable[[Row], Any]], ...] = (
    ("day", "日期", "date", _g("day")),
    ("shift", "班次", "shift", _g("shift")),
    ("area", "车间/工段", "area", _g("area_name", "zh")),
    ("point", "监测点", "point", _g("point")),
    ("point_name", "监测点名称", "point name", _g("point_name", "zh")),
    ("agent_zh", "危害因素", "agent (zh)", _g("agent", "zh")),
    ("agent_en", "Hazard (en)", "agent", _g("agent", "en")),
    ("unit", "单位", "unit", _g("unit")),
    ("pc_twa", "PC-TWA", "PC-TWA", _g("limits", "pc_twa")),
    ("pc_stel", "PC-STEL", "PC-STEL", _g("limits", "pc_stel")),
    ("mac", "MAC", "MAC", _g("limits", "mac")),
    ("limit_source", "限值依据", "limit source", _sources),
    ("readings", "读数个数", "readings", _g("readings")),
    ("coverage_pct", "覆盖率%", "coverage %", _g("coverage_pct")),
    ("min", "最小值", "min", _g("min")),
    ("max", "最大值", "max", _g("max")),
    ("mean", "平均值", "mean", _g("mean")),
    ("c_twa", "C_TWA", "C_TWA", _g("c_twa")),
    ("stel_max", "最大15分钟STEL", "max 15-min STEL", _g("stel_max")),
    ("mac_exceedances", "超MAC次数", "MAC exceedances", _g("mac_exceedances")),
    ("peak_excursions", "峰接触次数", "peak excursions", _g("peak_excursions")),
    ("lex_8h", "LEX,8h dB(A)", "LEX,8h dB(A)", _g("lex_8h")),
    ("noise_peak_db", "峰值声级 dB(C)", "peak dB(C)", _g("noise_peak_db")),
    ("dose", "剂量", "dose", lambda r: r.get("dose_usv", r.get("noise_dose_pct"))),
    ("verdict", "结论", "verdict", lambda r: r.get("verdict")),
    ("verdict_en", "结论(英)", "verdict (en)", _g("verdict_en")),
    ("instrument", "仪器(型号 编号 校准)", "instrument (model serial calibration)", _instrument),
    ("alarms", "报警/联动次数", "alarms and interlock actions",
     lambda r: len(r.get("alarms") or [])),
    ("seq", "账本序号", "ledger seq", _g("seq")),
    ("status", "记录状态", "record status", _status),
)

EXCEEDANCE_COLUMNS: tuple[tuple[str, str, str, Callable[[Row], Any]], ...] = (
    ("id", "编号", "id", _g("id")),
    ("type", "类型", "type", _g("type")),
    ("area", "车间/工段", "area", _g("area")),
    ("point", "监测点", "point", _g("point")),
    ("agent_zh", "危害因素", "agent (zh)", _g("agent", "zh")),
    ("agent_en", "Hazard (en)", "agent", _g("agent", "en")),
    ("start", "开始", "start", _g("start_local")),
    ("end", "结束", "end", _g("end_local")),
    ("peak", "峰值", "peak", _g("peak")),
    ("limit", "限值", "limit", _g("limit")),
    ("ratio", "超标倍数", "ratio", _g("ratio")),
    ("status", "整改状态", "status", _g("status")),
    ("limit_source", "限值依据", "limit source", _sources),
)


def to_csv(rows: Sequence[Row], columns: Sequence[tuple[str, str, str, Callable[[Row], Any]]],
           lang: str = "zh") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([zh if lang == "zh" else en for _, zh, en, _g in columns])
    for row in rows:
        writer.writerow([_text(get(row), lang) for *_, get in columns])
    return "\ufeff" + buf.getvalue()  # BOM: Excel opens UTF-8 Chinese correctly


REPORT_COLUMNS = ("point_name", "agent_zh", "shift", "unit", "readings", "coverage_pct", "max",
                  "c_twa", "stel_max", "lex_8h", "verdict", "instrument", "status")
PROVISIONAL = {"zh": "临时记录 (provisional): 当日尚未日结, 数据仍可能变化, 不可签署",
               "en": "Provisional (临时): the day is not closed; figures may still change and "
                     "it cannot be signed"}


def report_table(records: Sequence[Row], lang: str) -> tuple[list[str], list[list[str]]]:
    cols = [c for c in RECORD_COLUMNS if c[0] in REPORT_COLUMNS]
    head = [zh if lang == "zh" else en for _, zh, en, _g in cols]
    body = [[str(_text(get(r), lang)) for *_, get in cols] for r in records]
    return head, body


def _title(site: Row, day: str, lang: str, provisional: bool) -> str:
    if lang == "zh":
        mark = "（临时）" if provisional else ""
        return f"{site['zh']} 职业病危害因素日常监测记录 {day}{mark}"
    mark = " (provisional)" if provisional else ""
    return f"{site['en']}: daily monitoring record {day}{mark}"


def head_text(head: tuple[int, str] | None, lang: str) -> str:
    """The ledger's head as printed (seq and the first 12 hex of its hash): what a reader
    compares with an anchor kept elsewhere (docs/records.md, "Anchors")."""
    if head is None:
        return ""
    label = "账本头" if lang == "zh" else "Ledger head"
    return f"{label}: seq {head[0]} {head[1][:12]}"


def report_html(site: Row, day: str, records: Sequence[Row], events: Sequence[Row],
                closure: Row | None, lang: str = "zh", *, provisional: bool = False,
                ledger_head: tuple[int, str] | None = None) -> str:
    """``provisional``: an open day computed on demand; titled and bannered 临时/provisional.
    ``ledger_head``: the ledger's (seq, hash) when printed."""
    zh = lang == "zh"
    head, body = report_table(records, lang)
    esc = html.escape
    title = _title(site, day, lang, provisional)
    banner = (f'<p class="provisional"><strong>{esc(PROVISIONAL[lang])}</strong></p>'
              if provisional else "")
    sign = ("未签署" if zh else "not signed")
    if closure and closure.get("signed_by"):
        sign = f"{closure['signed_by']} ({closure.get('signed_at_local', closure['signed_at'])})"
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in body)
    ev_rows = "".join(
        f"<tr><td>{esc(e['id'])}</td><td>{esc(e['type'])}</td><td>{esc(e['start_local'])}</td>"
        f"<td>{esc(e['end_local'])}</td><td>{e['peak']}</td><td>{e['limit']}</td>"
        f"<td>{e['ratio']}</td><td>{esc(str(e.get('status', '')))}</td></tr>" for e in events)
    seal = closure.get("close_sha256", "") if closure else ""
    labels = (("超标事件", "签署", "日结哈希") if zh
              else ("Exceedances", "Signed by", "Day-close hash"))
    return f"""<!doctype html><html lang="{'zh-CN' if zh else 'en'}"><head><meta charset="utf-8">
<title>{esc(title)}</title><style>
body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #444;padding:2px 4px;font-size:11px}} @page{{size:A4 landscape}}
.provisional{{border:2px solid #c00;padding:4px;color:#c00}}
</style></head><body><h1>{esc(title)}</h1>{banner}
<table><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr></thead>
<tbody>{rows}</tbody></table>
<h2>{labels[0]}</h2><table><tbody>{ev_rows}</tbody></table>
<p>{labels[1]}: {esc(sign)}</p><p>{labels[2]}: <code>{esc(seal)}</code></p>
{f'<p id="ledger-head">{esc(head_text(ledger_head, lang))}</p>' if ledger_head else ''}
</body></html>"""


def report_pdf(site: Row, day: str, records: Sequence[Row], events: Sequence[Row],
               closure: Row | None, lang: str = "zh", *, provisional: bool = False,
               ledger_head: tuple[int, str] | None = None) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = font
    zh = lang == "zh"
    head, body = report_table(records, lang)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), title=f"occmon {day}")
    title = _title(site, day, lang, provisional)
    table = Table([head, *body], repeatRows=1)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), font, 7),
                               ("GRID", (0, 0), (-1, -1), 0.5, colors.grey)]))
    story: list[Any] = [Paragraph(title, styles["Title"])]
    if provisional:
        story.append(Paragraph(PROVISIONAL[lang], styles["Heading3"]))
    story += [table, Spacer(1, 12)]
    for e in events:
        story.append(Paragraph(f"{e['id']}: {e['type']} {e['start_local']} - {e['end_local']} "
                               f"peak {e['peak']} limit {e['limit']} ratio {e['ratio']} "
                               f"{e.get('status', '')}", styles["Normal"]))
    signed = closure.get("signed_by") if closure else None
    story.append(Paragraph(("签署: " if zh else "Signed by: ") + (signed or "-"),
                           styles["Normal"]))
    if closure:
        story.append(Paragraph(f"sha256 {closure.get('close_sha256', '')}", styles["Normal"]))
    if ledger_head is not None:
        story.append(Paragraph(head_text(ledger_head, lang), styles["Normal"]))
    doc.build(story)
    return buf.getvalue()
