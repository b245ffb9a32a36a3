"""What people are told: one notice per alarm event, grouped into a bilingual message.

Chinese first (the site's working language), English after, so one message serves a mixed
control room. Times are shown in the site's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

LEVEL_NAMES = {
    "pre_alarm": ("预报", "pre-alarm"),
    "alarm": ("警报", "alarm"),
    "high_alarm": ("高报", "HIGH ALARM"),
    None: ("故障", "fault"),
    # personal dose alerts (ingest/workers/alert_push.py, docs/workers.md "Dose alerts")
    "dose_approaching": ("个人剂量接近限值", "personal dose nearing a limit"),
    "dose_exceeded": ("个人剂量超过限值", "PERSONAL DOSE LIMIT EXCEEDED"),
    "dose_investigate": ("个人剂量超调查水平", "personal dose above investigation level"),
}
EVENT_NAMES = {
    "raised": ("报警", "raised"),
    "escalated": ("升级", "escalated"),
    "fault-raised": ("传感器故障", "sensor fault"),
    "cleared": ("恢复", "cleared"),
    "fault-cleared": ("故障恢复", "fault cleared"),
    "ventilation-failure": ("事故通风故障", "ventilation failure"),
}


@dataclass(frozen=True, slots=True)
class PointInfo:
    """Names of a point and its area, from the site configuration."""

    name_zh: str
    name_en: str
    area: str = ""
    area_zh: str = ""
    area_en: str = ""
    agent: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    alarm_id: str
    event: str
    point: str
    name_zh: str
    name_en: str
    area: str
    area_zh: str
    area_en: str
    agent: str
    level: str | None
    value: float | None
    unit: str
    setpoint: float | None
    time: float
    state: str
    cause: str
    occurrence: int = 0
    kind: str = ""  # process | fault | external (e.g. ventilation failure)

    @classmethod
    def from_event(cls, body: Mapping[str, Any],
                   points: Mapping[str, PointInfo] | None = None) -> Notice:
        """From an alarm event's ``to_dict()`` body (as stored or carried over MQTT)."""
        point = str(body["point"])
        info = (points or {}).get(point) or PointInfo(point, point)
        return cls(
            alarm_id=str(body["alarm_id"]), event=str(body.get("event", "")), point=point,
            name_zh=info.name_zh, name_en=info.name_en, area=info.area,
            area_zh=info.area_zh or info.area, area_en=info.area_en or info.area,
            agent=str(body.get("agent") or info.agent),
            level=body.get("level"), value=body.get("value"), unit=str(body.get("unit", "")),
            setpoint=body.get("setpoint"), time=float(body["time"]),
            state=str(body.get("state", "")), cause=str(body.get("cause", "")),
            occurrence=int(body.get("occurrence", 0)), kind=str(body.get("kind", "")))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _num(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g} {unit}".strip()


@dataclass(frozen=True, slots=True)
class Message:
    """One push: one or more notices of one area, for one contact group."""

    site: str
    notices: tuple[Notice, ...]
    group: str
    step: int = 0  # escalation step (0 = first notification)
    timezone: str = "Asia/Shanghai"
    mobiles: tuple[str, ...] = field(default=())

    @property
    def alarm_ids(self) -> tuple[str, ...]:
        return tuple(n.alarm_id for n in self.notices)

    def _when(self, epoch: float) -> str:
        moment = dt.datetime.fromtimestamp(epoch, tz=ZoneInfo(self.timezone))
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    def _label(self, n: Notice) -> tuple[str, str]:
        lz, le = LEVEL_NAMES.get(n.level, (str(n.level), str(n.level)))
        ez, ee = EVENT_NAMES.get(n.event, (n.event, n.event))
        return f"{lz}{ez}", f"{le} {ee}"

    def title(self) -> tuple[str, str]:
        first = self.notices[0]
        zh, en = self._label(first)
        more = len(self.notices) - 1
        extra_zh, extra_en = (f" 等{len(self.notices)}条", f" (+{more} more)") if more else ("", "")
        prefix_zh, prefix_en = ("[升级] ", "[ESCALATION] ") if self.step else ("", "")
        return (f"{prefix_zh}{zh}: {first.name_zh}{extra_zh}",
                f"{prefix_en}{en.upper()}: {first.name_en}{extra_en}")

    def lines(self) -> list[tuple[str, str]]:
        """One (zh, en) line per notice."""
        out = []
        for n in self.notices:
            zh, en = self._label(n)
            when = self._when(n.time)
            out.append((
                f"{when} {n.area_zh} {n.name_zh}: {zh}, 测量值 {_num(n.value, n.unit)}, "
                f"设定值 {_num(n.setpoint, n.unit)} ({n.cause})",
                f"{when} {n.area_en} {n.name_en}: {en}, value {_num(n.value, n.unit)}, "
                f"set-point {_num(n.setpoint, n.unit)} ({n.cause})"))
        return out

    def text(self) -> str:
        """Plain bilingual text: e-mail body and chat ``text`` messages."""
        tz, te = self.title()
        rows = self.lines()
        zh = "\n".join(z for z, _ in rows)
        en = "\n".join(e for _, e in rows)
        ack = "请尽快确认报警。" if not self.step else "报警未确认，已升级通知。"
        ack_en = ("Please acknowledge." if not self.step
                  else "Unacknowledged: escalated to you.")
        return (f"{tz}\n{zh}\n{ack}\n\n{te}\n{en}\n{ack_en}\n\n"
                f"site {self.site} | alarms {', '.join(self.alarm_ids)}")

    def markdown(self) -> str:
        tz, te = self.title()
        rows = self.lines()
        zh = "\n".join(f"> {z}" for z, _ in rows)
        en = "\n".join(f"> {e}" for _, e in rows)
        return f"### {tz}\n{zh}\n\n### {te}\n{en}\n\n`{self.site}` {', '.join(self.alarm_ids)}"
