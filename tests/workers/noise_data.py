"""Worker A wears noise dosimeter noisedos-1 (assigned through the API) Monday 25 to
Saturday 30 May 2026, its readings stored as the ingest stores them and attributed at read
time; worker B (same 工种, no dosimeter) gets the job-based figures of the closed day's job
record. Every expected figure is worked by hand here."""

from __future__ import annotations

import datetime as dt
import math

from occmon.model import Quality, Reading
from tests.workers.site import TZ

MON = dt.date(2026, 5, 25)
THU = dt.date(2026, 5, 28)  # the day whose shift is worked by hand in detail
WEEK = [MON + dt.timedelta(days=i) for i in range(6)]  # Monday to Saturday: a 6-day week
# the day shift's level (dB(A)) each day, constant 08:00-16:00; Thursday is 94 then 80
LEVEL = {WEEK[0]: 88.0, WEEK[1]: 85.0, WEEK[2]: 82.0, WEEK[4]: 88.0, WEEK[5]: 79.0}
# Thursday by hand: 4 h at 94 dB(A) and 4 h at 80 dB(A), worn the whole 8-h day shift
THU_LEX = 10 * math.log10((4 * 10**9.4 + 4 * 10**8.0) / 8)  # = 91.159
THU_DOSE = 100 * 10 ** ((THU_LEX - 85) / 10)  # = 413 %
# LEX,W of the 6 days worked (GBZ 2.2-2007 cl. 11: the week is not 5 days)
DAY_LEX = [*[LEVEL[d] for d in WEEK[:3]], THU_LEX, *[LEVEL[d] for d in WEEK[4:]]]
LEX_W = 10 * math.log10(sum(10 ** (x / 10) for x in DAY_LEX) / 5)  # = 88.0
# Thursday's impulses: one LCpeak a minute 08:00-16:00; the first 150 above 120 dB(C)
# (125, one of them 133), the rest 110. 150 impulses: 100 < n <= 1000 -> limit 130 dB(C)
# (Table 10); 133 > 130: one impulse over the limit, a fail.
IMPULSES, PEAK = 150, 133.0
# Job 巡检工: 4 h at mill-noise-1 (91 dB(A) all day shift) and 4 h at mill-dust-total
# (5 mg/m3): LEX,8h = 10 lg(4 x 10^9.1 / 8) = 91 + 10 lg(0.5) = 87.99 (GBZ/T 189.8 time-
# activity); C_TWA = 5 x 4 / 8 = 2.5 mg/m3 against PC-TWA 4 (total cement dust)
JOB_LEX = 91 + 10 * math.log10(4 / 8)
JOB_TWA = 5.0 * 4 / 8


def at(day: dt.date, hour: int, minute: int = 0) -> float:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ).timestamp()


def _r(point: str, quantity: str, t: float, value: float, unit: str, agent: str,
       sensor: str, device: str) -> Reading:
    return Reading(point=point, agent=agent, time=t, value=value, unit=unit,
                   quality=Quality.GOOD, quantity=quantity, sensor=sensor, device=device)


def dosimeter_readings() -> list[Reading]:
    out = []
    for day in WEEK:
        for i in range(480):  # one a minute 08:00..15:59, each held 60 s: 8 h
            t = at(day, 8) + 60.0 * i
            level = LEVEL.get(day, 94.0 if i < 240 else 80.0)
            out.append(_r("mill-worker-noise", "laeq", t, level, "dB(A)", "noise", "nd1-laeq",
                          "noisedos-1"))
            if day == THU:
                peak = (PEAK if i == 10 else 125.0) if i < IMPULSES else 110.0
                out.append(_r("mill-worker-noise", "lcpeak", t, peak, "dB(C)", "noise",
                              "nd1-peak", "noisedos-1"))
    return out


def point_readings() -> list[Reading]:
    out = []
    for i in range(480):
        t = at(THU, 8) + 60.0 * i
        out.append(_r("mill-noise-1", "laeq", t, 91.0, "dB(A)", "noise", "s1-laeq", "slm-1"))
        out.append(_r("mill-dust-total", "concentration", t, 5.0, "mg/m3", "cement-dust",
                      "d1-total", "dust-1"))
    return out


