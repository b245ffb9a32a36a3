"""Store records to response models: the serialising half of the thin shells."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import thresholds
from api import limits
from api.freshness import (
    SILENT,
    feeding_devices,
    is_stale,
    quantities_of,
    silent,
    stale_after,
)
from api.models import (
    DayVerdict,
    DeadLetterOut,
    DeviceStatusOut,
    LatestReading,
    Names,
    PointOut,
    ReadingOut,
)
from ingest.records import GATEWAY, DeviceState
from ingest.store import StoredDeadLetter, StoredReading, StoreReader
from occmon.config.schema import Point, SiteConfig
from occmon.model import Reading, iso_utc
from occmon.quantities import QUANTITIES


def catalogue_id(agent: str) -> str:
    """The catalogue id of a stored agent: an older ingest stored a reading's agent as the
    site file spelled it (a CAS, a name); the API answers one id per agent everywhere."""
    try:
        return thresholds.lookup(agent).id
    except thresholds.UnknownAgent:
        return agent


def device_out(config: SiteConfig, device: str, state: DeviceState | None) -> DeviceStatusOut:
    protocol = "gateway" if device == GATEWAY else config.device(device).protocol
    return DeviceStatusOut(
        id=device,
        protocol=protocol,
        online=state.online if state else None,
        since=iso_utc(state.since) if state else None,
        reason=state.reason if state else None,
    )


def latest_out(
    config: SiteConfig, point: str, quantity: str, stored: StoredReading | None, now: float,
    *, store: StoreReader | None = None,
) -> LatestReading:
    """The latest reading of one quantity, judged stale against ``now``: older than its
    window, or the gateway's mark of silence. ``age_s`` is the age of the last value the
    sensor gave (a mark of silence is not one); with ``store`` it is looked up, and learning
    MQTT devices are judged on their learnt rate (``api.freshness``)."""
    devices = feeding_devices(config, point, quantity)
    if stored is None:
        return LatestReading(
            quantity=quantity,
            unit=QUANTITIES[quantity].unit if quantity in QUANTITIES else "",
            value=None,
            quality="bad",
            reason="no-data",
            time=None,
            age_s=None,
            stale=True,
            stale_after_s=stale_after(config, point, quantity),
            devices=devices,
        )
    r = stored.reading
    heard: Reading | None = r
    if silent(r):
        last = store.latest_heard(point, quantity, SILENT) if store is not None else None
        heard = last.reading if last is not None else None
    window = stale_after(config, point, quantity, store, heard.time if heard else None)
    return LatestReading(
        quantity=quantity,
        unit=r.unit,
        value=r.value,
        quality=r.quality.value,
        reason=r.reason,
        time=iso_utc(r.time),
        age_s=round(now - heard.time, 3) if heard is not None else None,
        stale=silent(r) or is_stale(r.time, now, window),
        stale_after_s=round(window, 3),
        devices=devices,
    )


ACTIVE = ("active-unacknowledged", "active-acknowledged")


@dataclass(frozen=True, slots=True)
class GatewayView:
    """What the gateway's alarms say of a point now, from the (reconciled) alarm record."""

    level: str | None  # pre_alarm / alarm / high_alarm while the process alarm is active
    faulted: bool


def gateway_view(store: StoreReader, point: str) -> GatewayView:
    """Two indexed look-ups: the latest event of ``{point}:process`` and ``{point}:fault``."""
    alarms = store.alarms()
    process, fault = alarms.latest(f"{point}:process"), alarms.latest(f"{point}:fault")
    level = process.level if process is not None and process.state in ACTIVE else None
    return GatewayView(level, fault is not None and fault.state in ACTIVE)


def judged(config: SiteConfig, point: Point, latest: LatestReading,
           view: GatewayView, offline: set[str] | None = None) -> LatestReading:
    """``latest`` with its limits, set-points and levels as the floor should read them.

    ``offline``: devices reported offline; when every device feeding the quantity is, the
    value is offline even before it has aged past its expiry window."""
    if offline and latest.devices and all(d in offline for d in latest.devices):
        latest = latest.model_copy(update={"stale": True})
    agent = thresholds.lookup(point.agent)
    sp = limits.setpoints_of(config, point, latest.quantity)
    judged_here = limits.judged_quantity(config, point.id) == latest.quantity
    engine_level = view.level if sp is not None and judged_here else None
    return latest.model_copy(update={
        "limits": limits.limits_of(agent, latest.quantity, point.fraction), "setpoints": sp,
        "alarm_level": engine_level,
        "level": limits.display_level(latest, sp, engine_level, view.faulted and judged_here)})


def point_out(config: SiteConfig, point: Point, store: StoreReader, now: float,
              today: DayVerdict | None = None) -> PointOut:
    """A point as the floor should read it: each latest value against its limits."""
    states = {s.device: s for s in store.device_states()}
    view = gateway_view(store, point.id)
    area = next(a for a in config.areas if a.id == point.area)
    return PointOut(
        id=point.id,
        name=Names(zh=point.name.zh, en=point.name.en),
        area=point.area,
        area_name=Names(zh=area.name.zh, en=area.name.en),
        agent=thresholds.lookup(point.agent).id,
        job=point.job,
        fraction=point.fraction,
        devices=[device_out(config, d, states.get(d)) for d in feeding_devices(config, point.id)],
        quantities=[
            judged(config, point,
                   latest_out(config, point.id, q, store.latest(point.id, q), now, store=store),
                   view, {d for d, st in states.items() if not st.online})
            for q in quantities_of(config, point.id)
        ],
        personal=limits.is_personal(config, point.id),
        faulted=view.faulted,
        today=today,
    )


def reading_out(stored: StoredReading) -> ReadingOut:
    r = stored.reading
    return ReadingOut(
        point=r.point,
        quantity=r.quantity,
        time=iso_utc(r.time),
        value=r.value,
        unit=r.unit,
        quality=r.quality.value,
        reason=r.reason,
        agent=catalogue_id(r.agent),
        sensor=r.sensor,
        device=r.device,
        raw_value=r.raw_value,
        raw_unit=r.raw_unit,
        received=iso_utc(stored.received),
    )


def dead_letter_out(letter: StoredDeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        received=iso_utc(letter.received),
        site=letter.site,
        source=letter.source,
        topic=letter.topic,
        code=letter.code,
        message=letter.message,
        payload=letter.payload.decode("utf-8", errors="replace"),
        payload_b64=base64.b64encode(letter.payload).decode(),
    )
