"""The MQTT topic scheme, version 1. See docs/topics.md for payloads.

Every topic starts with ``occmon/v1/{site}``, so a broker can host many sites and a v2 can
run beside v1 during a migration.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "occmon/v1"


def readings(site: str, point: str | None = None) -> str:
    """Canonical readings (QoS 1, not retained). Payload: a reading batch.

    Without ``point``: the site topic, whose batches mix points; the gateway publishes there,
    so one message carries a whole poll round however many points it has. With ``point``: a
    per-point topic, for publishers that send one point's readings (ingest checks the point).
    """
    return f"{ROOT}/{site}/readings" if point is None else f"{ROOT}/{site}/readings/{point}"


def series(site: str, series_id: str) -> str:
    """A payload-v2 series (QoS 1, retained): the fields its readings share, by id (hex)."""
    return f"{ROOT}/{site}/series/{series_id}"


def events(site: str, kind: str) -> str:
    """Alarm, fault and interlock events (QoS 1, not retained)."""
    return f"{ROOT}/{site}/events/{kind}"


def point_state(site: str, point: str) -> str:
    """Current alarm state of a point (QoS 1, retained)."""
    return f"{ROOT}/{site}/state/{point}"


def device_status(site: str, device: str) -> str:
    """online / offline of a field device as the gateway sees it (QoS 1, retained)."""
    return f"{ROOT}/{site}/status/device/{device}"


def gateway_status(site: str) -> str:
    """online / offline of the gateway itself; the offline payload is its MQTT will."""
    return component_status(site, "gateway")


COMPONENTS = ("gateway", "ingest", "api")


def component_status(site: str, component: str) -> str:
    """A component's retained heartbeat (``occmon.heartbeat``); its MQTT will says offline."""
    if component not in COMPONENTS:
        raise ValueError(f"component {component!r} is not one of {COMPONENTS}")
    return f"{ROOT}/{site}/status/{component}"


def annunciator(site: str) -> str:
    """Alarm pushes for the site annunciator in the control room (QoS 1)."""
    return f"{ROOT}/{site}/annunciator"


def commands(site: str, name: str) -> str:
    """Operator commands to the gateway (``request``) and its answers (``result``), QoS 1."""
    return f"{ROOT}/{site}/commands/{name}"


SUBSCRIBE_ALL = f"{ROOT}/+/#"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed occmon topic: which site, which kind, and the rest of the path."""

    site: str
    kind: str  # readings | series | events | state | status | annunciator | commands
    rest: tuple[str, ...]


class UnknownTopic(ValueError):
    """A topic under the occmon root that does not follow the v1 scheme."""


_ARITY: dict[str, tuple[int, ...]] = {
    "readings": (0, 1),
    "series": (1,),
    "events": (1,),
    "state": (1,),
    "annunciator": (0,),
    "commands": (1,),
}


def parse(topic: str) -> Topic:
    """Split a v1 topic; raise UnknownTopic with the reason when it does not fit the scheme."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != ROOT:
        raise UnknownTopic(f"topic {topic!r} is not under {ROOT}/<site>/<kind>")
    site, kind, rest = parts[2], parts[3], tuple(parts[4:])
    if kind == "status":
        ok = (len(rest) == 1 and rest[0] in COMPONENTS) or (len(rest) == 2 and rest[0] == "device")
    else:
        ok = kind in _ARITY and len(rest) in _ARITY[kind]
    if not ok or not site or any(not p for p in rest):
        raise UnknownTopic(f"topic {topic!r}: unknown kind or shape {kind!r}")
    return Topic(site=site, kind=kind, rest=rest)
