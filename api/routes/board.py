"""The notice board (职业卫生公告栏): a public page for the workplace and phones.

Latest result per point (stale values marked, never shown as live), today's verdicts, and the
open exceedances. Chinese by default, ``?lang=en`` for English; it reloads itself.
"""

from __future__ import annotations

import datetime as dt
import html
import sqlite3
import time
from collections.abc import Sequence
from importlib.resources import files
from string import Template
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

import thresholds
from api.deps import Config, Store
from api.freshness import status_text
from api.records_deps import Lang, Records, today
from api.views import point_out
from ingest.daily import query, rectify
from ingest.daily.close import compute_day
from ingest.daily.windows import zone
from occmon import ledger

router = APIRouter(tags=["notice board"])
REFRESH_S = 60
VERDICT_TTL_S = 60.0

TEXT = {
    "zh": {"title": "职业卫生公告栏", "updated": "更新于", "switch": "English",
           "latest": "各监测点最新结果", "verdicts": "今日结论", "open": "未闭环超标事件",
           "latest_head": ("监测点", "危害因素", "数值", "单位", "时间", "状态"),
           "verdict_head": ("监测点", "危害因素", "结论", "覆盖率%", "最大值"),
           "open_head": ("监测点", "类型", "开始", "峰值", "限值", "倍数", "整改状态"),
           "stale": "数据过期", "live": "实时", "none": "无"},
    "en": {"title": "Occupational health notice board", "updated": "updated",
           "switch": "中文", "latest": "Latest result per point", "verdicts": "Today's verdicts",
           "open": "Open exceedances",
           "latest_head": ("point", "agent", "value", "unit", "time", "status"),
           "verdict_head": ("point", "agent", "verdict", "coverage %", "max"),
           "open_head": ("point", "type", "start", "peak", "limit", "ratio", "status"),
           "stale": "stale", "live": "live", "none": "none"},
}
VERDICT_EN = {"合格": "pass", "超标": "fail", "数据不足": "insufficient"}


def shown(value: float) -> str:
    """A figure as the board prints it: three significant digits, one decimal from 100 up
    (116.5 dB(C), 0.775 mg/m3): a notice board is read at a glance, not to the ppb."""
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"


def _cells(values: Sequence[str], tag: str = "td") -> str:
    return "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values)


def _todays(request: Request, config: Any, store: Records, now: float) -> list[dict[str, Any]]:
    """Today's day records, computed on demand and kept for a minute."""
    day = today(config, now)
    cache = getattr(request.app.state, "board_cache", None)
    if cache and cache[0] == day and now - cache[1] < VERDICT_TTL_S:
        rows: list[dict[str, Any]] = cache[2]
        return rows
    rows = [d.content for d in compute_day(store.conn, config, day).drafts
            if d.kind == "daily-record" and d.shift == ""]
    request.app.state.board_cache = (day, now, rows)
    return rows


@router.get("/board", response_class=HTMLResponse)
def board(request: Request, config: Config, store: Store, records: Records,
          lang: Lang = "zh") -> HTMLResponse:
    """The public notice board (HTML)."""
    t = TEXT[lang]
    now = time.time()
    tz = zone(config.site.timezone)
    latest = []
    for point in config.points:
        out = point_out(config, point, store, now)
        name = point.name.zh if lang == "zh" else point.name.en
        agent = thresholds.lookup(point.agent)
        agent_name = agent.zh if lang == "zh" else agent.en
        for q in out.quantities:
            value = "-" if q.value is None else shown(q.value)
            when = (dt.datetime.fromisoformat(q.time.replace("Z", "+00:00")).astimezone(tz)
                    .strftime("%H:%M:%S") if q.time else "-")
            state = status_text(q.stale, q.age_s, lang)
            latest.append(
                f'<tr data-point="{html.escape(point.id)}" data-quantity="{q.quantity}"'
                f' class="{"stale" if q.stale else "live"}">'
                f'{_cells([name, agent_name])}<td class="value">{value}</td>'
                f'{_cells([q.unit, when, state])}</tr>')
    verdict_rows = []
    for r in _todays(request, config, records, now):
        verdict = r["verdict"] if lang == "zh" else r["verdict_en"]
        agent = r["agent"]["zh"] if lang == "zh" else r["agent"]["en"]
        name = r["point_name"]["zh"] if lang == "zh" else r["point_name"]["en"]
        cov = "-" if r.get("coverage_pct") is None else f"{r['coverage_pct']:g}"
        top = "-" if r.get("max") is None else shown(r["max"])
        verdict_rows.append(
            f'<tr data-point="{html.escape(r["point"])}">{_cells([name, agent])}'
            f'<td class="verdict {html.escape(r["verdict"])}">{html.escape(verdict)}</td>'
            f'{_cells([cov, top])}</tr>')
    open_rows = []
    for e in query.open_exceedances(records.conn):
        status = rectify.STATUS_ZH[e["status"]] if lang == "zh" else e["status"]
        open_rows.append(f'<tr data-id="{html.escape(e["id"])}">' + _cells(
            [e["point"], e["type"], e["start_local"], shown(e["peak"]), shown(e["limit"]),
             shown(e["ratio"]), status]) + "</tr>")
    empty = f'<tr><td colspan="7">{t["none"]}</td></tr>'
    page = Template(files("api").joinpath("templates/board.html").read_text("utf-8"))
    site = config.site.name.zh if lang == "zh" else config.site.name.en
    local_now = dt.datetime.fromtimestamp(now, tz)
    return HTMLResponse(page.substitute(
        html_lang="zh-CN" if lang == "zh" else "en", title=f"{site} · {t['title']}",
        updated_label=t["updated"], updated=local_now.strftime("%Y-%m-%d %H:%M:%S"),
        updated_iso=local_now.isoformat(timespec="seconds"),
        switch_href="/board?lang=en" if lang == "zh" else "/board?lang=zh",
        switch_label=t["switch"], latest_heading=t["latest"],
        latest_head=_cells(t["latest_head"], "th"), latest_rows="\n".join(latest) or empty,
        verdict_heading=t["verdicts"], today=local_now.date().isoformat(),
        verdict_head=_cells(t["verdict_head"], "th"),
        verdict_rows="\n".join(verdict_rows) or empty, open_heading=t["open"],
        open_head=_cells(t["open_head"], "th"), open_rows="\n".join(open_rows) or empty,
        refresh_s=REFRESH_S, refresh_ms=REFRESH_S * 1000,
        ledger_head=html.escape(_head(records, lang)),
    ))


def _head(records: Records, lang: str) -> str:
    """The records ledger's head, seq and short hash (docs/records.md, "Anchors")."""
    try:
        seq, sha = ledger.head(records.conn)
    except sqlite3.OperationalError:  # a store no close has written to yet
        seq, sha = 0, ledger.GENESIS
    return f"{'账本头' if lang == 'zh' else 'ledger head'} seq {seq} {sha[:12]}"
