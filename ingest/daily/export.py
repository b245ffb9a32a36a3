"""Records for the compliance file: CSV (zh or en headers), and the printable day report as
HTML and PDF (rendered by ``ingest.daily.day_report``: A4 landscape, CJK font embedded).

Pure rendering: dicts in, text or bytes out. Used by the API and ``occmon records export``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from ingest.daily import day_report

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
        f"{' instrument event' if i.get('calibration_source') == 'event' else ''}"
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


def head_text(head: tuple[int, str] | None, lang: str) -> str:
    """The ledger's head as printed (seq and the first 12 hex of its hash): what a reader
    compares with an anchor kept elsewhere (docs/records.md, "Anchors")."""
    if head is None:
        return ""
    label = "账本头" if lang == "zh" else "Ledger head"
    return f"{label}: seq {head[0]} {head[1][:12]}"


def _sheet(site: Row, day: str, records: Sequence[Row], events: Sequence[Row],
           closure: Row | None, lang: str, provisional: bool,
           ledger_head: tuple[int, str] | None) -> day_report.Sheet:
    return day_report.build(site, day, records, events, closure, lang, provisional=provisional,
                            ledger_head=ledger_head, head_text=head_text(ledger_head, lang))


def report_html(site: Row, day: str, records: Sequence[Row], events: Sequence[Row],
                closure: Row | None, lang: str = "zh", *, provisional: bool = False,
                ledger_head: tuple[int, str] | None = None) -> str:
    """The printable day report (``ingest.daily.day_report``). ``records``: the day's daily
    and job records; ``provisional``: an open day computed on demand, titled, bannered and
    watermarked 临时/provisional; ``ledger_head``: the ledger's (seq, hash) when printed."""
    return day_report.to_html(_sheet(site, day, records, events, closure, lang, provisional,
                                     ledger_head))


def report_pdf(site: Row, day: str, records: Sequence[Row], events: Sequence[Row],
               closure: Row | None, lang: str = "zh", *, provisional: bool = False,
               ledger_head: tuple[int, str] | None = None) -> bytes:
    """The same sheet as ``report_html`` as an A4 landscape PDF with its CJK font embedded."""
    return day_report.to_pdf(_sheet(site, day, records, events, closure, lang, provisional,
                                    ledger_head))
