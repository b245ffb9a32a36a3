"""Component heartbeats: the retained document on ``occmon/v1/{site}/status/{component}``.

Gateway, ingest and API each publish one every ``health.interval`` s (QoS 1, retained) and
leave an MQTT will that says offline, so a reader sees at once whether a component is
alive (the age of ``time``), whether it is well (``ok``, ``problems``) and the figures it
is judged by. The document stays a status payload ingest already understands
(``online``, ``state``; ``since`` is when it came online), so the gateway's old
online/offline message and a heartbeat share the topic.

A ``Problem`` is a stable code plus a message for people; the same codes name the reasons
of a 503 from ``/healthz`` and the system alarms (docs/alarms.md).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occmon.model import iso_utc, time_value

Figure = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a component is not well: ``disk-low``, ``store-write-failing`` ..."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Beat:
    """A heartbeat as read back: ``time`` and ``since`` are epoch seconds."""

    component: str
    online: bool
    time: float | None
    since: float | None = None
    problems: tuple[Problem, ...] = ()
    figures: Mapping[str, Figure] = field(default_factory=dict)
    reason: str | None = None  # offline: "stopped" (a clean stop) or "connection lost" (will)
    received: float | None = None  # on the watcher's clock

    def age(self, now: float) -> float | None:
        """Seconds since the beat, never younger than its arrival here: a clock ahead (or a
        beat timed in the future) cannot keep a dead component fresh."""
        if self.time is None:
            return None
        when = self.time if self.received is None else min(self.time, self.received)
        return now - when

    @property
    def ok(self) -> bool:
        return self.online and not self.problems


def payload(site: str, component: str, *, now: float, since: float,
            problems: Sequence[Problem], figures: Mapping[str, Figure]) -> bytes:
    doc = {
        "v": 1, "site": site, "component": component, "online": True, "state": "online",
        "time": iso_utc(now), "since": iso_utc(since), "ok": not problems,
        "problems": [p.to_dict() for p in problems], "figures": dict(figures),
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def offline_payload(site: str, component: str, stopped_at: float | None = None) -> bytes:
    """The will ("connection lost"), or with ``stopped_at`` what a clean stop publishes
    before it disconnects ("stopped", timed: see ``lost``)."""
    doc: dict[str, Any] = {"v": 1, "site": site, "component": component, "online": False,
                           "state": "offline", "reason": "connection lost"}
    if stopped_at is not None:
        doc.update(reason="stopped", time=iso_utc(stopped_at))
    return json.dumps(doc, separators=(",", ":")).encode()


def parse(component: str, raw: bytes) -> Beat | None:
    """A heartbeat, a bare online/offline status (no ``time``: not a beat), or None if junk."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    online = doc.get("online")
    if not isinstance(online, bool):
        return None
    try:
        when = time_value(doc["time"]) if "time" in doc else None
        since = time_value(doc["since"]) if "since" in doc else None
    except (ValueError, TypeError):
        return None
    problems = tuple(
        Problem(str(p.get("code", "")), str(p.get("message", "")))
        for p in doc.get("problems") or [] if isinstance(p, dict))
    figures = doc.get("figures")
    reason = doc.get("reason")
    return Beat(component, online, when, since, problems,
                as_figures(figures) if isinstance(figures, dict) else {},
                reason if isinstance(reason, str) else None)


def merge(previous: Beat | None, new: Beat, received: float | None = None) -> Beat:
    """The beat to keep: a bare status without ``time`` (the gateway publisher's online, or
    its offline right after a clean stop) does not replace a timed beat or a clean stop.
    ``received``: when ``new`` arrived, on the watcher's clock (see ``Beat.age``)."""
    if received is not None:
        new = dataclasses.replace(new, received=received)
    if new.time is not None or previous is None:
        return new if new.time is not None or not new.online else (previous or new)
    if new.online or (not previous.online and previous.reason == "stopped"):
        return previous
    return new


def free_mb(path: Path) -> float | None:
    """MB free on the filesystem holding ``path`` (its nearest existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free / 1e6
    except OSError:
        return None


def disk_problem(what: str, path: Path, min_free_mb: float) -> tuple[float | None, list[Problem]]:
    """(free MB, [disk-low]) for the filesystem of ``what`` (queue, store)."""
    free = free_mb(path)
    if free is not None and free < min_free_mb:
        return free, [Problem("disk-low", f"{free:.1f} MB free on the {what}'s filesystem "
                                          f"({path.parent}), under {min_free_mb:g} MB")]
    return free, []


def beat_problems(component: str, beat: Beat | None, now: float,
                  stale_after: float) -> list[Problem]:
    """What a watcher concludes from another component's last heartbeat."""
    if beat is not None and not beat.online:
        return [Problem(f"{component}-offline", f"{component} is offline (its will or stop)")]
    if beat is None or beat.time is None:
        return [Problem(f"{component}-unknown", f"no heartbeat from {component} yet")]
    age = beat.age(now) or 0.0
    if age > stale_after:
        return [Problem(f"{component}-stale",
                        f"last heartbeat from {component} {age:.0f} s ago (> {stale_after:g} s)")]
    return []


def lost(component: str, beat: Beat | None, now: float, stale_after: float) -> Problem | None:
    """The peer is lost and people must be told (a system alarm): offline, stale or unknown,
    except a clean stop younger than ``stale_after``, so stopping the whole system (each
    part within seconds of the next) pushes nothing while a part left stopped does."""
    problems = beat_problems(component, beat, now, stale_after)
    if not problems:
        return None
    if (beat is not None and not beat.online and beat.reason == "stopped"
            and beat.time is not None and (beat.age(now) or 0.0) <= stale_after):
        return None
    return problems[0]


def as_figures(values: Mapping[str, Any]) -> dict[str, Figure]:
    """Round floats so a heartbeat stays small; drop what JSON cannot carry."""
    out: dict[str, Figure] = {}
    for key, value in values.items():
        if isinstance(value, float):
            out[key] = round(value, 3) if value == value and abs(value) != float("inf") else None
        elif value is None or isinstance(value, bool | int | str):
            out[key] = value
    return out
