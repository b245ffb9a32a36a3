"""The printable day report: one sheet model, rendered as HTML and as PDF.

The sheet is what an inspector files for a day: each point's results per shift beside the
limits applied and where they come from (catalogue: standard, table, row), the exceedances
with their rectification state, the alarms and interlock actions, the job records, and the
signature block with the day-close hash and the ledger's head. HTML and PDF are two renderings
of the same sheet, so they cannot disagree. ``lang='en'`` makes every word English (catalogue,
point and area names, verdicts, section titles); only free text a site typed in one language
(a shift or job name) stays as typed.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ingest.daily.printing import (
    HTML_FONTS,
    ROUNDING_RULE,
    Section,
    fmt,
    limit,
    page_decorations,
    pdf_font,
    pdf_table,
)

Row = dict[str, Any]

PROVISIONAL = {"zh": "临时记录 (provisional): 当日尚未日结, 数据仍可能变化, 不可签署",
               "en": "Provisional: the day is not closed; figures may still change and it "
                     "cannot be signed"}
WATERMARK = {"zh": "临时 未日结", "en": "PROVISIONAL"}
SHIFT_EN = {"白班": "day shift", "早班": "morning shift", "中班": "middle shift",
            "夜班": "night shift", "晚班": "evening shift", "全天": "whole day"}
EVENT_TYPES = {
    "twa": ("PC-TWA 超标", "PC-TWA exceeded"), "stel": ("PC-STEL 超标", "PC-STEL exceeded"),
    "mac": ("超 MAC", "MAC exceeded"), "peak": ("峰接触超限", "peak excursion"),
    "noise": ("噪声超标", "noise over limit"), "impulse": ("脉冲噪声超标", "impulse noise"),
    "dose": ("剂量超调查水平", "dose over investigation level"),
}
RECTIFICATION = {
    "open": ("待整改", "open"), "actioned": ("已采取措施, 待复查", "action taken"),
    "rechecked": ("已复查合格", "rechecked"), "closed": ("已闭环", "closed"),
    "withdrawn": ("已撤销", "withdrawn"),
}
ALARM_KINDS = {"alarm": ("报警", "alarm"), "interlock": ("联动", "interlock")}
VERDICT_EN = {"合格": "pass", "超标": "fail", "数据不足": "insufficient"}
_TABLE = re.compile(r"^(?P<head>.*?)\s*表\s*\d+\s*\((?P<table>Table [^)]+)\)\s*(?P<rest>.*)$")
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _t(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def _name(value: Any, lang: str) -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("zh") or value.get("en") or "")
    return "" if value is None else str(value)


def shift_label(shift: str | None, lang: str) -> str:
    if not shift:
        return _t(lang, "全天", "whole day")
    return shift if lang == "zh" else SHIFT_EN.get(shift, shift)


def source_text(cite: str, lang: str, agent_en: str) -> str:
    """A catalogue citation as printed: as stored in zh; in en the table's English name and
    the row named by the agent's English name (the standard prints the row in Chinese)."""
    if lang == "zh" or not _CJK.search(cite):
        return cite
    m = _TABLE.match(cite)
    if m is None:
        return cite
    rest = m["rest"]
    clause = re.search(r"cl\. \S+", rest)
    row = f"row: {agent_en}" if _CJK.search(rest) or not rest else rest
    return ", ".join(p for p in (f"{m['head']} {m['table']}",
                                 clause.group(0) if clause else "", row) if p)


def limits_text(lim: Row) -> str:
    parts = [f"{name} {limit(lim[key])}" for name, key in
             (("PC-TWA", "pc_twa"), ("PC-STEL", "pc_stel"), ("MAC", "mac"))
             if lim.get(key) is not None]
    if lim.get("pe_3x") is not None:
        parts.append(f"PE 3x {limit(lim['pe_3x'])} / 5x {limit(lim.get('pe_5x'))}")
    if lim.get("lex_8h") is not None:
        parts.append(f"LEX,8h {limit(lim['lex_8h'])} dB(A)")
    if lim.get("investigation_msv_per_year") is not None:
        parts.append(f"Hp(10) {limit(lim['investigation_msv_per_year'])} mSv/a")
    return "; ".join(parts) or "-"


def sources_text(row: Row, lang: str) -> str:
    lim = row.get("limits") or {}
    agent_en = _name(row.get("agent"), "en")
    cites = [source_text(c, lang, agent_en) for c in lim.get("sources") or
             row.get("sources") or []]
    extra = []
    if lim.get("edition"):
        extra.append(_t(lang, f"版本 {lim['edition']}", f"edition {lim['edition']}"))
    if lim.get("confidence"):
        extra.append(_t(lang, f"置信 {lim['confidence']}", f"confidence {lim['confidence']}"))
    return "; ".join(cites) + (f" ({', '.join(extra)})" if extra else "")


def verdict_text(row: Row, lang: str) -> str:
    word = (str(row.get("verdict", "")) if lang == "zh"
            else str(row.get("verdict_en") or VERDICT_EN.get(str(row.get("verdict")), "")))
    failed = [_failed(f, lang) for f in row.get("failed") or []]
    return word + (f" ({', '.join(failed)})" if failed else "")


def _failed(code: str, lang: str) -> str:
    metric, _, shift = code.partition(":")
    return f"{metric}:{shift_label(shift, lang)}" if shift else metric


def _other(row: Row, lang: str) -> str:
    parts = []
    if row.get("mac_exceedances") is not None:
        parts.append(_t(lang, f"超MAC {row['mac_exceedances']} 次",
                        f"MAC exc. {row['mac_exceedances']}"))
    if row.get("peak_excursions") is not None:
        parts.append(_t(lang, f"峰接触 {row['peak_excursions']} 次",
                        f"PE {row['peak_excursions']}"))
    if row.get("lex_8h") is not None:
        parts.append(f"LEX,8h {fmt(row['lex_8h'], 'dB')} dB(A)")
    if row.get("noise_peak_db") is not None:
        parts.append(f"LCpeak {fmt(row['noise_peak_db'], 'dB')} dB(C)")
    if row.get("noise_dose_pct") is not None:
        parts.append(_t(lang, f"剂量 {fmt(row['noise_dose_pct'])}%",
                        f"dose {fmt(row['noise_dose_pct'])} %"))
    if row.get("dose_usv") is not None:
        parts.append(f"Hp(10) {fmt(row['dose_usv'])} uSv")
    return "; ".join(parts) or "-"


def _range(low: Any, high: Any, unit: str) -> str:
    if low is None and high is None:
        return "-"
    return f"{fmt(low, unit)} - {fmt(high, unit)}"


def _instrument(row: Row, lang: str) -> str:
    out = []
    for i in row.get("instruments") or []:
        ok = i.get("calibration_current")
        state = (_t(lang, "有效", "current") if ok else _t(lang, "过期", "OVERDUE"))
        # a date from an instrument event says so; the site file's date stays unmarked
        source = (_t(lang, " [仪器事件]", " [instrument event]")
                  if i.get("calibration_source") == "event" else "")
        out.append(f"{i.get('model') or '-'} {i.get('serial') or ''}, "
                   f"{_t(lang, '校准', 'calibrated')} {i.get('calibrated') or '-'}{source} "
                   f"({state})")
    return "; ".join(out) or "-"


def _clock(at: Any, tz: ZoneInfo) -> str:
    if isinstance(at, int | float):
        return dt.datetime.fromtimestamp(float(at), tz).strftime("%H:%M:%S")
    text = str(at or "")
    return text[11:19] if len(text) >= 19 else text


@dataclass
class Sheet:
    lang: str
    title: str
    meta: list[str]
    provisional: bool
    sections: list[Section]
    signature: list[tuple[str, str, str]]  # (label, value, html id)
    footer: str


RESULT_WEIGHTS = (48, 60, 70, 40, 30, 74, 104, 44, 52, 36, 36, 60, 44, 84)


def _results(records: Sequence[Row], lang: str, units: dict[str, str]) -> Section:
    head = [_t(lang, *p) for p in (
        ("车间/工段", "area"), ("监测点", "point"), ("危害因素", "hazard"), ("班次", "shift"),
        ("单位", "unit"), ("限值 (PC-TWA/PC-STEL/MAC)", "limits (PC-TWA/PC-STEL/MAC)"),
        ("限值依据 (标准 表 行)", "limit source (standard, table, row)"),
        ("读数/覆盖率", "readings / coverage"), ("范围 (最小-最大)", "range (min-max)"),
        ("C_TWA", "C_TWA"), ("STEL (15 min)", "STEL (15 min)"), ("其他", "other"),
        ("结论", "verdict"), ("仪器 (型号 编号 校准)", "instrument (model serial calibration)"))]
    sec = Section("results", _t(lang, "一、监测结果与限值", "1. Results and the limits applied"),
                  head, RESULT_WEIGHTS, empty=_t(lang, "无记录", "no records"))
    order = sorted(records, key=lambda r: (str(r.get("area", "")), str(r.get("point", "")),
                                           r.get("shift") is not None, str(r.get("start", ""))))
    for r in order:
        unit = str(r.get("unit") or "")
        units[str(r.get("point"))] = unit
        cov = r.get("coverage_pct")
        sec.rows.append([
            _name(r.get("area_name"), lang) or str(r.get("area", "")),
            _name(r.get("point_name"), lang) or str(r.get("point", "")),
            _name(r.get("agent"), lang), shift_label(r.get("shift"), lang), unit,
            limits_text(r.get("limits") or {}), sources_text(r, lang),
            f"{r.get('readings', 0)} / {fmt(cov, '%') if cov is not None else '-'}%",
            _range(r.get("min"), r.get("max"), unit),
            fmt(r.get("c_twa"), unit), fmt(r.get("stel_max"), unit), _other(r, lang),
            verdict_text(r, lang), _instrument(r, lang)])
    return sec


def _exceedances(events: Sequence[Row], lang: str, units: dict[str, str]) -> Section:
    head = [_t(lang, *p) for p in (
        ("编号", "id"), ("类型", "type"), ("监测点", "point"), ("危害因素", "hazard"),
        ("开始-结束", "start - end"), ("峰值", "peak"), ("限值", "limit"),
        ("超标倍数", "ratio"), ("整改状态", "rectification"))]
    sec = Section("exceedances", _t(lang, "二、超标事件及整改状态",
                                    "2. Exceedances and their rectification"),
                  head, (150, 70, 80, 90, 90, 45, 45, 45, 80),
                  empty=_t(lang, "当日无超标事件", "no exceedance this day"))
    for e in sorted(events, key=lambda e: (str(e.get("start_local")), str(e.get("id")))):
        unit = units.get(str(e.get("point")), "")
        kind = EVENT_TYPES.get(str(e.get("type")))
        status = str(e.get("status") or "open")
        state = RECTIFICATION.get(status)
        sec.rows.append([
            str(e.get("id", "")), _t(lang, *kind) if kind else str(e.get("type", "")),
            _name(e.get("point_name"), lang) or str(e.get("point", "")),
            _name(e.get("agent"), lang),
            f"{_clock(e.get('start_local'), ZoneInfo('UTC'))} - "
            f"{_clock(e.get('end_local'), ZoneInfo('UTC'))}",
            f"{fmt(e.get('peak'), unit)} {unit}".strip(), f"{limit(e.get('limit'))} {unit}".strip(),
            fmt(e.get("ratio")), _t(lang, *state) if state else status])
    return sec


def _alarms(records: Sequence[Row], lang: str, tz: ZoneInfo) -> Section:
    head = [_t(lang, *p) for p in (("时间", "time"), ("监测点", "point"), ("类别", "kind"),
                                   ("事件", "event"), ("级别/机组", "level / unit"),
                                   ("状态", "state"), ("操作人/优先级", "user / priority"))]
    sec = Section("alarms", _t(lang, "三、报警与联动动作", "3. Alarms and interlock actions"),
                  head, (60, 110, 50, 120, 90, 80, 90),
                  empty=_t(lang, "当日无报警或联动动作", "no alarm or interlock action this day"))
    items = []
    for r in records:
        if r.get("shift") is not None:
            continue  # a shift's alarms are the day's, already listed
        for a in r.get("alarms") or []:
            items.append((float(a.get("time", 0)), r, a))
    for at, r, a in sorted(items, key=lambda i: i[0]):
        kind = ALARM_KINDS.get(str(a.get("kind")))
        level = a.get("level") if a.get("kind") == "alarm" else a.get("unit")
        who = a.get("user") if a.get("kind") == "alarm" else a.get("priority")
        sec.rows.append([_clock(at, tz), _name(r.get("point_name"), lang),
                         _t(lang, *kind) if kind else str(a.get("kind", "")),
                         str(a.get("event") or ""), "" if level is None else str(level),
                         str(a.get("state") or ""), "" if who is None else str(who)])
    return sec


def _jobs(jobs: Sequence[Row], lang: str) -> Section:
    head = [_t(lang, *p) for p in (("岗位", "job"), ("危害因素", "hazard"), ("指标", "metric"),
                                   ("结果", "result"), ("限值", "limit"),
                                   ("时间分配 (点 小时)", "profile (point hours)"),
                                   ("限值依据", "limit source"), ("结论", "verdict"))]
    sec = Section("jobs", _t(lang, "四、岗位记录", "4. Job records"), head,
                  (70, 90, 50, 60, 60, 130, 150, 60),
                  empty=_t(lang, "未配置岗位 (records.jobs)", "no job configured (records.jobs)"))
    for j in sorted(jobs, key=lambda j: str(j.get("key", ""))):
        unit = str(j.get("unit") or "")
        metric = str(j.get("metric") or "")
        value = j.get(metric) if metric in ("c_twa", "lex_8h") else j.get(
            "max" if metric == "mac" else "dose_usv")
        profile = ", ".join(f"{p.get('point')} {p.get('hours')} h" for p in j.get("profile") or [])
        sec.rows.append([
            (str(j.get("job_name") or j.get("job") or "") if lang == "zh"
             else _name(j.get("point_name"), "en") or str(j.get("job") or "")),
            _name(j.get("agent"), lang),
            str(j.get("limit_name") or metric),
            "-" if value is None else f"{fmt(value, unit)} {unit}".strip(),
            f"{limit(j.get('limit'))} {unit}".strip(), profile or "-", sources_text(j, lang),
            verdict_text(j, lang)])
    return sec


def build(site: Row, day: str, records: Sequence[Row], events: Sequence[Row],
          closure: Row | None, lang: str, *, provisional: bool,
          ledger_head: tuple[int, str] | None, head_text: str, timezone: str | None = None
          ) -> Sheet:
    """The sheet: ``records`` are the day's daily and job records (``kind``)."""
    points = [r for r in records if r.get("kind", "daily-record") == "daily-record"]
    jobs = [r for r in records if r.get("kind") == "job-record"]
    tz_name = timezone or next((str(r["timezone"]) for r in points if r.get("timezone")),
                               "Asia/Shanghai")
    tz = ZoneInfo(tz_name)
    mark = _t(lang, "（临时）", " (provisional)") if provisional else ""
    title = (f"{site['zh']} 职业病危害因素日常监测记录 {day}{mark}" if lang == "zh"
             else f"{site['en']}: daily monitoring record {day}{mark}")
    units: dict[str, str] = {}
    sections = [_results(points, lang, units), _exceedances(events, lang, units),
                _alarms(points, lang, tz), _jobs(jobs, lang)]
    n_points = len({r.get("point") for r in points})
    state = (_t(lang, "未日结", "not closed") if provisional
             else _t(lang, "已日结", "closed"))
    meta = [_t(lang, f"日期 {day} (时区 {tz_name}); 监测点 {n_points} 个; 记录状态: {state}",
               f"Day {day} (time zone {tz_name}); {n_points} points; record state: {state}")]
    signature: list[tuple[str, str, str]] = []
    if provisional:
        signature.append((_t(lang, "签署", "Signed by"), PROVISIONAL[lang], "signed-by"))
    else:
        signed = _t(lang, "未签署", "not signed")
        if closure and closure.get("signed_by"):
            at = closure.get("signed_at_local") or closure.get("signed_at")
            if isinstance(at, int | float):
                at = dt.datetime.fromtimestamp(float(at), tz).strftime("%Y-%m-%d %H:%M")
            signed = f"{closure['signed_by']} ({at})"
        signature.append((_t(lang, "签署 (安全负责人)", "Signed by (safety officer)"), signed,
                          "signed-by"))
    if closure:
        closed_at = closure.get("closed_at")
        if isinstance(closed_at, int | float):
            signature.append((_t(lang, "日结时间", "Closed at"), dt.datetime.fromtimestamp(
                float(closed_at), tz).strftime("%Y-%m-%d %H:%M"), "closed-at"))
        signature.append((_t(lang, "日结哈希", "Day-close hash"),
                          f"seq {closure.get('close_seq', '')} {closure.get('close_sha256', '')}",
                          "close-hash"))
    if ledger_head is not None:
        signature.append(("", head_text, "ledger-head"))
    signature.append((_t(lang, "审核人签字/日期", "Reviewed by / date"), "", "reviewed-by"))
    footer = f"occmon {site.get('en', '')} {day}" + (f" {WATERMARK[lang]}" if provisional else "")
    return Sheet(lang, title, meta, provisional, sections, signature, footer)


# ----- HTML -----

_CSS = """@page{{size:A4 landscape;margin:10mm}}
*{{box-sizing:border-box}}
body{{font-family:{fonts};margin:0 auto;padding:8px;max-width:277mm;font-size:9px;color:#000}}
h1{{font-size:15px;margin:2px 0 4px}} h2{{font-size:11px;margin:10px 0 3px}}
table{{border-collapse:collapse;width:100%;table-layout:fixed}}
td,th{{border:1px solid #444;padding:1px 3px;font-size:8px;vertical-align:top;
overflow-wrap:anywhere;word-break:break-word}}
th{{background:#eee}} thead{{display:table-header-group}} tr{{page-break-inside:avoid}}
.provisional{{border:2px solid #c00;padding:4px;color:#c00}}
.watermark{{position:fixed;top:40%;left:0;width:100%;text-align:center;font-size:96px;
color:rgba(200,0,0,.13);transform:rotate(-28deg);pointer-events:none;z-index:9}}
.sign p{{margin:2px 0}} .rule{{color:#444;font-size:8px}} code{{font-size:8px}}"""


def to_html(sheet: Sheet) -> str:
    esc = html.escape
    lang = sheet.lang
    parts = [f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
             f'<meta charset="utf-8"><title>{esc(sheet.title)}</title>'
             f"<style>{_CSS.format(fonts=HTML_FONTS)}</style></head><body>"]
    if sheet.provisional:
        parts.append(f'<div class="watermark" aria-hidden="true">{WATERMARK[lang]}</div>')
    parts.append(f"<h1>{esc(sheet.title)}</h1>")
    if sheet.provisional:
        parts.append(f'<p class="provisional"><strong>{esc(PROVISIONAL[lang])}</strong></p>')
    parts += [f"<p>{esc(m)}</p>" for m in sheet.meta]
    for sec in sheet.sections:
        total = sum(sec.weights)
        cols = "".join(f'<col style="width:{100 * w / total:.2f}%">' for w in sec.weights)
        parts.append(f'<h2>{esc(sec.title)}</h2><table id="{sec.id}"><colgroup>{cols}'
                     "</colgroup><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in sec.head)
                     + "</tr></thead><tbody>")
        if not sec.rows:
            parts.append(f'<tr><td colspan="{len(sec.head)}">{esc(sec.empty)}</td></tr>')
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in sec.rows]
        parts.append("</tbody></table>")
    parts.append(f'<h2>{esc(_t(lang, "五、签署与账本", "5. Signature and ledger"))}</h2>'
                 '<div class="sign">')
    for label, value, pid in sheet.signature:
        if pid == "ledger-head":
            parts.append(f'<p id="ledger-head">{esc(value)}</p>')
        else:
            shown = esc(value) if value else "_" * 24
            parts.append(f'<p id="{pid}">{esc(label)}: {shown}</p>')
    parts.append(f'</div><p class="rule">{esc(ROUNDING_RULE[lang])}</p></body></html>')
    return "".join(parts)


# ----- PDF -----

def pdf_story(sheet: Sheet) -> tuple[Any, list[Any], list[Any], bool]:
    """(doc template, story, its tables, font embedded?) of the sheet: what ``to_pdf`` builds;
    every table is laid out here and refused (``LayoutError``) if wider than the frame."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    font, embedded = pdf_font()
    title_style = ParagraphStyle("title", fontName=font, fontSize=14, leading=18)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=10, leading=13, spaceBefore=6,
                        spaceAfter=3)
    body = ParagraphStyle("body", fontName=font, fontSize=8, leading=10, wordWrap="CJK")
    cell = ParagraphStyle("cell", fontName=font, fontSize=6.5, leading=8, wordWrap="CJK")
    warn = ParagraphStyle("warn", parent=body, textColor=colors.red, fontSize=9, leading=12)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm,
                            rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=14 * mm,
                            title=sheet.title, author="occmon", initialFontName=font,
                            initialFontSize=8)
    esc = html.escape
    story: list[Any] = [Paragraph(esc(sheet.title), title_style)]
    if sheet.provisional:
        story.append(Paragraph(esc(PROVISIONAL[sheet.lang]), warn))
    story += [Paragraph(esc(m), body) for m in sheet.meta]
    tables = []
    for sec in sheet.sections:
        story.append(Paragraph(esc(sec.title), h2))
        table = pdf_table(sec.head, sec.rows, sec.weights, empty=sec.empty,
                          frame=(doc.width, doc.height), font=font, cell=cell, tight=True)
        tables.append(table)
        story.append(table)
    story.append(Paragraph(esc(_t(sheet.lang, "五、签署与账本", "5. Signature and ledger")), h2))
    for label, value, _pid in sheet.signature:
        text = value if not label else f"{label}: {value or '_' * 24}"
        story.append(Paragraph(esc(text), body))
    story += [Spacer(1, 6), Paragraph(esc(ROUNDING_RULE[sheet.lang]), cell)]
    return doc, story, tables, embedded


def to_pdf(sheet: Sheet) -> bytes:
    doc, story, _tables, _embedded = pdf_story(sheet)
    font = story[0].style.fontName
    deco = page_decorations(font, sheet.footer,
                            WATERMARK[sheet.lang] if sheet.provisional else None)
    doc.build(story, onFirstPage=deco, onLaterPages=deco)
    out: bytes = doc.filename.getvalue()
    return out
