"""Noise and dosimetry: LAeq, running LEX,8h and dose % (GBZ 2.2-2007 s. 11), LCpeak."""

from __future__ import annotations

from dashboards import queries as q
from dashboards.boards.common import board
from dashboards.panels import Json, Line, row, sized, stat, target, timeseries
from dashboards.site import ALARM, HIGH_ALARM, LIMIT, SiteView, noise_limits


def build(view: SiteView) -> Json:
    site = view.site
    lex_limit, peak_limit = noise_limits()
    lex_line = (Line(lex_limit, "LEX,8h 85 dB(A)", LIMIT),)
    dose_line = (Line(100.0, "100 %", ALARM), Line(200.0, "200 %", HIGH_ALARM))
    panels: list[Json] = []
    for pv in view.of_kind("noise"):
        pid = pv.point.id
        panels.append(row(f"{pv.title} ({pid})"))
        if pv.measure("laeq"):
            panels += [
                sized(timeseries("LAeq", [target(q.laeq(site, pid), alias="LAeq")], "dBA",
                                 lex_line, "Energy mean per interval."), 8),
                sized(timeseries("累计 LEX,8h running", [
                    target(q.running_lex8h(site, pid), alias="LEX,8h")], "dBA", lex_line,
                    "10 lg(sum(10^(0.1 L_i) T_i) / 8 h) since the start of the range "
                    "(set it to the shift)."), 8),
                sized(stat("噪声剂量 dose %", [
                    target(q.running_noise_dose(site, pid), alias="dose")], "percent",
                    dose_line, "100 x 10^(0.1 (LEX,8h - 85)), from the LAeq series."), 4),
            ]
        if pv.measure("noise_dose"):
            panels.append(sized(stat("剂量计读数 dosimeter dose %", [
                target(q.last_value(site, pid, "noise_dose"), alias="dose")], "percent",
                dose_line, "The dosimeter's own dose figure."), 4))
        if pv.measure("lcpeak"):
            panels.append(sized(timeseries("LCpeak", [
                target(q.max_value(site, pid, "lcpeak"), alias="LCpeak")], "dB",
                (Line(peak_limit, "140 dB(C) (n <= 100/day)", LIMIT),),
                "Impulse peak limits by count per day: GBZ 2.2-2007 Table 10."), 4))
    return board(view, "noise", "噪声与剂量", "Noise and dosimetry", panels,
                 "LAeq, running LEX,8h and noise dose per point.", time_from="now-8h")
