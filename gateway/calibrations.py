"""Calibrations the gateway saw: they move the "calibration overdue" warning's due date.

A technician calibrates a detector on site; the detector reports the calibration sequence as
NE 107 check-function states and the gateway turns its end into an instrument event
(``gateway.modbus.device``, ``gateway.instrument``). Waiting for someone to edit the site
file's ``instrument.calibrated`` would leave the board showing "calibration overdue" on a
freshly calibrated instrument, so the gateway acts on what it observed:

* an instrument event that counts as a calibration (``occmon.calibration.counts``: the same
  rule the calibration record and the daily record use; a bump test or a failed calibration
  never counts) dates each of its sensors by the site-local day it ended;
* each point of those sensors gets its due date again (``gateway.alarms.resolve``: the later
  of the site file's date and the observed one, + ``calibration_interval_days``, at local
  midnight) and the engine judges it at once (``AlarmEngine.move_calibration_due``): the
  warning clears with a ``warning-cleared`` event and the next due time is scheduled;
* the latest such calibration of each sensor is written to ``<queue_path>-calibrations.json``
  beside the gateway's queue (atomically: temporary file, fsync, rename), and read back at
  start, so a restarted gateway does not raise the warning again.

An officer's note on the event (``POST /api/v1/instrument-events/{id}/notes``) is not
needed. A stored calibration is used only for a sensor still on the same device; one dated
ahead of the gateway's clock (beyond ``trust.max_future_skew``) or unreadable is ignored and
counted, and the site file's date stands.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.alarms.resolve import calibration_dues
from occmon import calibration
from occmon.config.schema import SiteConfig

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True, slots=True)
class Observed:
    """The latest calibration of one sensor that the gateway saw and that did not fail."""

    device: str
    end: float  # epoch seconds the calibration sequence ended
    event: str  # the instrument event's id (events/instrument)
    result: str | None  # passed, or None when the instrument did not say

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "end": self.end, "event": self.event,
                "result": self.result}


class Unreadable(ValueError):
    """The stored calibrations file is not what this module writes."""


def _observed(sensor: str, raw: object) -> Observed:
    if not isinstance(raw, dict):
        raise Unreadable(f"sensor {sensor!r}: not an object")
    device, end, event, result = (raw.get("device"), raw.get("end"), raw.get("event"),
                                  raw.get("result"))
    if not isinstance(device, str) or not isinstance(event, str):
        raise Unreadable(f"sensor {sensor!r}: device and event must be strings")
    if isinstance(end, bool) or not isinstance(end, int | float) or not math.isfinite(end):
        raise Unreadable(f"sensor {sensor!r}: end must be finite epoch seconds")
    if result is not None and not isinstance(result, str):
        raise Unreadable(f"sensor {sensor!r}: result must be a string or null")
    return Observed(device, float(end), event, result)


class CalibrationStore:
    """sensor id -> its latest observed calibration, in one small JSON file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def beside(cls, queue_path: str | Path) -> CalibrationStore:
        """The store of the gateway whose queue database is ``queue_path``."""
        return cls(Path(f"{queue_path}-calibrations.json"))

    def load(self) -> dict[str, Observed]:
        """What was stored; {} if nothing was. Raises ``Unreadable`` (a damaged file)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise Unreadable(f"{self.path}: {exc}") from exc
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise Unreadable(f"{self.path}: not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("v") != VERSION \
                or not isinstance(doc.get("sensors"), dict):
            raise Unreadable(f"{self.path}: not a calibrations file of version {VERSION}")
        return {str(k): _observed(str(k), v) for k, v in doc["sensors"].items()}

    def save(self, sensors: Mapping[str, Observed]) -> None:
        """Replace the file atomically: a crash leaves the old file or the new, never half."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"v": VERSION, "sensors": {k: v.to_dict() for k, v in sorted(sensors.items())}}
        tmp = self.path.with_name(f"{self.path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        with contextlib.suppress(OSError):  # not every file system syncs a directory
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


class _Safety(Protocol):
    def calibration_due(self, point: str, due: float | None, now: float
                        ) -> list[dict[str, Any]]: ...


class Calibrations:
    """Feeds observed calibrations to the alarm engine's due dates; persists them."""

    def __init__(self, config: SiteConfig, safety: _Safety, store: CalibrationStore, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.safety = safety
        self.store = store
        self.clock = clock
        self.tz = ZoneInfo(config.site.timezone)
        self.counters: Counter[str] = Counter()
        self._device_of = {s.id: s.device for s in config.sensors}
        self._point_of = {s.id: s.point for s in config.sensors}
        self.observed: dict[str, Observed] = {}

    def start(self) -> None:
        """Read the stored calibrations and move the due dates of their points: before the
        engine's first tick, so a warning that no longer holds is never raised."""
        try:
            stored = self.store.load()
        except Unreadable as exc:
            self.counters["calibrations.unreadable"] += 1
            log.error("stored calibrations ignored (the site file's dates stand): %s", exc)
            stored = {}
        limit = self.clock() + self.config.trust.max_future_skew
        for sensor, seen in stored.items():
            if self._device_of.get(sensor) != seen.device:
                self.counters["calibrations.stored-not-configured"] += 1
                continue  # the sensor left the site file or moved to another device
            if seen.end > limit:
                self.counters["calibrations.stored-in-future"] += 1
                log.warning("stored calibration of %s ends ahead of the clock: ignored", sensor)
                continue
            self.observed[sensor] = seen
        self._move({self._point_of[s] for s in self.observed}, self.clock())

    def days(self) -> dict[str, dt.date]:
        """sensor id -> the site-local day of its latest observed calibration."""
        return {s: calibration.local_day(o.end, self.tz) for s, o in self.observed.items()}

    def __call__(self, body: Mapping[str, Any]) -> None:
        """An instrument event the gateway emitted (``gateway.instrument`` observer)."""
        if not calibration.counts(body):
            return
        now = self.clock()
        end = min(calibration.ended(body, now), now)  # never dated ahead of the clock
        device = str(body.get("device", ""))
        sensors = [str(s) for s in body.get("sensors") or []
                   if self._device_of.get(str(s)) == device]
        if not sensors:
            self.counters["calibrations.unknown-sensor"] += 1
            return
        self.counters["calibrations.observed"] += 1
        day = calibration.local_day(end, self.tz)
        known = self.days()
        if all(known.get(s) == day for s in sensors):
            # the day, hence every due date, is already known: a status word flapping in
            # and out of calibration costs no file write and no judgement
            self.counters["calibrations.same-day"] += 1
            return
        result = body.get("result")
        for sensor in sensors:
            before = self.observed.get(sensor)
            if before is None or end >= before.end:
                self.observed[sensor] = Observed(device, end, str(body.get("id", "")),
                                                 result if isinstance(result, str) else None)
        try:
            self.store.save(self.observed)
        except OSError as exc:  # the warning still clears now; only a restart forgets it
            self.counters["calibrations.save-failed"] += 1
            log.error("observed calibration of %s not stored: %s", ", ".join(sensors), exc)
        self._move({self._point_of[s] for s in sensors}, now)

    def _move(self, points: set[str], now: float) -> None:
        for point, due in calibration_dues(self.config, self.days(), sorted(points)).items():
            self.safety.calibration_due(point, due, now)


class _Events(Protocol):
    observers: list[Callable[[dict[str, Any]], None]]


def attach(config: SiteConfig, safety: _Safety, events: _Events) -> Calibrations:
    """Read the stored calibrations into the engine's due dates and watch the instrument
    events for new ones; the store lives beside the gateway's queue database."""
    calibrations = Calibrations(config, safety, CalibrationStore.beside(config.gateway.queue_path))
    calibrations.start()
    events.observers.append(calibrations)
    return calibrations
