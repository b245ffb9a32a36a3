"""The notice board (职业卫生公告栏): a public page for the workplace and phones.

What the floor must see first comes first: active alarms in red with what to do, then each
point's live value beside its limit and set-points, coloured by level (an offline or stale
sensor says 离线/offline with its age, never 实时), the accident-ventilation units (running
only on fan feedback), today's verdicts and the open exceedances (provisional while the day
is open), each point with a small day curve and its limit line. Chinese by default,
``?lang=en`` for English; it reloads itself; no external asset (plants run offline).
Personal-monitoring points are left off unless the site opts in (``api.board_personal``):
a point that measures a personal quantity (a named worker's dose) or is fed by an instrument
in the worker registry (a wearable gas detector, a noise dosimeter: ``api.personal``), with
its alarms, verdicts and exceedances. Its alarms still reach the annunciator pushes.
"""

from __future__ import annotations

import datetime as dt
import html
import sqlite3
import time
from importlib.resources import files
from string import Template
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

import thresholds
from api import curve, personal
from api.alarm_models import SUPPRESSED, AlarmOut, UnitOut, alarm_out, unit_out
from api.board_text import (
    COMPONENT,
    DRIVE,
    EXCEEDANCE,
    LEVEL,
    SETPOINT,
    TEXT,
    TODO,
    VERDICT_EN,
    age_text,
)
from api.deps import Config, Store
from api.limits import ENGINE_LEVEL
from api.models import LatestReading, PointOut
from api.records_deps import Lang, Records
from api.today import Today, todays, verdict_out
from api.views import point_out
from ingest.daily import live, rectify
from ingest.daily.windows import day_window, zone
from ingest.records import INGEST_ALARMS
from occmon import ledger
from occmon.config.schema import SiteConfig

router = APIRouter(tags=["notice board"])
REFRESH_S = 60
OPEN_ALARM = ("active-unacknowledged", "active-acknowledged", "cleared-unacknowledged",
              *SUPPRESSED)


def shown(value: float) -> str:
    """A figure as the board prints it: three significant digits, one decimal from 100 up
    (116.5 dB(C), 0.775 mg/m3): a notice board is read at a glance, not to the ppb."""
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"


def esc(text: Any) -> str:
    return html.escape(str(text))


def _local(t: float | str | None, tz: dt.tzinfo, fmt: str = "%H:%M:%S") -> str:
    if t is None:
        return "-"
    if isinstance(t, str):
        return dt.datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(tz).strftime(fmt)
    return dt.datetime.fromtimestamp(t, tz).strftime(fmt)


def _name(names: Any, lang: str) -> str:
    if names is None:
        return ""
    return str(names.zh if lang == "zh" else names.en) if hasattr(names, "zh") else str(
        names.get(lang, ""))


# -- alarms ---------------------------------------------------------------------------------
def _alarm_level(a: AlarmOut) -> str:
    """The level a card shows: the current one while active; for a latched alarm the
    highest its occurrence reached (its latest event's level is the one it cleared from,
    after falling through the lower ones)."""
    if a.state in SUPPRESSED:  # an operator silenced it: say so, give no order
        return a.state
    if a.kind == "fault":
        return "fault"
    if a.kind == "system":  # the monitoring system itself (gateway/health.py), not the air
        return "system"
    level = a.level
    if not a.active and a.reached is not None and a.reached.level:
        level = a.reached.level
    return ENGINE_LEVEL.get(level or "", "alarm")


def _todo(a: AlarmOut, lang: str) -> str:
    if a.state == "cleared-unacknowledged":  # the condition is gone: not "leave the area"
        return TODO[lang]["cleared"]
    if a.state in SUPPRESSED:
        return TODO[lang][a.state]
    if a.kind == "system":
        return TODO[lang]["system"]
    if a.source == "ventilation-unit":
        return TODO[lang]["ventilation"]
    level = _alarm_level(a)
    return TODO[lang].get(level, TODO[lang]["other"])


def alarm_section(alarms: list[AlarmOut], lang: str, tz: dt.tzinfo) -> str:
    t = TEXT[lang]
    if not alarms:
        return (f'<section id="alarms" class="alarms quiet"><h2>{t["alarms"]}</h2>'
                f'<p class="ok">{t["no_alarms"]}</p></section>')
    ranked = sorted(alarms, key=lambda a: (-_rank(_alarm_level(a)), a.state != OPEN_ALARM[0],
                                           a.time), reverse=False)
    items = []
    for a in ranked:
        level = _alarm_level(a)
        where = _name(a.point_name, lang) or f"{a.point} {t['unconfigured']}"
        if a.kind == "system":  # system:{component}:{code}: the part of occmon that says it
            where = f"{t['system_alarm']} · {COMPONENT[lang].get(a.point, a.point)}"
        if a.source == "ventilation-unit":  # {unit}:{primary|standby}:ventilation-failure
            fan = a.alarm_id.split(":")[1] if a.alarm_id.count(":") >= 2 else ""
            where += f" · {t[fan]}" if fan in ("primary", "standby") else ""
        agent = _name(a.agent_name, lang)
        area = _name(a.area_name, lang)
        state = (t["ends_itself"] if a.alarm_id.startswith(INGEST_ALARMS)  # nothing to ack
                 else t["unacked"] if a.state == "active-unacknowledged"
                 else t["latched"] if a.state == "cleared-unacknowledged"
                 else "" if a.state in SUPPRESSED  # the badge says it
                 else a.state)
        latched = " latched" if a.state == "cleared-unacknowledged" else ""
        items.append(
            f'<li class="alarm lvl-{level}{latched}" data-alarm="{esc(a.alarm_id)}" '
            f'data-level="{level}">'
            f'<div class="a-head"><span class="badge">{esc(LEVEL[lang][level])}</span> '
            f'<b>{esc(where)}</b> <span class="agent">{esc(agent)}</span></div>'
            f'<div class="a-fig">{_alarm_figure(a, lang, tz)} <span class="muted">{esc(area)} · '
            f'{_alarm_times(a, lang, tz)}{" · " + esc(state) if state else ""}</span></div>'
            f'<div class="todo">{esc(_todo(a, lang))}</div></li>')
    return (f'<section id="alarms" class="alarms"><h2>{t["alarms"]} ({len(items)})</h2>'
            f'<ul>{"".join(items)}</ul></section>')


def _alarm_figure(a: AlarmOut, lang: str, tz: dt.tzinfo) -> str:
    """What the alarm is about, truthfully whatever its latest event: the value that took
    the occurrence to its highest level and that level's set-point ("reached 12.3 mg/m3,
    alarm set-point 10"). The latest event's own value is not it: after a clear it is
    the value at clearing, below the set-point it is printed with. A system alarm has no
    value: its cause says what is wrong."""
    t = TEXT[lang]
    if a.suppressed is not None:  # whose decision it is, and when it ends
        s = a.suppressed
        who = s.by or "-"
        text = (t["shelved_by"].format(by=who, until=_local(s.until, tz)) if s.until
                else t["oos_by"].format(by=who))
        return esc(f"{text} ({s.reason})" if s.reason else text)
    if a.kind == "system":
        return esc(a.cause)
    reached = a.reached
    if reached is not None and reached.value is not None:
        figure = f'{t["reached"]} <b>{shown(reached.value)}</b> {esc(a.unit)}'
        level = ENGINE_LEVEL.get(reached.level or "")
        if reached.setpoint is not None and level is not None:
            gap = "" if lang == "zh" else " "  # 警报设定值 10; alarm set-point 10
            figure += (f' ({esc(LEVEL[lang][level])}{gap}{t["setpoint"]} '
                       f'{shown(reached.setpoint)})')
        return figure
    if a.value is None or not a.active:
        return ""
    return f"{shown(a.value)} {esc(a.unit)}"  # an active alarm whose raise is not stored


def _alarm_times(a: AlarmOut, lang: str, tz: dt.tzinfo) -> str:
    """Since when: the raise of the current occurrence (not the latest event, which may be
    an acknowledgement); and when it cleared, for a latched alarm."""
    t = TEXT[lang]
    if a.suppressed is not None:  # since the operator's decision, not a raise
        return f'{t["suppressed_since"]} {_local(a.suppressed.since, tz)}'
    text = f'{t["since"]} {_local(a.raised_at or a.time, tz)}'
    if a.cleared_at is not None:
        text += f' · {t["cleared"]} {_local(a.cleared_at, tz)}'
    return text


def _rank(level: str) -> int:
    return {"high": 5, "alarm": 4, "fault": 3, "system": 3, "pre-alarm": 2,
            **dict.fromkeys(SUPPRESSED, 0)}.get(level, 1)


# -- points ---------------------------------------------------------------------------------
def _limits_line(q: LatestReading, lang: str) -> str:
    t = TEXT[lang]
    if not q.limits:
        return ""
    parts = [f'{esc(lim.kind)} <b class="lim">{shown(lim.value)}</b> {esc(lim.unit)}'
             for lim in q.limits]
    source = q.limits[0].source
    ratio = ""
    if q.value is not None and not q.stale and q.limits[0].value > 0:
        ratio = f' · <b>{shown(q.value / q.limits[0].value)}</b> {t["times"]} {q.limits[0].kind}'
    return (f'<div class="pt-limit">{t["limit"]} {" · ".join(parts)}{ratio} '
            f'<span class="src">({esc(source)})</span></div>')


def _setpoints_line(q: LatestReading, lang: str) -> str:
    sp = q.setpoints
    if sp is None:
        return ""
    names = SETPOINT[lang]
    parts = [f"{names[f]} {shown(v)}" for f in ("low_alarm", "pre_alarm", "alarm", "high_alarm")
             if (v := getattr(sp, f)) is not None]
    return (f'<div class="pt-sp">{TEXT[lang]["setpoints"]} {" · ".join(parts)} '
            f'{esc(sp.unit)} <span class="src">({esc(sp.profile)})</span></div>')


def _status(q: LatestReading, lang: str, tz: dt.tzinfo) -> str:
    t = TEXT[lang]
    if q.level == "offline":
        return (f'<span class="status offline">{t["offline"]} · '
                f'{age_text(q.age_s, lang)}</span>')
    word = LEVEL[lang]["fault"] if q.level == "fault" else t["live"]
    return (f'<span class="status {"fault" if q.level == "fault" else "live"}">{word}</span>'
            f' <span class="when">{_local(q.time, tz)}</span>')


def point_cards(points: list[PointOut], curves: dict[tuple[str, str], str], lang: str,
                tz: dt.tzinfo) -> str:
    t = TEXT[lang]
    cards = []
    for p in points:
        agent = thresholds.lookup(p.agent)
        for q in p.quantities:
            value = "-" if q.value is None else shown(q.value)  # offline: greyed, aged
            cards.append(
                f'<article class="pt lvl-{q.level}" data-point="{esc(p.id)}" '
                f'data-quantity="{esc(q.quantity)}" data-level="{q.level}">'
                f'<div class="pt-head"><span class="name">{esc(_name(p.name, lang))}</span> '
                f'<span class="agent">{esc(agent.zh if lang == "zh" else agent.en)}</span>'
                f'<span class="badge">{esc(LEVEL[lang][q.level])}</span></div>'
                f'<div class="pt-value"><span class="value">{value}</span> '
                f'<span class="unit">{esc(q.unit)}</span> {_status(q, lang, tz)}</div>'
                f'{_limits_line(q, lang)}{_setpoints_line(q, lang)}'
                f'{curves.get((p.id, q.quantity), "")}</article>')
    body = "".join(cards) or f'<p>{t["none"]}</p>'
    return (f'<section id="points"><h2>{t["points"]}</h2><div class="cards">{body}</div>'
            f'<p class="muted small">{t["curve"]}</p></section>')


def curves_of(config: SiteConfig, records: Records, points: list[PointOut], now: float,
              lang: str) -> dict[tuple[str, str], str]:
    tz = zone(config.site.timezone)
    window = day_window(dt.datetime.fromtimestamp(now, tz).date(), tz)
    out = {}
    for p in points:
        for q in p.quantities:
            drawn = curve.day_curve(records.conn, p.id, q.quantity, window.start, window.end)
            limit = q.limits[0] if q.limits else None
            line = limit.value if limit else (q.setpoints.alarm if q.setpoints else None)
            label = f"{_name(p.name, lang)} {q.quantity}"
            text = f"{limit.kind} {shown(limit.value)} {limit.unit}" if limit else ""
            out[(p.id, q.quantity)] = curve.svg(drawn, line, label=label, limit_label=text)
    return out


# -- ventilation, verdicts, exceedances -----------------------------------------------------
def _fan(unit: UnitOut, which: str, state: str | None, lang: str,
         silent: bool = False) -> str:
    """A fan's word: the interlock's state, or "running (not started by the interlock)"
    when it runs though the interlock has it stopped ("running (already running at its
    first poll since the gateway started)" when it ran already then: the interlock may have
    started it before a restart)."""
    if which in unit.uncommanded and state == "stopped":
        state = "found_running" if which in unit.found_running else "uncommanded"
    word = esc(DRIVE[lang].get(state or "", state or "-"))
    # the state is the interlock's (its command, its judgment of the last feedback): a fan
    # whose device does not answer may be doing anything, so the board says so
    return f'{word} (<span class="silent">{TEXT[lang]["fan_silent"]}</span>)' if silent else word


def _mode(u: UnitOut, lang: str, tz: dt.tzinfo) -> str:
    """Why the unit ventilates (or may not) beyond the zone's demand: a hold and its end,
    a latch awaiting an operator's reset, a manual override and who set it."""
    t = TEXT[lang]
    by = esc(u.override_by or "-")
    if u.state == "hold" and u.hold_until:
        return t["mode_hold"].format(until=_local(u.hold_until, tz))
    if u.state == "await-reset":
        return t["mode_await_reset"]
    if u.state == "manual-on":
        return t["mode_manual_on"].format(by=by)
    if u.state == "manual-off":
        return t["mode_manual_off"].format(by=by)
    return ""


def ventilation_section(config: SiteConfig, units: list[UnitOut], lang: str,
                        silent: frozenset[str] = frozenset(),
                        tz: dt.tzinfo = dt.UTC) -> str:
    """``silent``: the devices the gateway last reported offline."""
    t = TEXT[lang]
    if not units:
        return ""
    names = {u.id: u.name for u in config.ventilation.units} if config.ventilation else {}
    devices = {u.id: (u.fan.device, u.standby.device if u.standby else None)
               for u in config.ventilation.units} if config.ventilation else {}
    items = []
    for u in units:
        if u.ventilating:
            key, cls = "vent_running", "vent-running"
        elif u.failure or (u.demanded and "failed" in (u.primary, u.standby)):
            key, cls = "vent_failed", "vent-failed"
        elif u.demanded:
            key, cls = "vent_starting", "vent-starting"
        elif u.uncommanded:
            key = ("vent_found_running" if set(u.uncommanded) <= set(u.found_running)
                   else "vent_uncommanded")
            cls = "vent-running"
        elif u.state is None:
            key, cls = "vent_unknown", "vent-unknown"
        else:
            key, cls = "vent_idle", "vent-idle"
        name = names.get(u.unit)
        title = _name(name, lang) if name else u.unit
        primary, standby = devices.get(u.unit, (None, None))
        fans = f'{t["primary"]} {_fan(u, "primary", u.primary, lang, primary in silent)}'
        if u.standby is not None:
            fans += (f' · {t["standby"]} '
                     f'{_fan(u, "standby", u.standby, lang, standby in silent)}')
        mode = _mode(u, lang, tz)
        why = f' <span class="vmode">· {mode}</span>' if mode else ""
        items.append(f'<li class="unit {cls}" data-unit="{esc(u.unit)}"><b>{esc(title)}</b> '
                     f'<span class="vstate">{t[key]}</span>{why} '
                     f'<span class="muted">{fans}</span></li>')
    return (f'<section id="ventilation"><h2>{t["ventilation"]}</h2>'
            f'<ul class="units">{"".join(items)}</ul></section>')


def verdict_section(today: Today, shown_points: set[str], lang: str) -> str:
    t = TEXT[lang]
    items = []
    for point, r in sorted(today.records.items()):
        if point not in shown_points:
            continue
        v = verdict_out(r, today.provisional)
        name = r["point_name"][lang]
        agent = r["agent"][lang]
        cov = "-" if v.coverage_pct is None else f"{v.coverage_pct:g}%"
        top = "-" if v.max is None else f"{shown(v.max)} {esc(r.get('unit', ''))}"
        mark = f' <span class="prov">{t["provisional"]}</span>' if v.provisional else ""
        word = v.verdict if lang == "zh" else VERDICT_EN.get(v.verdict, v.verdict_en)
        items.append(f'<li data-point="{esc(point)}"><b>{esc(name)}</b> '
                     f'<span class="agent">{esc(agent)}</span> '
                     f'<span class="verdict {esc(v.verdict)} {esc(v.verdict_en)}">'
                     f'{esc(word)}</span>{mark} <span class="muted">{t["coverage"]} {cov} · '
                     f'{t["max"]} {top}</span></li>')
    body = "".join(items) or f"<li>{t['none']}</li>"
    return (f'<section id="verdicts"><h2>{t["verdicts"]} {today.day.isoformat()}</h2>'
            f'<ul class="rows">{body}</ul></section>')


def open_section(rows: list[dict[str, Any]], shown_points: set[str],
                 names: dict[str, Any], lang: str) -> str:
    """``rows``: ``ingest.daily.live.open_exceedances``, the list ``/api/v1/exceedances``
    reads too, so the board and the API never disagree."""
    t = TEXT[lang]
    items = []
    for e in rows:
        provisional = bool(e.get("provisional"))
        if e["point"] not in shown_points:
            continue
        status = (rectify.STATUS_ZH.get(e.get("status", "open"), e.get("status", "open"))
                  if lang == "zh" else e.get("status", "open"))
        mark = f' <span class="prov">{t["provisional"]}</span>' if provisional else ""
        start = str(e.get("start_local", ""))[:16].replace("T", " ")
        name = _name(names.get(e["point"]), lang) or e["point"]
        kind = EXCEEDANCE[lang].get(e["type"], e["type"])
        items.append(
            f'<li data-id="{esc(e["id"])}" data-point="{esc(e["point"])}"><b>{esc(name)}</b> '
            f'<span class="etype">{esc(kind)}</span>{mark} <span class="muted">{esc(start)}'
            f'</span> {t["peak"]} <b>{shown(e["peak"])}</b> / {t["limit"]} {shown(e["limit"])} '
            f'({shown(e["ratio"])} {t["times"]}) <span class="estatus">{esc(status)}</span></li>')
    body = "".join(items) or f"<li>{t['none']}</li>"
    return (f'<section id="open"><h2>{t["open"]}</h2><ul class="rows">{body}</ul></section>')


@router.get("/board", response_class=HTMLResponse)
def board(request: Request, config: Config, store: Store, records: Records,
          lang: Lang = "zh") -> HTMLResponse:
    """The public notice board (HTML, no external asset)."""
    t = TEXT[lang]
    now = time.time()
    tz = zone(config.site.timezone)
    day = todays(request, config, records, now)
    # a worn point (one person's exposure) only if the site opts in
    hidden = set() if config.api.board_personal else personal.worn_points(config, records.conn)
    chosen = [p for p in config.points if p.id not in hidden]
    points = [point_out(config, p, store, now) for p in chosen]
    shown_points = {p.id for p in points}
    queries = store.alarms()
    alarms = [alarm_out(r, config, queries.episode(r)) for r in queries.current()
              if r.state in OPEN_ALARM]
    alarms = [a for a in alarms if a.point in shown_points or a.source != "point"]
    latest_units = store.alarms().units()
    units = [unit_out(u.id, latest_units.get(u.id))
             for u in (config.ventilation.units if config.ventilation else [])]
    names = {p.id: p.name for p in points}
    page = Template(files("api").joinpath("templates/board.html").read_text("utf-8"))
    site = config.site.name.zh if lang == "zh" else config.site.name.en
    local_now = dt.datetime.fromtimestamp(now, tz)
    return HTMLResponse(page.substitute(
        html_lang="zh-CN" if lang == "zh" else "en", title=f"{esc(site)} · {t['title']}",
        updated_label=t["updated"], updated=local_now.strftime("%Y-%m-%d %H:%M:%S"),
        updated_iso=local_now.isoformat(timespec="seconds"),
        switch_href="/board?lang=en" if lang == "zh" else "/board?lang=zh",
        switch_label=t["switch"],
        alarm_section=alarm_section(alarms, lang, tz),
        points_section=point_cards(points, curves_of(config, records, points, now, lang),
                                   lang, tz),
        ventilation_section=ventilation_section(
            config, units, lang,
            frozenset(s.device for s in store.device_states() if s.online is False), tz),
        verdict_section=verdict_section(day, shown_points, lang),
        open_section=open_section(
            live.open_exceedances(records.conn, records.path, config, now), shown_points,
            names, lang),
        footer_lines="",  # one <p> per line (e.g. the ledger head), under the sections
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
