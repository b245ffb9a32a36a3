"""Pieces every board shares: uid, title, tags and the alarm/exceedance annotations."""

from __future__ import annotations

from collections.abc import Sequence

from dashboards import queries as q
from dashboards.panels import Json, annotation, dashboard
from dashboards.site import SiteView

ANNOTATED = (("alarm", "告警 Alarms", "red"), ("exceedance", "超标 Exceedances", "purple"),
             ("interlock", "联锁 Interlock actions", "blue"))


def board_annotations(view: SiteView) -> list[Json]:
    return [annotation(name, q.annotation_events(view.site, kind), color)
            for kind, name, color in ANNOTATED]


def board(
    view: SiteView, slug: str, zh: str, en: str, panels: Sequence[Json],
    description: str = "", time_from: str = "now-6h",
) -> Json:
    site = view.config.site
    uid = f"occmon-{slug}-{site.id}"[:40]
    title = f"{zh} {en} · {site.name.zh} {site.name.en}"
    return dashboard(uid, title, panels, board_annotations(view), ["occmon", site.id, slug],
                     site.timezone, time_from=time_from, description=description)
