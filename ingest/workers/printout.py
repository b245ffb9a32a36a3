"""The printed exposure history (职业史和职业病危害接触史) for a diagnosing institution, and
the yearly notice of results for the worker (告知), as HTML and as A4 landscape PDF.

The machinery is the daily record's (``ingest.daily.printing``): the embedded CJK font, the
rounding rule, column widths that fit the frame (``check_fits`` refuses a table that would
run off the paper), the page footer. Labels are bilingual (中文 English) on one sheet: the
worker and the institution may read either. No national ID (or its hash) is ever printed.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
SOURCE = {"personal": "个体 personal", "job": "岗位 job-based"}
VERDICT = {"pass": "合格 pass", "fail": "超标 fail", "insufficient": "数据不足 insufficient"}
CATEGORY = {"A": "甲 A", "B": "乙 B", "none": "非放射 none"}
SEX = {"M": "男 M", "F": "女 F"}
BASIS = {"site-shifts": "按本单位班次 site shifts", "calendar-day": "按日历日 calendar day"}


@dataclass
class Table(Section):
    """A section of a worker's printout; bilingual "none" when it has no row."""

    empty: str = "无 none"


@dataclass
class Sheet:
    title: str
    meta: list[str]
    tables: list[Table]
    notes: list[str]
    signature: list[str]
    footer: str


def worker_lines(site: Row, worker: Row) -> list[str]:
    return [
        f"用人单位 Employer: {site.get('zh', '')} {site.get('en', '')}",
        f"姓名 Name: {worker['name']}    工号 Employee no.: {worker['employee']}    "
        f"性别 Sex: {SEX.get(worker['sex'], worker['sex'])}    出生日期 Date of birth: "
        f"{worker['birth_date']}",
        f"工种 Job: {worker['job']}    放射工作人员类别 Radiation category: "
        f"{CATEGORY.get(worker['category'], worker['category'])}    入职 Joined: "
        f"{worker.get('joined') or '-'}    离职 Left: {worker.get('left_on') or '-'}",
    ]


def _level(e: Row) -> str:
    unit = str(e.get("unit") or "")
    parts = []
    if e.get("sum") is not None:
        parts.append(f"合计 sum {fmt(e['sum'], unit)}")
    if e.get("year_sum") is not None:
        parts.append(f"{e['year']}年 year {fmt(e['year_sum'], unit)}")
    if e.get("five_year_sum") is not None:
        parts.append(f"5年 {e['five_years']} {fmt(e['five_year_sum'], unit)}"
                     f" (≤ {limit(e.get('five_year_limit'))})")
    if e.get("pregnancy_limit") is not None:
        parts.append(f"孕期 pregnancy ≤ {limit(e['pregnancy_limit'])}")
    if e.get("max") is not None:
        parts.append(f"最高 max {fmt(e['max'], unit)}"
                     + (" /周期 per period" if e.get("quantity") else ""))
    if e.get("mean") is not None:
        parts.append(f"平均 mean {fmt(e['mean'], unit)}")
    if e.get("lex_w_max") is not None:
        parts.append(f"LEX,W max {fmt(e['lex_w_max'], unit)}")
    if e.get("lcpeak_max") is not None:
        parts.append(f"LCpeak max {fmt(e['lcpeak_max'], 'dB')} dB(C)")
    return "; ".join(parts) or "-"


def _entry_rows(entries: Sequence[Row]) -> list[list[str]]:
    return [[f"{e['from']} ~ {e['to']}", str(e["job"]), f"{e['agent_zh']} {e['agent_en']}"
             + (f" ({e['fraction']})" if e.get("fraction") else ""),
             str(SOURCE.get(e["source"], e["source"])), str(e.get("metric", "")),
             str(e.get("unit", "")), str(e.get("count", "")), _level(e),
             f"{limit(e.get('limit'))}", str(e.get("over", "")),
             VERDICT.get(e.get("verdict", ""), str(e.get("verdict", ""))),
             str(e.get("basis") or "") + (f" [{', '.join(e['instruments'])}]"
                                          if e.get("instruments") else "")]
            for e in entries]


ENTRY_HEAD = ["期间 Period", "工种 Job", "危害因素 Hazard", "来源 Source", "指标 Metric",
              "单位 Unit", "班次/天 Shifts/days", "接触水平 Exposure level", "限值 Limit",
              "超限 Over", "判定 Verdict", "依据 Basis (profile / instrument)"]
ENTRY_WEIGHTS = (62, 36, 58, 50, 40, 36, 36, 100, 36, 32, 42, 84)
NOTES = [
    "个体: 本人佩戴的个体噪声剂量计/个人剂量计的测量结果; 岗位: 所在岗位时间分配 (测点 x 小时) "
    "按测点测量结果计算, 代表岗位而非个人。 Personal: the worker's own worn dosimeter; job-based: "
    "the job's time-activity profile over the measured points; it describes the job, not "
    "the person.",
    "噪声 Noise (GBZ 2.2-2007 第11章 cl. 11): LEX,8h = 10 lg(E / 8 h), E = ∫10^(0.1 LA) dt, "
    "限值 85 dB(A); 剂量 dose % = 100 x 10^(0.1 (LEX,8h - 85)) (3 dB 交换率 exchange rate); "
    "非每周5天工作 weeks not of 5 days: LEX,W = 10 lg((1/5) Σ 10^(0.1 LEX,8h)) <= 85 dB(A); "
    "脉冲噪声 impulse noise LCpeak: n<=100 140, n<=1000 130, n<=10000 120 dB(C).",
    "化学因素/粉尘 Chemicals and dusts (GBZ 2.1-2019, GBZ 159): C_TWA = Σ C_j T_j / 8 h. "
    "电离辐射 Radiation: 个人剂量档案 the personal dose file (检测报告 lab, 名义剂量 nominal, "
    "EPD 月 months where no lab result covers them); GB 18871-2002 附录B B1.1.1.1: Hp(10) "
    "单年 50 mSv a year, 连续5年 100 mSv in 5 years, Hp(3) 150, Hp(0.07) 500 mSv/a; B1.1.1.2 "
    "16-18岁 under 18: 6 / 50 / 150; 孕期 declared pregnancy: 1 mSv; 低于探测限 below MDL: "
    "MDL x 0.5 (GBZ 128-2019).",
]
RADIATION_HEAD = ["年份 Year", "Hp(10) mSv", "Hp(3) mSv", "Hp(0.07) mSv",
                  "未监测天数 Unmonitored days", "来源 Sources", "限值 Limits (mSv)",
                  "5年合计 5-year sum", "判定 Verdict"]
RADIATION_WEIGHTS = (30, 40, 36, 40, 40, 150, 110, 70, 42)


def _limits_text(y: Row) -> str:
    lim = y["limits"]
    parts = [f"Hp(10) {limit(lim['hp10_msv'])}, Hp(3) {limit(lim['hp3_msv'])}, "
             f"Hp(0.07) {limit(lim['hp007_msv'])} ({lim['source']})"]
    if lim.get("under_18"):
        m = lim["under_18"]
        parts.append(f"18岁前 before 18: {limit(m['hp10_msv'])} / {limit(m['hp3_msv'])} / "
                     f"{limit(m['hp007_msv'])} ({m['source']})")
    for c in y.get("pregnancies") or []:
        dose = (c.get("dose") or {}).get("hp10_msv")
        parts.append(f"孕期 pregnancy {c['declared']}~{c['ended'] or ''}: "
                     f"{fmt(dose, 'mSv')} / {limit(c['limit_msv'])}")
    return "; ".join(parts)


def radiation_rows(years: Sequence[Row]) -> list[list[str]]:
    """The personal dose file's years as printed (``dose_history.year_rows``)."""
    out = []
    for y in years:
        five = y.get("five_years")
        out.append([str(y["year"]), fmt(y["hp10_msv"], "mSv"), fmt(y["hp3_msv"], "mSv"),
                    fmt(y["hp007_msv"], "mSv"), str(y["unmonitored_days"]),
                    "; ".join(f"{s['start']}~{s['end']} {fmt(s['hp10_msv'], 'mSv')}: "
                              f"{s['text']}" for s in y["sources"]),
                    _limits_text(y),
                    "-" if not five else f"{five['first_year']}-{five['last_year']}: "
                    f"{fmt(five['hp10_msv'], 'mSv')} / {limit(five['limit_msv'])}",
                    VERDICT.get(str(y["verdict"]), str(y["verdict"]))])
    return out


def _profile(period: Row) -> str:
    if not period.get("job_id"):
        return "无 none (此工种未配置岗位 no job in records.jobs)"
    steps = "; ".join(f"{s['point']} {s['hours']:g} h" for s in period.get("profile") or [])
    return f"{period['job_id']}: {steps}"


def history_sheet(site: Row, worker: Row, hist: Row) -> Sheet:
    periods = Table("periods", "一、职业史 Occupational history",
                    ["起始 From", "截止 To", "工种 Job", "岗位时间分配 Job profile (site file)"],
                    (60, 60, 80, 200),
                    [[p["from"], p["to"], str(p["job"]), _profile(p)] for p in hist["periods"]])
    entries = Table("entries", "二、职业病危害接触史 Exposure history", ENTRY_HEAD,
                    ENTRY_WEIGHTS, _entry_rows(hist["entries"]))
    radiation = Table("radiation", "三、个人剂量 (按年) Personal dose by year", RADIATION_HEAD,
                      RADIATION_WEIGHTS, radiation_rows(hist.get("radiation") or []),
                      empty="无个人剂量档案 no personal dose on file")
    meta = [*worker_lines(site, worker),
            f"期间 Window: {hist['from']} ~ {hist['to']}    噪声班次 Noise shifts: "
            f"{BASIS.get(hist['basis'], hist['basis'])}"]
    return Sheet(f"职业史和职业病危害接触史 Occupational and exposure history: {worker['name']}",
                 meta, [periods, entries, radiation], NOTES,
                 ["用人单位 (盖章) Employer (seal): ", "填表人/日期 Prepared by / date: "],
                 f"occmon {site.get('en', '')} {worker['employee']} exposure history")


def notice_sheet(site: Row, worker: Row, year: int, hist: Row) -> Sheet:
    results = Table("results", f"{year} 年监测结果 Monitoring results {year}", ENTRY_HEAD,
                    ENTRY_WEIGHTS, _entry_rows(hist["entries"]),
                    empty="本年无监测结果 no result this year")
    radiation = Table("radiation", f"{year} 年个人剂量 Personal dose {year}", RADIATION_HEAD,
                      RADIATION_WEIGHTS, radiation_rows(hist.get("radiation") or []),
                      empty="本年无个人剂量结果 no personal dose this year")
    meta = [*worker_lines(site, worker),
            f"告知年度 Year: {year}    噪声班次 Noise shifts: "
            f"{BASIS.get(hist['basis'], hist['basis'])}",
            "依据《中华人民共和国职业病防治法》, 用人单位将您所在岗位的职业病危害因素监测"
            "结果及您本人的个体监测结果如实告知如下。 "
            "Under the Law on the Prevention and Control of Occupational Diseases, your "
            "employer notifies you of the monitoring results of "
            "your job and your personal monitoring results below."]
    return Sheet(f"职业病危害因素监测结果告知书 Notice of monitoring results {year}: "
                 f"{worker['name']}", meta, [results, radiation], NOTES,
                 ["劳动者签收/日期 Received by the worker / date: ",
                  "用人单位 (盖章)/日期 Employer (seal) / date: "],
                 f"occmon {site.get('en', '')} {worker['employee']} notice {year}")


_CSS = """@page{{size:A4 landscape;margin:10mm}}
*{{box-sizing:border-box}}
body{{font-family:{fonts};margin:0 auto;padding:8px;max-width:277mm;font-size:10px;color:#000}}
h1{{font-size:15px;margin:2px 0 6px}} h2{{font-size:12px;margin:10px 0 3px}}
table{{border-collapse:collapse;width:100%;table-layout:fixed}}
td,th{{border:1px solid #444;padding:1px 3px;font-size:9px;vertical-align:top;
overflow-wrap:anywhere;word-break:break-word}}
th{{background:#eee}} thead{{display:table-header-group}} tr{{page-break-inside:avoid}}
.meta p{{margin:2px 0}} .notes p,.rule{{color:#333;font-size:8px;margin:2px 0}}
.sign p{{margin:10px 0}}"""


def to_html(sheet: Sheet) -> str:
    esc = html.escape
    parts = [f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>'
             f'{esc(sheet.title)}</title><style>{_CSS.format(fonts=HTML_FONTS)}</style></head>'
             f'<body><h1>{esc(sheet.title)}</h1><div class="meta" id="meta">']
    parts += [f"<p>{esc(m)}</p>" for m in sheet.meta]
    parts.append("</div>")
    for t in sheet.tables:
        total = sum(t.weights)
        cols = "".join(f'<col style="width:{100 * w / total:.2f}%">' for w in t.weights)
        parts.append(f'<h2>{esc(t.title)}</h2><table id="{t.id}"><colgroup>{cols}</colgroup>'
                     "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in t.head)
                     + "</tr></thead><tbody>")
        if not t.rows:
            parts.append(f'<tr><td colspan="{len(t.head)}">{esc(t.empty)}</td></tr>')
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in t.rows]
        parts.append("</tbody></table>")
    parts.append('<div class="notes">' + "".join(f"<p>{esc(n)}</p>" for n in sheet.notes)
                 + f'<p class="rule">{esc(ROUNDING_RULE["zh"])} {esc(ROUNDING_RULE["en"])}</p>'
                 '</div><div class="sign" id="sign">')
    parts += [f"<p>{esc(s)}{'_' * 28}</p>" for s in sheet.signature]
    parts.append("</div></body></html>")
    return "".join(parts)


def to_pdf(sheet: Sheet) -> bytes:
    """A4 landscape, CJK font embedded (``pdf_font``); a table wider than the frame is refused."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    font, _embedded = pdf_font()
    title = ParagraphStyle("title", fontName=font, fontSize=13, leading=17, spaceAfter=4)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=10, leading=13, spaceBefore=6,
                        spaceAfter=3)
    body = ParagraphStyle("body", fontName=font, fontSize=8, leading=11, wordWrap="CJK")
    cell = ParagraphStyle("cell", fontName=font, fontSize=6.5, leading=8, wordWrap="CJK")
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm,
                            rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=14 * mm,
                            title=sheet.title, author="occmon", initialFontName=font,
                            initialFontSize=8)
    esc = html.escape
    story: list[Any] = [Paragraph(esc(sheet.title), title)]
    story += [Paragraph(esc(m), body) for m in sheet.meta]
    for t in sheet.tables:
        story.append(Paragraph(esc(t.title), h2))
        story.append(pdf_table(t.head, t.rows, t.weights, empty=t.empty,
                               frame=(doc.width, doc.height), font=font, cell=cell))
    story.append(Spacer(1, 6))
    story += [Paragraph(esc(n), cell) for n in sheet.notes]
    story.append(Paragraph(esc(f"{ROUNDING_RULE['zh']} {ROUNDING_RULE['en']}"), cell))
    story.append(Spacer(1, 10))
    story += [Paragraph(esc(s + "_" * 28), body) for s in sheet.signature]
    deco = page_decorations(font, sheet.footer, None)
    doc.build(story, onFirstPage=deco, onLaterPages=deco)
    return buf.getvalue()
