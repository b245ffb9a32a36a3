"""Point detail: live value with set-point lines, 15-min rolling average, running TWA."""

from __future__ import annotations

from dashboards import queries as q
from dashboards.boards.common import board
from dashboards.panels import Json, row, sized, stat, target, timeseries
from dashboards.site import SiteView


def build(view: SiteView) -> Json:
    site = view.site
    panels: list[Json] = []
    for pv in view.points:
        panels.append(row(f"{pv.title} ({pv.point.id})"))
        for m in pv.measures:
            pid = pv.point.id
            airborne = m.quantity == "concentration"
            lines = (*pv.setpoint_lines, *pv.live_limit_lines) if airborne else ()
            targets = [target(q.mean_value(site, pid, m.quantity), "A", "实时 live")]
            if airborne:
                targets.append(target(q.rolling_15min(site, pid, m.quantity), "B",
                                      "15 分钟滑动平均 15-min average"))
            panels.append(sized(timeseries(
                f"{pv.title} · {m.quantity}", targets, m.unit, lines,
                "Live value; dashed lines: GBZ/T 223 alarm set-points and MAC."), 12 if airborne
                else 24 // len(pv.measures), 8))
            if airborne:
                panels.append(sized(timeseries(
                    "累计 C_TWA running TWA", [target(q.running_twa(site, pid), alias="C_TWA")],
                    m.unit, (*pv.twa_lines, *pv.stel_lines),
                    "sum(C_i x T_i) / 8 h since the start of the range: set the range to "
                    "the shift. Line: PC-TWA (GBZ 2.1-2019)."), 8, 8))
                panels.append(sized(stat(
                    "C_TWA", [target(q.running_twa(site, pid), alias="C_TWA")], m.unit,
                    pv.twa_lines, "Running TWA at the end of the range."), 4, 8))
    return board(view, "point", "监测点详情", "Point detail", panels,
                 "Per point: live value, alarm set-points, 15-min average and running TWA.",
                 time_from="now-8h")
