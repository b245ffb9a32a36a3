"""Where the InfluxDB sink writes, from the environment (compose.yaml sets these).

``OCCMON_INFLUX_URL`` switches the sink on; the token comes from the environment only, so
it never sits in the site file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ingest.influx.sink import InfluxSink
from occmon.config.schema import SiteConfig


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    url: str
    token: str
    org: str
    bucket: str
    outbox_path: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InfluxSettings | None:
        """None when ``OCCMON_INFLUX_URL`` is unset (the embedded SQLite store only)."""
        env = os.environ if environ is None else environ
        url = env.get("OCCMON_INFLUX_URL", "").strip()
        if not url:
            return None
        token = env.get("OCCMON_INFLUX_TOKEN", "")
        if not token:
            raise ValueError("OCCMON_INFLUX_URL is set but OCCMON_INFLUX_TOKEN is empty")
        return cls(
            url=url,
            token=token,
            org=env.get("OCCMON_INFLUX_ORG", "occmon"),
            bucket=env.get("OCCMON_INFLUX_BUCKET", "occmon"),
            outbox_path=Path(env.get("OCCMON_INFLUX_OUTBOX", "var/influx-outbox.db")),
        )

    def sink(self, config: SiteConfig) -> InfluxSink:
        areas = {p.id: p.area for p in config.points}
        return InfluxSink(self.url, self.token, self.org, self.bucket, self.outbox_path,
                          site=config.site.id, areas=areas)
