"""Radiation dose per worker: Hp(10) over the range against GB 18871 limits."""

from __future__ import annotations

from dashboards import queries as q
from dashboards.boards.common import board
from dashboards.panels import Json, bargauge, row, sized, target, timeseries
from dashboards.site import SiteView, dose_lines_usv


def build(view: SiteView) -> Json:
    site = view.site
    lines = dose_lines_usv()
    panels: list[Json] = []
    for pv in view.of_kind("radiation"):
        pid = pv.point.id
        panels.append(row(f"{pv.title} ({pid})"))
        if pv.measure("hp10"):
            panels.append(sized(bargauge(
                "Hp(10) 累计剂量 dose in range", [target(q.dose_in_range(site, pid), alias=pid)],
                "suffix:µSv", lines,
                "Dose accumulated over the time range (set it to the year or the monitoring "
                "period); lines: GBZ 128 investigation level, 20 mSv/a, 50 mSv single year."),
                12, 6))
        if pv.measure("dose_rate"):
            panels.append(sized(timeseries(
                "剂量率 dose rate", [target(q.max_value(site, pid, "dose_rate"), alias=pid)],
                "suffix:µSv/h"), 12, 6))
    return board(view, "radiation", "个人剂量", "Radiation dose", panels,
                 "Personal dose of each radiation worker against GB 18871-2002 limits.",
                 time_from="now-30d")
