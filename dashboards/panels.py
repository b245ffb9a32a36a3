"""Grafana JSON building blocks: plain dicts, one small function per panel kind.

Every board is data (``dict``), so a test can load it with the Grafana schema models and
run each InfluxQL query against a real server. All panels query the one provisioned data
source, ``occmon-influx`` (InfluxQL: InfluxDB 2 through a DBRP mapping, or InfluxDB 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

DATASOURCE_UID = "occmon-influx"
DATASOURCE: dict[str, str] = {"type": "influxdb", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Line:
    """A horizontal threshold: a limit or an alarm set-point, drawn as a line."""

    value: float
    label: str
    color: str


def bilingual(zh: str, en: str) -> str:
    return f"{zh} {en}" if zh != en else en


def target(query: str, ref: str = "A", alias: str = "", table: bool = False) -> Json:
    """A raw InfluxQL query (``$timeFilter`` and ``$__interval`` are Grafana macros)."""
    out: Json = {
        "refId": ref,
        "datasource": DATASOURCE,
        "query": query,
        "rawQuery": True,
        "resultFormat": "table" if table else "time_series",
    }
    if alias:
        out["alias"] = alias
    return out


def thresholds(lines: Sequence[Line], base: str = "green") -> Json:
    steps: list[Json] = [{"color": base, "value": None}]
    steps += [{"color": ln.color, "value": ln.value} for ln in sorted(lines, key=lambda x: x.value)]
    return {"mode": "absolute", "steps": steps}


def _field_defaults(unit: str, lines: Sequence[Line], custom: Json | None = None) -> Json:
    defaults: Json = {"unit": unit, "thresholds": thresholds(lines)}
    if custom is not None:
        defaults["custom"] = custom
    return {"defaults": defaults, "overrides": []}


def _panel(kind: str, title: str, targets: Sequence[Json], description: str = "") -> Json:
    panel: Json = {"type": kind, "title": title, "datasource": DATASOURCE, "targets": list(targets)}
    if description:
        panel["description"] = description
    return panel


def timeseries(
    title: str, targets: Sequence[Json], unit: str, lines: Sequence[Line] = (),
    description: str = "",
) -> Json:
    """A time series; ``lines`` are drawn as dashed threshold lines (limits, set-points)."""
    panel = _panel("timeseries", title, targets, description)
    style = "dashed" if lines else "off"
    custom: Json = {"thresholdsStyle": {"mode": style}, "spanNulls": False, "lineWidth": 1}
    panel["fieldConfig"] = _field_defaults(unit, lines, custom)
    panel["options"] = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True,
                   "calcs": []},
        "tooltip": {"mode": "multi", "sort": "none"},
    }
    return panel


def stat(
    title: str, targets: Sequence[Json], unit: str, lines: Sequence[Line] = (),
    description: str = "", time_from: str | None = None,
) -> Json:
    """A big value coloured by ``lines``; ``time_from`` ('5m') keeps stale values out."""
    panel = _panel("stat", title, targets, description)
    panel["fieldConfig"] = _field_defaults(unit, lines)
    panel["options"] = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background", "graphMode": "area", "justifyMode": "auto",
        "textMode": "value_and_name", "orientation": "auto",
    }
    if time_from:
        panel["timeFrom"] = time_from
    return panel


def bargauge(
    title: str, targets: Sequence[Json], unit: str, lines: Sequence[Line] = (),
    description: str = "",
) -> Json:
    panel = _panel("bargauge", title, targets, description)
    top = max((ln.value for ln in lines), default=None)
    panel["fieldConfig"] = _field_defaults(unit, lines)
    if top is not None:
        panel["fieldConfig"]["defaults"]["max"] = top * 1.1
        panel["fieldConfig"]["defaults"]["min"] = 0
    panel["options"] = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
    }
    return panel


def state_timeline(
    title: str, targets: Sequence[Json], states: Iterable[tuple[int, str, str]],
    description: str = "",
) -> Json:
    """Discrete states over time; ``states`` rows are (code, text, colour)."""
    panel = _panel("state-timeline", title, targets, description)
    mapping = {str(code): {"text": text, "color": color, "index": i}
               for i, (code, text, color) in enumerate(states)}
    panel["fieldConfig"] = {
        "defaults": {
            "mappings": [{"type": "value", "options": mapping}],
            "thresholds": thresholds([]),
            "custom": {"fillOpacity": 80, "lineWidth": 0},
            "color": {"mode": "thresholds"},
        },
        "overrides": [],
    }
    panel["options"] = {
        "showValue": "auto", "mergeValues": True, "rowHeight": 0.9, "alignValue": "left",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True,
                   "calcs": []},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return panel


def table(title: str, targets: Sequence[Json], description: str = "") -> Json:
    panel = _panel("table", title, targets, description)
    panel["fieldConfig"] = {"defaults": {}, "overrides": []}
    panel["options"] = {"showHeader": True, "cellHeight": "sm"}
    return panel


def row(title: str, collapsed: bool = False) -> Json:
    return {"type": "row", "title": title, "collapsed": collapsed, "panels": []}


def annotation(name: str, query: str, color: str, tags: str = "point,level") -> Json:
    """An InfluxQL annotation: each row of ``query`` marks its time with ``message``."""
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "target": {
            "refId": "Anno", "query": query, "rawQuery": True, "resultFormat": "table",
            "fromAnnotations": True, "queryType": "tags", "textColumn": "message",
            "tagsColumn": tags, "titleColumn": "", "timeEndColumn": "",
        },
    }


def layout(panels: Sequence[Json]) -> list[Json]:
    """Place panels left to right in Grafana's 24-column grid; rows start a new line.

    Each panel may carry ``"w"`` and ``"h"`` hints (removed here); ids are assigned 1..n.
    """
    x = y = line_h = 0
    placed: list[Json] = []
    for pid, source in enumerate(panels, start=1):
        panel = dict(source)
        w = int(panel.pop("w", 24 if panel["type"] == "row" else 8))
        h = int(panel.pop("h", 1 if panel["type"] == "row" else 8))
        if panel["type"] == "row" or x + w > 24:
            x, y, line_h = 0, y + line_h, 0
        panel["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        panel["id"] = pid
        x += w
        line_h = max(line_h, h)
        if panel["type"] == "row":
            x, y, line_h = 0, y + h, 0
        placed.append(panel)
    return placed


def sized(panel: Json, w: int, h: int = 8) -> Json:
    return {**panel, "w": w, "h": h}


def dashboard(
    uid: str, title: str, panels: Sequence[Json], annotations: Sequence[Json],
    tags: Sequence[str], timezone: str, time_from: str = "now-6h", description: str = "",
) -> Json:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": list(tags),
        "timezone": timezone,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": list(annotations)},
        "panels": layout(panels),
        "links": [],
    }
