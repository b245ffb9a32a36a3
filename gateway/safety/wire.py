"""Alarm and interlock events as queue entries: one JSON body per event, never dropped.

Every event gets an ``id`` that sorts in the order the gateway produced it, across restarts
(``{boot ms}-{n}``): ingest stores each id once (delivery is at-least-once) and lists
history in id order. Point states are retained messages (queue kind ``status``): a newer
one supersedes the older, so only the latest matters.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.queue import Entry
from occmon import topics

ALARM = "alarm"  # events/alarm: ISA-18.2 transitions of gas, fault and external alarms
VENTILATION = "ventilation"  # events/ventilation: the interlock's log (actions and faults)


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(slots=True)
class EventIds:
    """``{boot ms:013d}-{n:09d}``: unique per gateway and lexicographically in order."""

    boot_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    n: int = 0

    def next(self) -> str:
        self.n += 1
        return f"{self.boot_ms:013d}-{self.n:09d}"


def event_entry(site: str, kind: str, body: dict[str, Any], event_id: str) -> Entry:
    """An ``events/{kind}`` entry; ``body`` is an event's ``to_dict()``."""
    doc = {"v": 1, "site": site, "id": event_id, **body}
    return Entry(topics.events(site, kind), _dumps(doc), "event")


def state_entry(site: str, point: str, snapshot: dict[str, Any], time_: float) -> Entry:
    """The retained ``state/{point}`` entry (queue kind ``status``: published retained)."""
    doc = {"v": 1, "site": site, **snapshot, "time": snapshot.get("time") or time_}
    return Entry(topics.point_state(site, point), _dumps(doc), "status")
