"""The retained ``state/{point}`` documents: the gateway's alarm truth, for ingest to reconcile on.

Every configured point gets one at start (``startup: true``): a restarted engine has
forgotten the alarms of its previous run, and ingest closes whatever its record still lists
as open that the fresh snapshot no longer has (reason ``gateway-restarted``), so the API
never lists an alarm the gateway would answer "unknown" to. An external alarm's source
(a ventilation unit) has no point snapshot; it gets a document listing the engine's alarms
of that source (none at start), so its alarms reconcile the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.alarms.engine import AlarmEngine
from gateway.queue import Entry
from gateway.safety import wire


def state_entries(site: str, engine: AlarmEngine, points: Iterable[str], time: float, *,
                  startup: bool = False) -> list[Entry]:
    """One retained entry per point or external source in ``points``, as the engine has it.

    Only the points asked for are looked at: a burst of alarm events (every device of a
    site going offline at once) costs the documents of its points, not a snapshot of the
    whole site per batch."""
    entries = []
    for point in sorted(set(points)):
        snapshot = engine.point_snapshot(point)
        if snapshot is not None:
            doc = snapshot.to_dict()
        else:
            doc = {"point": point, "unit": "", "value": None, "time": None, "level": None,
                   "faulted": False, "fault_reason": None, "calibration_overdue": False,
                   "alarms": [a.to_dict() for a in engine.alarms_of(point)],
                   "source": "external"}
        if startup:
            doc["startup"] = True
        entries.append(wire.state_entry(site, point, doc, time))
    return entries
