"""The printed personal dose record (个人剂量档案, GBZ 128-2019) of one worker: every
monitoring period with its result and source, the annual sums, the 5-year sums, the
investigations with their findings, the nominal doses with who entered them and why, and the
limits of 16-18-year-olds and of a declared pregnancy where they applied.

The figures are the dose file's as read (``dose_view.dose_file``); this module only lays
them out, on the exposure history's sheet (``printout``: A4 landscape, the CJK font
embedded, bilingual labels, the rounding rule). The worker may consult and copy this record
(their own key downloads it); no national ID or its hash is printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.daily.printing import fmt, limit
from ingest.workers.dose_history import source_text
from ingest.workers.printout import VERDICT, Row, Sheet, Table, worker_lines

SOURCE = {"lab": "检测报告 lab", "nominal": "名义剂量 nominal", "EPD": "EPD"}
MSV = "mSv"


def _v(verdict: Any) -> str:
    return "-" if verdict is None else VERDICT.get(str(verdict), str(verdict))


def _reported(p: Row) -> str:
    rep = {k: v for k, v in (p.get("reported") or {}).items() if v}
    text = ", ".join(f"{k} {v}" for k, v in rep.items())
    if p.get("mdl_msv") is not None:
        text += f" (MDL {limit(p['mdl_msv'])})"
    return text or "-"


def _note(p: Row) -> str:
    notes = []
    if p.get("below_mdl"):
        notes.append("低于探测限 below MDL: " + ", ".join(p["below_mdl"]))
    if p.get("below_recording_level"):
        notes.append("低于记录水平 below recording level "
                     f"{fmt(p.get('recording_level_msv'), MSV)}")
    if p.get("investigate"):
        notes.append("调查 investigate" + (" (未结 open)" if p.get("investigation_open")
                                           else " (已记录 recorded)"))
    if not p["counted"]:
        notes.append("不计入 not counted (检测报告覆盖 a lab result covers it)")
    if p.get("corrects"):
        notes.append(f"更正 corrects #{p['corrects']}: {p.get('reason')}")
    return "; ".join(notes) or "-"


def period_rows(periods: Sequence[Row]) -> list[list[str]]:
    return [[f"{p['start']} ~ {p['end']}", str(p["days"]), str(p.get("dosimeter") or "-"),
             source_text(p), fmt(p["hp10_msv"], MSV), fmt(p["hp007_msv"], MSV),
             fmt(p["hp3_msv"], MSV), _reported(p),
             fmt(p.get("investigation_level_msv"), MSV) if p["counted"] else "-", _note(p)]
            for p in periods]


def year_rows(f: Row) -> list[list[str]]:
    lim = f["rules"]["limits"]["adult"]
    return [[str(y["year"]), fmt(y["hp10_msv"], MSV), fmt(y["hp3_msv"], MSV),
             fmt(y["hp007_msv"], MSV), str(y["unmonitored_days"]),
             "是 yes" if y["above_investigation_level"] else "否 no",
             f"{limit(lim['effective_single_year_msv'])} / {limit(lim['lens_msv'])} / "
             f"{limit(min(lim['skin_msv'], lim['extremities_msv']))}",
             ", ".join(y["broken"]) or "-", _v(y["verdict"])] for y in f["years"]]


def special_rows(f: Row) -> list[list[str]]:
    """The under-18 years and the declared pregnancies: the limits beyond the adult ones."""
    lim = f["rules"]["limits"]
    rows = [[f"18岁前 before 18, {m['year']}", f"{m.get('start')} ~ {m.get('end')}",
             fmt(m.get("hp10_msv"), MSV), fmt(m.get("hp3_msv"), MSV),
             fmt(m.get("hp007_msv"), MSV),
             f"{limit(lim['under_18']['effective_msv'])} / {limit(lim['under_18']['lens_msv'])}"
             f" / {limit(lim['under_18']['extremities_skin_msv'])} "
             f"({lim['under_18']['source']})", _v(m["verdict"])] for m in f["under_18"]]
    for c in f["pregnancies"]:
        d = c.get("dose") or {}
        rows.append([f"孕期 pregnancy #{c['id']}", f"{c['declared']} ~ {c['ended'] or ''}",
                     fmt(d.get("hp10_msv"), MSV), "-", "-",
                     f"Hp(10) {limit(c['limit_msv'])} ({lim['pregnancy']['source']})",
                     _v(c["verdict"])])
    return rows


def investigation_rows(f: Row) -> list[list[str]]:
    out = []
    for i in f["investigations"]:
        found = "; ".join(f"{u['entered']} {u['entered_by']}: {u['findings']}"
                          for u in i["follow_up"]) or "未记录 none recorded yet"
        out.append([f"#{i['period']}", f"{i['start']} ~ {i['end']}", fmt(i["hp10_msv"], MSV),
                    fmt(i["level_msv"], MSV), "未结 open" if i["open"] else "已记录 recorded",
                    found])
    return out


def nominal_rows(periods: Sequence[Row], entered: dict[int, str]) -> list[list[str]]:
    return [[f"#{p['id']}", f"{p['start']} ~ {p['end']}", str(p.get("dosimeter") or "-"),
             str(p.get("method") or "-"), fmt(p["hp10_msv"], MSV),
             f"{p.get('entered_by')} {entered.get(p['id'], '')}".strip(),
             str(p.get("reason") or "")]
            for p in periods if p["source"] == "nominal"]


def dose_record_sheet(site: Row, worker: Row, f: Row, entered: dict[int, str]) -> Sheet:
    """``f``: ``dose_view.dose_file``; ``entered``: result id -> when it was entered."""
    rules = f["rules"]
    adult = rules["limits"]["adult"]
    tables = [
        Table("periods", "一、监测结果 Monitoring periods and results",
              ["监测周期 Period", "天数 Days", "剂量计 Dosimeter", "来源 Source",
               "Hp(10) mSv", "Hp(0.07) mSv", "Hp(3) mSv", "报告值 As reported",
               "调查水平 Investigation level", "备注 Notes"],
              (62, 24, 46, 100, 34, 36, 34, 64, 40, 110), period_rows(f["periods"])),
        Table("years", "二、年剂量 Annual doses",
              ["年份 Year", "Hp(10) mSv", "Hp(3) mSv", "Hp(0.07) mSv",
               "未监测天数 Unmonitored days", "超过调查水平5 mSv Above 5 mSv",
               "限值 Limits Hp(10)/Hp(3)/Hp(0.07)", "超限 Broken", "判定 Verdict"],
              (36, 44, 44, 44, 50, 50, 80, 70, 44), year_rows(f)),
        Table("five-years", "三、连续5年剂量 5-year sums",
              ["起止年 Years", "Hp(10) mSv", "限值 Limit mSv", "判定 Verdict"],
              (80, 80, 80, 80),
              [[f"{r['first_year']}-{r['last_year']}", fmt(r["hp10_msv"], MSV),
                limit(adult["effective_5y_msv"]), _v(r["verdict"])]
               for r in f["five_years"]]),
        Table("special", "四、特殊限值 Under 18 and declared pregnancy",
              ["类别 Case", "期间 Window", "Hp(10) mSv", "Hp(3) mSv", "Hp(0.07) mSv",
               "限值 Limit mSv", "判定 Verdict"], (70, 70, 40, 40, 40, 150, 44),
              special_rows(f)),
        Table("investigations", "五、调查记录 Investigations",
              ["周期 Period", "监测周期 Dates", "Hp(10) mSv", "调查水平 Level mSv",
               "状态 Status", "调查结论 Findings (when, who, what)"],
              (36, 70, 40, 44, 44, 220), investigation_rows(f)),
        Table("nominal", "六、名义剂量 Nominal doses (lost or unreadable dosimeters)",
              ["周期 Period", "期间 Dates", "剂量计 Dosimeter", "方法 Method", "Hp(10) mSv",
               "录入 Entered by / when", "原因 Reason"], (36, 70, 50, 60, 40, 90, 160),
              nominal_rows(f["periods"], entered)),
    ]
    verdicts = f.get("verdicts") or {}
    meta = [*worker_lines(site, worker),
            f"总判定 Verdict: {_v(f['verdict'])}    年 annual: {_v(verdicts.get('annual'))}    "
            f"5年 5-year: {_v(verdicts.get('five_year'))}    18岁前 under 18: "
            f"{_v(verdicts.get('under_18'))}    孕期 pregnancy: {_v(verdicts.get('pregnancy'))}"]
    notes = [
        f"限值 Limits ({adult['source']}): Hp(10) 单年 {limit(adult['effective_single_year_msv'])}"
        f" mSv a year, 连续5年 {limit(adult['effective_5y_msv'])} mSv in 5 consecutive years; "
        f"Hp(3) {limit(adult['lens_msv'])}; Hp(0.07) {limit(adult['skin_msv'])} mSv a year.",
        f"调查水平 Investigation level: {limit(rules['limits']['investigation_msv_per_year'])}"
        " mSv a year / 每年周期数 periods a year (GBZ 128-2019); 记录水平 recording level "
        f"{limit(rules['recording_level_msv_per_year'])} mSv a year / periods a year; "
        f"低于探测限 below MDL: {rules['below_mdl']}.",
        "来源 Sources: 检测报告 the dosimetry lab's report (dose of record); 名义剂量 nominal "
        "dose for a lost dosimeter; EPD: electronic dosimeter month, counted only where no "
        "lab or nominal result covers it. 周期跨年按天数分摊 a period spanning two years is "
        "shared by days.",
        "本人有权查阅、复印本人的个人剂量档案。 The worker may consult and copy this record.",
    ]
    return Sheet(f"个人剂量档案 Personal dose record (GBZ 128-2019): {worker['name']}",
                 meta, tables, notes,
                 ["个人剂量监测负责人/日期 Dose monitoring officer / date: ",
                  "用人单位 (盖章) Employer (seal): "],
                 f"occmon {site.get('en', '')} {worker['employee']} personal dose record")
