"""One module per Grafana board; each has ``build(view) -> dict``."""

from __future__ import annotations

from collections.abc import Callable

from dashboards.boards import events, health, noise, overview, point_detail, radiation
from dashboards.panels import Json
from dashboards.site import SiteView

BOARDS: dict[str, Callable[[SiteView], Json]] = {
    "overview": overview.build,
    "point-detail": point_detail.build,
    "noise": noise.build,
    "radiation": radiation.build,
    "health": health.build,
    "events": events.build,
}
