"""Radiation dose per worker: Hp(10) over the range against GB 18871 limits.

With the registry (``occmon dashboards build CONFIG --store``) the first panel is the dose
per worker: each worker's rises of every dosimeter they wore, within each wearing, summed
(``queries.worker_dose``), labelled by employee number (no name leaves the store). Then, per
dosimeter point, its own dose over the range and its dose rate. Both sum the counter's rises,
so a dosimeter reset to zero within the range adds nothing and loses nothing before it."""

from __future__ import annotations

from dashboards import queries as q
from dashboards.boards.common import board
from dashboards.panels import Json, bargauge, row, sized, target, timeseries
from dashboards.site import SiteView, dose_lines_usv


def _ref(k: int) -> str:
    """Grafana refIds: A..Z, then AA, AB, ..."""
    letters = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def build(view: SiteView) -> Json:
    site = view.site
    lines = dose_lines_usv()
    panels: list[Json] = []
    workers = view.workers()
    if workers:
        panels.append(row("按人员 per worker"))
        panels.append(sized(bargauge(
            "个人剂量 Hp(10) per worker",
            [target(q.worker_dose(site, [(w.point, w.start, w.end) for w in worn]),
                    ref=_ref(k), alias=employee)
             for k, (employee, worn) in enumerate(workers.items())],
            "suffix:µSv", lines,
            "Each worker's Hp(10) over the time range, from every dosimeter they wore "
            "(assignments from the worker registry at the last dashboard build), summed "
            "across dosimeter resets; lines: GBZ 128 investigation level, 20 mSv/a, 50 mSv "
            "single year."), 24, max(6, 2 + len(workers))))
    for pv in view.of_kind("radiation"):
        pid = pv.point.id
        panels.append(row(f"{pv.title} ({pid})"))
        if pv.measure("hp10"):
            panels.append(sized(bargauge(
                "Hp(10) 累计剂量 dose in range (this dosimeter)",
                [target(q.dose_in_range(site, pid), alias=pid)],
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
