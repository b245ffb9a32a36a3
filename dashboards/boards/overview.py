"""Plant overview: every point's live value against its limits; alarm and fan states."""

from __future__ import annotations

from dashboards import queries as q
from dashboards.boards.common import board
from dashboards.panels import Json, row, sized, stat, state_timeline, target
from dashboards.site import SiteView

ALARM_STATES = ((0, "正常 normal", "green"), (1, "预报 pre-alarm", "#EAB839"),
                (2, "警报 alarm", "orange"), (3, "高报 high alarm", "red"),
                (4, "故障 fault", "purple"))
FAN_STATES = ((0, "停 off", "text"), (1, "启动中 starting", "#EAB839"),
              (2, "运行 running", "green"), (4, "故障 failed", "red"))

LIVE_WINDOW = "5m"  # a value older than this is not live: the stat shows "No data"


def build(view: SiteView) -> Json:
    site = view.site
    panels: list[Json] = [
        row("告警与通风 Alarms and ventilation"),
        sized(state_timeline("告警状态 Alarm state", [
            target(q.states(site, q.ALARM_KIND, "point"), alias="$tag_point")], ALARM_STATES,
            "GBZ/T 223-2009 levels from the alarm events of each point."), 12, 8),
        sized(state_timeline("事故通风 Accident ventilation", [
            target(q.states(site, q.VENTILATION_KIND, "unit"), alias="$tag_unit")],
            FAN_STATES, "Fans of each accident-ventilation unit, from the interlock's events: "
            "started, confirmed by running feedback, failed, stopped (GBZ 1-2010 6.1.5)."),
            12, 8),
    ]
    for area in view.config.areas:
        points = [p for p in view.points if p.point.area == area.id]
        if not points:
            continue
        panels.append(row(view.area_title(area.id)))
        for pv in points:
            for m in pv.measures:
                lines = pv.setpoint_lines if m.quantity == "concentration" else ()
                title = pv.title if len(pv.measures) == 1 else f"{pv.title} · {m.quantity}"
                panels.append(sized(stat(
                    title, [target(q.last_value(site, pv.point.id, m.quantity),
                                   alias=pv.point.id)],
                    m.unit, lines,
                    f"Live value (last {LIVE_WINDOW}); colours at the alarm set-points.",
                    time_from=LIVE_WINDOW), 6, 5))
    return board(view, "overview", "工厂总览", "Plant overview", panels,
                 "Every monitoring point against its limits, alarm and ventilation states.")
