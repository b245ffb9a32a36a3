"""Check a dashboard against Grafana's schema via grafana-foundation-sdk's generated models.

The SDK's models are generated from Grafana's own schema (kinds). ``from_json`` decodes a
dashboard into them and ``to_json`` encodes it back; a key the schema does not know is
dropped and a value of the wrong shape fails or changes. So: every key and value of our
JSON must survive the round trip. The only parts exempt are those the schema leaves to the
data source plugin (query targets and annotation targets), which the test of InfluxQL
queries checks against a real InfluxDB instead.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

register_default_plugins()

PLUGIN_DEFINED = {("targets",), ("annotations", "list", "target")}


def round_trip(board: dict[str, Any]) -> dict[str, Any]:
    model = Dashboard.from_json(json.loads(json.dumps(board)))
    encoded: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return encoded


def lost(ours: Any, theirs: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Paths where ``ours`` is not contained in ``theirs`` (``[]`` when it all survived)."""
    keys = tuple(p for p in path if not p.isdigit())
    if any(keys[-len(s):] == s for s in PLUGIN_DEFINED):
        return []
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return ["/".join(path) + f": object became {type(theirs).__name__}"]
        out: list[str] = []
        for key, value in ours.items():
            if key not in theirs:
                out.append("/".join((*path, key)) + ": unknown to the schema")
            else:
                out += lost(value, theirs[key], (*path, key))
        return out
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return ["/".join(path) + ": list changed"]
        return [p for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
                for p in lost(a, b, (*path, str(i)))]
    if ours != theirs:
        return ["/".join(path) + f": {ours!r} became {theirs!r}"]
    return []
