"""Exceedances and alarms: the event log behind the annotations on every board."""

from __future__ import annotations

from dashboards import queries as q
from dashboards.boards.common import board
from dashboards.panels import Json, sized, table, target
from dashboards.site import SiteView


def build(view: SiteView) -> Json:
    site = view.site
    panels: list[Json] = [
        sized(table("事件统计 Events by kind and point", [
            target(q.event_counts(site), table=True)]), 8, 10),
        sized(table("事件记录 Event log (alarms, exceedances, interlock, ventilation)", [
            target(q.event_log(site), table=True)]), 16, 10),
    ]
    return board(view, "events", "超标与告警", "Exceedances and alarms", panels,
                 "Alarm, exceedance and interlock events; also annotations on every board.",
                 time_from="now-7d")
