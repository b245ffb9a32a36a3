"""Sensor health and data completeness: quality, device status, dead letters, counters."""

from __future__ import annotations

from dashboards import queries as q
from dashboards.boards.common import board
from dashboards.panels import Json, Line, row, sized, state_timeline, table, target, timeseries
from dashboards.site import LIMIT, SiteView

QUALITY_STATES = ((0, "good", "green"), (1, "uncertain", "#EAB839"), (2, "bad", "red"))
ONLINE_STATES = ((1, "在线 online", "green"), (0, "离线 offline", "red"))


def build(view: SiteView) -> Json:
    site = view.site
    panels: list[Json] = [
        row("质量与设备 Quality and devices"),
        sized(state_timeline("读数质量 Reading quality", [
            target(q.quality_by_point(site), alias="$tag_point")], QUALITY_STATES,
            "Worst quality per interval; a gap is no data (a silent sensor)."), 12, 9),
        sized(state_timeline("设备状态 Device status", [
            target(q.device_online(site), alias="$tag_device")], ONLINE_STATES), 12, 9),
        row("数据完整性 Data completeness"),
    ]
    for pv in view.points:
        for m in pv.measures:
            if m.poll_interval is None:
                continue
            panels.append(sized(timeseries(
                f"{pv.title} · {m.quantity}", [target(
                    q.completeness(site, pv.point.id, m.quantity, m.poll_interval),
                    alias="%")], "percent", (Line(100.0, "100 %", LIMIT),),
                f"Readings received per minute / expected (poll every {m.poll_interval:g} s)."),
                6, 6))
    panels += [
        sized(timeseries("每分钟读数 Readings per minute", [
            target(q.readings_per_minute(site), alias="$tag_point $tag_quantity")], "short"),
            24, 8),
        row("错误 Errors"),
        sized(table("非良好读数 Readings not good", [
            target(q.not_good_counts(site), table=True)]), 8),
        sized(table("死信 Dead letters", [target(q.dead_letters(site), table=True)]), 8),
        sized(table("接入计数 Ingest counters", [target(q.counters(site), table=True)]), 8),
    ]
    return board(view, "health", "传感器健康", "Sensor health", panels,
                 "Sensor health and data completeness.", time_from="now-24h")
