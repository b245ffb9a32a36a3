"""Alarm events from the real engine, a settable clock, and a config builder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from gateway.alarms.engine import AlarmEngine
from gateway.alarms.events import ExternalAlarm, Sample
from gateway.alarms.spec import PointSpec
from ingest.notify import DeliveryRecord, NotifyConfig, PointInfo
from occmon.model import Quality
from tests.alarms.support import SP

POINTS = {
    "desulf-h2s-1": PointInfo("脱硫泵房硫化氢", "Desulf pump house H2S", "desulf", "脱硫工段",
                              "Desulfurisation unit", "h2s"),
    "desulf-h2s-2": PointInfo("脱硫塔顶硫化氢", "Desulf tower top H2S", "desulf", "脱硫工段",
                              "Desulfurisation unit", "h2s"),
    "ammonia-nh3-1": PointInfo("储罐区氨", "Tank farm NH3", "ammonia", "液氨储罐区",
                               "Ammonia tank farm", "ammonia"),
    # a ventilation unit is the 'point' of its failure alarms (ingest.pushes.point_infos)
    "desulf-exhaust": PointInfo("脱硫事故排风", "Desulf accident exhaust", "desulf", "脱硫工段",
                                "Desulfurisation unit"),
}


def raised(point: str, value: float = 25.0, time: float = 1000.0) -> dict[str, Any]:
    """A real 'raised' event body from the alarm engine (high alarm: no on-delay)."""
    engine = AlarmEngine([PointSpec(point, "mg/m3", 1.0, SP())])
    engine.handle(Sample(point, time - 1, 1.0))
    events = engine.handle(Sample(point, time, value))
    assert [e.name for e in events] == ["raised"]
    return events[0].to_dict()


def fault_raised(point: str, time: float = 1000.0) -> dict[str, Any]:
    """A real 'fault-raised' body: the detector reports a loop under range."""
    engine = AlarmEngine([PointSpec(point, "mg/m3", 1.0, SP())])
    engine.handle(Sample(point, time - 1, 1.0))
    events = engine.handle(Sample(point, time, None, Quality.BAD, "loop-under-range"))
    assert [e.name for e in events] == ["fault-raised"]
    return events[0].to_dict()


def ventilation_failure(fan: str = "primary", unit: str = "desulf-exhaust",
                        time: float = 1000.0) -> dict[str, Any]:
    """A real 'raised' body of the interlock's failure alarm, as the gateway's engine makes it."""
    engine = AlarmEngine([])
    then = "starting standby fan fan-2" if fan == "primary" else "no further fan"
    events = engine.handle(ExternalAlarm(f"{unit}:{fan}:ventilation-failure", unit, True, time,
                                         f"no running feedback within 10 s; {then}"))
    assert [e.name for e in events] == ["raised"]
    return events[0].to_dict()


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Log:
    """Collects delivery records from worker threads."""

    def __init__(self) -> None:
        self.records: list[DeliveryRecord] = []
        self._lock = threading.Lock()

    def __call__(self, record: DeliveryRecord) -> None:
        with self._lock:
            self.records.append(record)

    def of(self, channel: str) -> list[DeliveryRecord]:
        with self._lock:
            return [r for r in self.records if r.channel == channel]

    def wait(self, test: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if test():
                return True
            time.sleep(0.02)
        return test()


def config(channels: list[dict[str, Any]], **extra: Any) -> NotifyConfig:
    ids = [c["id"] for c in channels]
    body: dict[str, Any] = {
        "channels": channels,
        "contacts": [
            {"id": "li", "name": "李工", "email": "li@plant.example", "mobile": "13800000001"},
            {"id": "boss", "name": "王经理", "email": "boss@plant.example"},
        ],
        "groups": [{"id": "shift", "contacts": ["li"], "channels": ids}],
        "escalation": [{"group": "shift", "after": 0}],
        "group_window": 30,
        "retry": {"attempts": 3, "initial": 0.5, "factor": 2, "maximum": 5},
    }
    body.update(extra)
    return NotifyConfig.model_validate(body)
